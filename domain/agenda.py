"""The agenda: appointments, working hours, absences, public holidays, conflicts, care series, rounds, waiting list.

Times are timezone-aware; the practice's wall clock is Europe/Paris (``PARIS``). Durations are real elapsed time,
so an appointment across a daylight-saving change keeps its length. Pure standard library.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from zoneinfo import ZoneInfo

from domain.errors import InvalidInput
from domain.text import strip_accents

PARIS = ZoneInfo("Europe/Paris")

MIN_DURATION = dt.timedelta(minutes=5)
MAX_DURATION = dt.timedelta(hours=12)
MAX_SERIES_OCCURRENCES = 750
"""Longest care series accepted: a year of care twice a day (730) fits; 10,000 does not."""
MAX_TEXT = 2000
WEEKDAY_NAMES_FR = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
MONTH_NAMES_FR = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)


# -- time helpers ---------------------------------------------------------------------------------------------
def local_datetime(day: dt.date, time: dt.time) -> dt.datetime:
    """The instant (in UTC) of a Europe/Paris wall-clock time on ``day``.

    Instants are kept in UTC so that arithmetic is real elapsed time: Python subtracts and adds datetimes that
    share a tzinfo on the wall clock, which would make an appointment across a DST change an hour off.

    Ambiguous times (the repeated hour when clocks go back in October) are the first occurrence.

    Raises:
        InvalidInput: the wall-clock time does not exist that day (the skipped hour in March).
    """
    naive = dt.datetime.combine(day, time.replace(tzinfo=None, fold=0))
    aware = naive.replace(tzinfo=PARIS)
    round_trip = aware.astimezone(dt.UTC).astimezone(PARIS)
    if round_trip.replace(tzinfo=None) != naive:
        raise InvalidInput(
            {
                "start": f"L'heure {time:%H:%M} n'existe pas le {day:%d/%m/%Y} (passage à l'heure d'été) : "
                "choisissez une heure après 03:00."
            }
        )
    return aware.astimezone(dt.UTC)


def to_local(moment: dt.datetime) -> dt.datetime:
    """``moment`` on the Europe/Paris wall clock."""
    if moment.tzinfo is None:
        raise InvalidInput("Heure sans fuseau horaire.")
    return moment.astimezone(PARIS)


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """Start of ``day`` and start of the next day, aware (a DST day lasts 23 or 25 hours)."""
    start = dt.datetime.combine(day, dt.time(0), tzinfo=PARIS)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=PARIS)
    return start, end


def week_start(day: dt.date) -> dt.date:
    """The Monday of ``day``'s week."""
    return day - dt.timedelta(days=day.weekday())


def format_day_fr(day: dt.date) -> str:
    """« lundi 07/12/2026 »."""
    return f"{WEEKDAY_NAMES_FR[day.weekday()]} {day:%d/%m/%Y}"


def format_slot_fr(start: dt.datetime, end: dt.datetime) -> str:
    """« lundi 07/12/2026 de 08:00 à 08:30 » (end day named when different)."""
    s, e = to_local(start), to_local(end)
    if s.date() == e.date():
        return f"{format_day_fr(s.date())} de {s:%H:%M} à {e:%H:%M}"
    return f"{format_day_fr(s.date())} {s:%H:%M} au {format_day_fr(e.date())} {e:%H:%M}"


def validate_interval(start: dt.datetime, end: dt.datetime) -> None:
    """Check an appointment's times: aware, end after start, between 5 minutes and 12 hours.

    Raises:
        InvalidInput: French message keyed ``start`` or ``end``.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidInput({"start": "Heure sans fuseau horaire."})
    length = end.astimezone(dt.UTC) - start.astimezone(dt.UTC)
    if length <= dt.timedelta(0):
        if length == dt.timedelta(0):
            raise InvalidInput({"end": "Durée nulle : l'heure de fin doit être après l'heure de début."})
        raise InvalidInput({"end": "L'heure de fin est avant l'heure de début."})
    if length < MIN_DURATION:
        raise InvalidInput({"end": "Un rendez-vous dure au moins 5 minutes."})
    if length > MAX_DURATION:
        hours = length.total_seconds() / 3600
        raise InvalidInput(
            {
                "end": f"Un rendez-vous dure au plus 12 heures (demandé : {hours:.0f} h). Pour une absence, "
                "utilisez « Absence »."
            }
        )


def overlaps(a_start: dt.datetime, a_end: dt.datetime, b_start: dt.datetime, b_end: dt.datetime) -> bool:
    """True when the half-open intervals [a_start, a_end) and [b_start, b_end) intersect."""
    return a_start < b_end and b_start < a_end


# -- public holidays -------------------------------------------------------------------------------------------
def easter_sunday(year: int) -> dt.date:
    """Gregorian Easter Sunday (anonymous Gregorian algorithm, Meeus/Jones/Butcher)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    m = (32 + 2 * e + 2 * i - h - k) % 7
    n = (a + 11 * h + 22 * m) // 451
    month, day = divmod(h + m - 7 * n + 114, 31)
    return dt.date(year, month, day + 1)


def french_public_holidays(year: int, *, alsace_moselle: bool = False) -> dict[dt.date, str]:
    """The French public holidays (jours fériés, Code du travail L3133-1) of ``year``, computed.

    Args:
        year: the year.
        alsace_moselle: add Good Friday and 26 December (Bas-Rhin, Haut-Rhin, Moselle).

    Returns:
        Date → French name.
    """
    easter = easter_sunday(year)
    days = {
        dt.date(year, 1, 1): "Jour de l'an",
        easter + dt.timedelta(days=1): "Lundi de Pâques",
        dt.date(year, 5, 1): "Fête du Travail",
        dt.date(year, 5, 8): "Victoire 1945",
        easter + dt.timedelta(days=39): "Ascension",
        easter + dt.timedelta(days=50): "Lundi de Pentecôte",
        dt.date(year, 7, 14): "Fête nationale",
        dt.date(year, 8, 15): "Assomption",
        dt.date(year, 11, 1): "Toussaint",
        dt.date(year, 11, 11): "Armistice 1918",
        dt.date(year, 12, 25): "Noël",
    }
    if 2005 <= year <= 2007:
        # Journée de solidarité (loi du 30 juin 2004): Whit Monday was a working day from 2005 to 2007.
        del days[easter + dt.timedelta(days=50)]
    if alsace_moselle:
        days[easter - dt.timedelta(days=2)] = "Vendredi saint"
        days[dt.date(year, 12, 26)] = "Saint-Étienne"
    return dict(sorted(days.items()))


def holidays_between(first: dt.date, last: dt.date) -> dict[dt.date, str]:
    """Public holidays from ``first`` to ``last`` inclusive."""
    result: dict[dt.date, str] = {}
    for year in range(first.year, last.year + 1):
        result.update({d: n for d, n in french_public_holidays(year).items() if first <= d <= last})
    return result


# -- appointment types, places, statuses -----------------------------------------------------------------------
class AppointmentStatus(StrEnum):
    """Where an appointment stands."""

    PLANNED = "prevu"
    DONE = "fait"
    CANCELLED = "annule"
    NO_SHOW = "absent"

    @property
    def label_fr(self) -> str:
        """French label."""
        return {"prevu": "Prévu", "fait": "Réalisé", "annule": "Annulé", "absent": "Patient absent"}[self.value]

    @property
    def occupies_slot(self) -> bool:
        """A cancelled appointment or a no-show frees its slot."""
        return self in (AppointmentStatus.PLANNED, AppointmentStatus.DONE)


class PlaceKind(StrEnum):
    """Where the care happens."""

    PRACTICE = "cabinet"
    HOME = "domicile"

    @property
    def label_fr(self) -> str:
        """French label."""
        return "Au cabinet" if self is PlaceKind.PRACTICE else "À domicile"


@dataclass(frozen=True, slots=True)
class AppointmentType:
    """A kind of appointment with its colour and default duration (configurable by the practice)."""

    code: str
    label: str
    colour: str
    default_minutes: int
    home_visit: bool = False
    active: bool = True


DEFAULT_APPOINTMENT_TYPES = (
    AppointmentType("CONSULT", "Consultation", "#4a7ebb", 30),
    AppointmentType("SOIN_CAB", "Soin au cabinet", "#3f9e6e", 15),
    AppointmentType("SOIN_DOM", "Soin à domicile", "#d08a2e", 20, home_visit=True),
    AppointmentType("PANSEMENT", "Pansement", "#b9603a", 20, home_visit=True),
    AppointmentType("INJECTION", "Injection / prise de sang", "#a04c8c", 10, home_visit=True),
    AppointmentType("TOILETTE", "Toilette / soins d'hygiène (AIS)", "#8a7a2a", 30, home_visit=True),
    AppointmentType("REEDUC", "Séance de rééducation", "#2f8f9d", 30),
    AppointmentType("BILAN", "Bilan", "#6a5acd", 60),
    AppointmentType("SUIVI_GROSSESSE", "Suivi de grossesse", "#c2577a", 30),
    AppointmentType("PREPA_NAISSANCE", "Préparation à la naissance", "#d46a9a", 45),
    AppointmentType("POST_NATAL", "Visite post-natale à domicile", "#c77f35", 45, home_visit=True),
    AppointmentType("TELESOIN", "Télésoin", "#5b7f95", 20),
    AppointmentType("AUTRE", "Autre (réunion, administratif)", "#7d7d7d", 30),
)


@dataclass(frozen=True, slots=True)
class DmpPreparation:
    """The patient's DMP information and choices recorded ahead of the visit (DSR §3.2.3 a).

    Recorded at booking and handed to the DMP functions when the visit starts; the professional can change
    them during the care. The legitimate reason for an opposition is never recorded.

    Attributes:
        informed: the patient was told that the DMP is fed by default.
        feeding_opposed: the patient opposes feeding their DMP.
        consultation_consent: explicit consent to read the DMP: None when not asked yet.
        note: free text (e.g. "documents to bring").
    """

    informed: bool = False
    feeding_opposed: bool = False
    consultation_consent: bool | None = None
    note: str = ""

    @property
    def is_empty(self) -> bool:
        """Nothing recorded."""
        return self == DmpPreparation()


@dataclass(frozen=True, slots=True)
class Appointment:
    """One appointment (or one occurrence of a care series: each occurrence is its own row).

    ``patient_id`` is None for a slot that is not for a patient (meeting, imported event); ``title`` then says
    what it is. ``patient_name`` is filled by the repository on read (never written). ``address`` and
    ``door_code`` are where a home visit happens (copied from the patient's file at booking, editable).
    """

    id: int | None
    practitioner_id: int
    patient_id: int | None
    start: dt.datetime
    end: dt.datetime
    type_code: str
    place: PlaceKind = PlaceKind.PRACTICE
    status: AppointmentStatus = AppointmentStatus.PLANNED
    status_reason: str = ""
    title: str = ""
    address: str = ""
    door_code: str = ""
    care: str = ""
    note: str = ""
    series_id: int | None = None
    round_position: int | None = None
    dmp: DmpPreparation = field(default_factory=DmpPreparation)
    uid: str = ""
    reminded_at: dt.datetime | None = None
    version: int = 0
    patient_name: str = ""

    @property
    def duration(self) -> dt.timedelta:
        """Real elapsed length."""
        return self.end.astimezone(dt.UTC) - self.start.astimezone(dt.UTC)

    @property
    def occupies_slot(self) -> bool:
        """Counts for conflicts."""
        return self.status.occupies_slot

    @property
    def label(self) -> str:
        """What the agenda shows first: the patient's name, else the title."""
        return self.patient_name or self.title or "(sans titre)"

    def moved(
        self, start: dt.datetime, end: dt.datetime | None = None, practitioner_id: int | None = None
    ) -> Appointment:
        """A copy at another time (same length unless ``end`` is given) or for another practitioner."""
        new_end = end if end is not None else start.astimezone(dt.UTC) + self.duration
        return replace(
            self,
            start=start,
            end=new_end,
            practitioner_id=self.practitioner_id if practitioner_id is None else practitioner_id,
        )


def validate_appointment(appointment: Appointment) -> Appointment:
    """Check an appointment before it is saved; return it with its free texts trimmed.

    Raises:
        InvalidInput: keyed by field, French messages.
    """
    validate_interval(appointment.start, appointment.end)
    errors: dict[str, str] = {}
    if appointment.patient_id is None and not appointment.title.strip():
        errors["patient"] = "Choisissez un patient (ou donnez un titre au créneau)."
    if appointment.place is PlaceKind.HOME and appointment.patient_id is not None and not appointment.address.strip():
        errors["address"] = "Visite à domicile : l'adresse du patient est nécessaire (complétez son dossier)."
    for name, text, limit in (
        ("title", appointment.title, 200),
        ("address", appointment.address, 400),
        ("door_code", appointment.door_code, 100),
        ("care", appointment.care, MAX_TEXT),
        ("note", appointment.note, MAX_TEXT),
        ("status_reason", appointment.status_reason, 500),
        ("dmp", appointment.dmp.note, 500),
    ):
        if len(text) > limit:
            errors[name] = f"Texte trop long ({len(text)} caractères, {limit} au plus)."
        elif any(ord(ch) < 32 and ch not in "\n\t" for ch in text):
            errors[name] = "Caractères de contrôle non admis."
    if appointment.status is AppointmentStatus.CANCELLED and not appointment.status_reason.strip():
        errors["status_reason"] = "Indiquez le motif de l'annulation."
    if errors:
        raise InvalidInput(errors)
    return replace(
        appointment,
        title=appointment.title.strip(),
        address=appointment.address.strip(),
        door_code=appointment.door_code.strip(),
        care=appointment.care.strip(),
        note=appointment.note.strip(),
        status_reason=appointment.status_reason.strip(),
    )


# -- working hours and absences ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class WorkingPeriod:
    """A span of a weekday the practitioner works (0 = Monday)."""

    weekday: int
    start: dt.time
    end: dt.time


@dataclass(frozen=True, slots=True)
class Absence:
    """Leave, training, sick leave: the practitioner takes no appointment."""

    id: int | None
    practitioner_id: int
    start: dt.datetime
    end: dt.datetime
    reason: str = ""


DEFAULT_WORKING_HOURS = tuple(
    WorkingPeriod(day, start, end)
    for day in range(5)
    for start, end in ((dt.time(8, 0), dt.time(12, 30)), (dt.time(13, 30), dt.time(19, 0)))
)
"""Monday to Friday, 08:00-12:30 and 13:30-19:00."""

NURSE_WORKING_HOURS = tuple(
    WorkingPeriod(day, start, end)
    for day in range(7)
    for start, end in ((dt.time(6, 30), dt.time(13, 0)), (dt.time(16, 30), dt.time(20, 30)))
)
"""Home nursing: every day, early morning round and evening round."""


def validate_working_hours(periods: Sequence[WorkingPeriod]) -> tuple[WorkingPeriod, ...]:
    """Check working periods (weekday 0-6, start before end, no overlap within a day); return them sorted."""
    ordered = sorted(periods, key=lambda p: (p.weekday, p.start))
    for period in ordered:
        if not 0 <= period.weekday <= 6:
            raise InvalidInput({"working_hours": "Jour de la semaine invalide."})
        if period.start >= period.end:
            raise InvalidInput(
                {"working_hours": f"{WEEKDAY_NAMES_FR[period.weekday]} : la fin doit être après le début."}
            )
    for before, after in itertools.pairwise(ordered):
        if before.weekday == after.weekday and after.start < before.end:
            raise InvalidInput(
                {"working_hours": f"{WEEKDAY_NAMES_FR[before.weekday]} : deux plages horaires se chevauchent."}
            )
    return tuple(ordered)


def within_working_hours(start: dt.datetime, end: dt.datetime, periods: Sequence[WorkingPeriod]) -> bool:
    """True when [start, end) lies inside one working period of its local day."""
    s, e = to_local(start), to_local(end)
    if s.date() != e.date():
        return False
    return any(p.weekday == s.weekday() and p.start <= s.time() and e.time() <= p.end for p in periods)


# -- conflicts -----------------------------------------------------------------------------------------------
class ConflictKind(StrEnum):
    """Why a slot is not free."""

    OVERLAP = "chevauchement"
    ABSENCE = "absence"
    HOLIDAY = "ferie"
    OUTSIDE_HOURS = "hors_horaires"


@dataclass(frozen=True, slots=True)
class Conflict:
    """A problem with a slot, shown before saving. ``blocking`` ones need an explicit confirmation."""

    kind: ConflictKind
    message_fr: str
    other_id: int | None = None

    @property
    def blocking(self) -> bool:
        """Overlaps and absences must be confirmed; holidays and hours are warnings."""
        return self.kind in (ConflictKind.OVERLAP, ConflictKind.ABSENCE)


class SchedulingConflict(InvalidInput):
    """Saving would double-book or book during an absence; the caller may confirm and force it."""

    def __init__(self, conflicts: Sequence[Conflict]) -> None:
        self.conflicts = tuple(conflicts)
        shown = [c.message_fr for c in self.conflicts if c.blocking][:5]
        more = len([c for c in self.conflicts if c.blocking]) - len(shown)
        text = " ; ".join(shown) + (f" ; et {more} autre(s)" if more > 0 else "")
        super().__init__({"conflicts": f"Conflit d'agenda : {text}."})


def find_conflicts(
    candidate: Appointment,
    existing: Iterable[Appointment],
    *,
    absences: Iterable[Absence] = (),
    working_hours: Sequence[WorkingPeriod] | None = None,
    holidays: dict[dt.date, str] | None = None,
) -> list[Conflict]:
    """Problems with ``candidate``'s slot for its practitioner.

    Args:
        candidate: the appointment as it would be saved (its own id is ignored among ``existing``).
        existing: appointments of the period (any practitioner; others are ignored).
        absences: the practitioners' absences.
        working_hours: the practitioner's working periods; None skips that check.
        holidays: public holidays; None skips that check.
    """
    if not candidate.occupies_slot:
        return []
    conflicts: list[Conflict] = []
    for other in existing:
        if (
            other.practitioner_id == candidate.practitioner_id
            and other.occupies_slot
            and (candidate.id is None or other.id != candidate.id)
            and overlaps(candidate.start, candidate.end, other.start, other.end)
        ):
            conflicts.append(
                Conflict(
                    ConflictKind.OVERLAP,
                    f"chevauche « {other.label} » ({format_slot_fr(other.start, other.end)})",
                    other.id,
                )
            )
    for absence in absences:
        if absence.practitioner_id == candidate.practitioner_id and overlaps(
            candidate.start, candidate.end, absence.start, absence.end
        ):
            reason = f" ({absence.reason})" if absence.reason else ""
            conflicts.append(Conflict(ConflictKind.ABSENCE, f"pendant une absence{reason}", absence.id))
    local_day = to_local(candidate.start).date()
    if holidays is not None and local_day in holidays:
        conflicts.append(Conflict(ConflictKind.HOLIDAY, f"jour férié ({holidays[local_day]})"))
    if working_hours is not None and not within_working_hours(candidate.start, candidate.end, working_hours):
        conflicts.append(Conflict(ConflictKind.OUTSIDE_HOURS, "en dehors des horaires de travail"))
    return conflicts


# -- care series -----------------------------------------------------------------------------------------------
class SeriesPeriod(StrEnum):
    """The rhythm's unit."""

    DAY = "jour"
    WEEK = "semaine"


@dataclass(frozen=True, slots=True)
class SeriesRhythm:
    """« ``per_period`` séances par ``period`` pendant ``span`` ``period``s »."""

    per_period: int
    period: SeriesPeriod
    span: int

    @property
    def total(self) -> int:
        """Number of sessions prescribed."""
        return self.per_period * self.span

    @property
    def label_fr(self) -> str:
        """The rhythm in words."""
        unit = "jour" if self.period is SeriesPeriod.DAY else "semaine"
        word = "fois" if self.period is SeriesPeriod.DAY else ("séance" if self.per_period == 1 else "séances")
        return f"{self.per_period} {word} par {unit} pendant {self.span} {unit}{'s' if self.span > 1 else ''}"


_RHYTHM = re.compile(
    r"(\d{1,6})\s*(?:seances?|fois|passages?|soins?|x)?\s*(?:/|par)\s*(jour|j|semaine|sem)\w*"
    r"[\s,]*(?:pendant|sur|durant)\s*(\d{1,6})\s*(jours?|j|semaines?|sem|mois)\b"
)


def parse_rhythm(text: str) -> SeriesRhythm:
    """Read a prescription's rhythm: « 2 séances par semaine pendant 6 semaines », « soins 2 fois par jour
    pendant 10 jours », « 3/semaine sur 4 semaines ».

    Raises:
        InvalidInput: the text is not understood, or the series would be too long.
    """
    folded = strip_accents(text).lower()
    match = _RHYTHM.search(folded)
    if match is None:
        raise InvalidInput(
            {
                "rhythm": "Rythme non compris. Exemples : « 2 séances par semaine pendant 6 semaines », "
                "« 2 fois par jour pendant 10 jours »."
            }
        )
    per, unit, span, span_unit = match.groups()
    period = SeriesPeriod.DAY if unit.startswith("j") else SeriesPeriod.WEEK
    span_n = int(span)
    if span_unit.startswith("mois"):
        span_n = span_n * 30 if period is SeriesPeriod.DAY else math.ceil(span_n * 30 / 7)
    elif period is SeriesPeriod.WEEK and span_unit.startswith("j"):
        span_n = math.ceil(span_n / 7)
    elif period is SeriesPeriod.DAY and span_unit.startswith("s"):
        span_n *= 7
    return validate_rhythm(SeriesRhythm(int(per), period, span_n))


def validate_rhythm(rhythm: SeriesRhythm) -> SeriesRhythm:
    """Check counts: at least one session, per-day at most 6, per-week at most 7, total capped."""
    if rhythm.per_period < 1 or rhythm.span < 1:
        raise InvalidInput({"rhythm": "Le nombre de séances et la durée doivent être d'au moins 1."})
    limit = 6 if rhythm.period is SeriesPeriod.DAY else 7
    if rhythm.per_period > limit:
        raise InvalidInput({"rhythm": f"Au plus {limit} séances par {rhythm.period.value}."})
    if rhythm.total > MAX_SERIES_OCCURRENCES:
        asked = f"{rhythm.total:,}".replace(",", "\u202f")
        raise InvalidInput(
            {
                "rhythm": f"Série trop longue : {asked} séances demandées, {MAX_SERIES_OCCURRENCES} au plus par "
                "série. Planifiez-la en plusieurs séries (par exemple à chaque renouvellement de la prescription)."
            }
        )
    return rhythm


@dataclass(frozen=True, slots=True)
class SeriesPlan:
    """How to lay a rhythm on the calendar.

    Attributes:
        rhythm: how many sessions per day/week, for how long.
        first_day: the first day a session may take place.
        times: the start time of each session of a day (DAY rhythm: one per session of the day), or the one
            start time of a session (WEEK rhythm).
        weekdays: the days sessions may fall on (0 = Monday); a WEEK rhythm takes the first ``per_period`` of
            them each week.
        minutes: length of each session.
        skip_holidays: move sessions off public holidays (to the next allowed day).
    """

    rhythm: SeriesRhythm
    first_day: dt.date
    times: tuple[dt.time, ...]
    weekdays: frozenset[int]
    minutes: int
    skip_holidays: bool = True


def default_weekdays(per_week: int) -> frozenset[int]:
    """Spread sessions over the week: 1 → Mon, 2 → Mon/Thu, 3 → Mon/Wed/Fri, 4 → Mon/Tue/Thu/Fri…"""
    spreads = {1: (0,), 2: (0, 3), 3: (0, 2, 4), 4: (0, 1, 3, 4), 5: (0, 1, 2, 3, 4), 6: (0, 1, 2, 3, 4, 5)}
    return frozenset(spreads.get(per_week, range(7)))


def generate_series(plan: SeriesPlan) -> list[tuple[dt.datetime, dt.datetime]]:
    """Every occurrence of a series as (start, end) aware instants, in order.

    Raises:
        InvalidInput: inconsistent plan (times, weekdays, duration), or a start time that does not exist on a
            daylight-saving day.
    """
    rhythm = validate_rhythm(plan.rhythm)
    if not plan.weekdays or any(not 0 <= d <= 6 for d in plan.weekdays):
        raise InvalidInput({"weekdays": "Choisissez au moins un jour de la semaine."})
    if not 5 <= plan.minutes <= 12 * 60:
        raise InvalidInput({"minutes": "Durée d'une séance : entre 5 minutes et 12 heures."})
    length = dt.timedelta(minutes=plan.minutes)
    if rhythm.period is SeriesPeriod.DAY:
        if len(plan.times) != rhythm.per_period:
            raise InvalidInput(
                {"times": f"Indiquez {rhythm.per_period} heure(s) de passage par jour ({len(plan.times)} saisie(s))."}
            )
        ordered_times = sorted(plan.times)
        for before, after in itertools.pairwise(ordered_times):
            gap = dt.datetime.combine(plan.first_day, after) - dt.datetime.combine(plan.first_day, before)
            if gap < length:
                raise InvalidInput({"times": "Deux passages du même jour se chevauchent."})
    else:
        if len(plan.times) != 1:
            raise InvalidInput({"times": "Indiquez l'heure des séances."})
        if len(plan.weekdays) < rhythm.per_period:
            raise InvalidInput(
                {"weekdays": f"{rhythm.per_period} séances par semaine : cochez au moins {rhythm.per_period} jours."}
            )
        ordered_times = list(plan.times)
    holidays: dict[dt.date, str] = {}
    if plan.skip_holidays:
        holidays = holidays_between(plan.first_day, plan.first_day + dt.timedelta(days=3 * 366))
    result: list[tuple[dt.datetime, dt.datetime]] = []
    day = plan.first_day
    per_week_used: dict[dt.date, int] = {}
    days_done = 0
    # A safety bound: a plan whose allowed days are all holidays must not loop forever.
    for _ in range(rhythm.total * 7 + 400):
        if len(result) >= rhythm.total:
            break
        allowed = day.weekday() in plan.weekdays and day not in holidays
        if rhythm.period is SeriesPeriod.DAY:
            if allowed:
                for time in ordered_times:
                    if len(result) < rhythm.total:
                        start = local_datetime(day, time)
                        result.append((start, start + length))
                days_done += 1
        else:
            monday = week_start(day)
            used = per_week_used.get(monday, 0)
            if allowed and used < rhythm.per_period:
                start = local_datetime(day, ordered_times[0])
                result.append((start, start + length))
                per_week_used[monday] = used + 1
        day += dt.timedelta(days=1)
    if len(result) < rhythm.total:
        raise InvalidInput({"weekdays": "Impossible de placer toutes les séances avec ces jours."})
    return result


@dataclass(frozen=True, slots=True)
class CareSeries:
    """A prescription's care series: every occurrence is its own appointment linked by ``series_id``."""

    id: int | None
    patient_id: int
    practitioner_id: int
    label: str
    type_code: str
    rhythm: SeriesRhythm
    prescribed_sessions: int
    prescriber: str = ""
    prescription_date: dt.date | None = None
    alert_remaining: int = 2
    place: PlaceKind = PlaceKind.PRACTICE


@dataclass(frozen=True, slots=True)
class SeriesProgress:
    """Sessions done and left against the prescription."""

    prescribed: int
    done: int
    planned: int
    cancelled: int
    no_show: int
    alert_fr: str

    @property
    def left(self) -> int:
        """Sessions of the prescription not yet done."""
        return max(self.prescribed - self.done, 0)

    @property
    def summary_fr(self) -> str:
        """« 5 séances réalisées sur 12, 7 restantes (7 planifiées) »."""
        return (
            f"{self.done} séance{'s' if self.done > 1 else ''} réalisée{'s' if self.done > 1 else ''} sur "
            f"{self.prescribed}, {self.left} restante{'s' if self.left > 1 else ''} ({self.planned} planifiée"
            f"{'s' if self.planned > 1 else ''})"
        )


def series_progress(series: CareSeries, occurrences: Iterable[Appointment]) -> SeriesProgress:
    """Count the sessions of a series and say when the prescription needs renewing.

    The alert fires when ``alert_remaining`` sessions or fewer are left, and when fewer sessions are
    planned than left (cancelled ones not re-planned).
    """
    done = planned = cancelled = no_show = 0
    for occ in occurrences:
        if occ.series_id != series.id:
            continue
        if occ.status is AppointmentStatus.DONE:
            done += 1
        elif occ.status is AppointmentStatus.PLANNED:
            planned += 1
        elif occ.status is AppointmentStatus.CANCELLED:
            cancelled += 1
        else:
            no_show += 1
    return progress_from_counts(series, SeriesCounts(done, planned, cancelled, no_show))


@dataclass(frozen=True, slots=True)
class SeriesCounts:
    """Occurrences of a series by status, as the store counts them (and the last session done or planned)."""

    done: int = 0
    planned: int = 0
    cancelled: int = 0
    no_show: int = 0
    last_session: dt.datetime | None = None


def progress_from_counts(series: CareSeries, counts: SeriesCounts) -> SeriesProgress:
    """``series_progress`` from counts already made by the store (dashboards read every series at once)."""
    done, planned, cancelled, no_show = counts.done, counts.planned, counts.cancelled, counts.no_show
    left = max(series.prescribed_sessions - done, 0)
    alerts = []
    if left == 0:
        alerts.append("Prescription terminée : toutes les séances sont réalisées.")
    elif left <= series.alert_remaining:
        alerts.append(f"Plus que {left} séance{'s' if left > 1 else ''} : pensez au renouvellement de la prescription.")
    if left > 0 and planned < left:
        missing = left - planned
        alerts.append(f"{missing} séance{'s' if missing > 1 else ''} à replanifier (annulée ou manquée).")
    if done + planned > series.prescribed_sessions:
        alerts.append("Plus de séances planifiées que prescrites.")
    return SeriesProgress(series.prescribed_sessions, done, planned, cancelled, no_show, " ".join(alerts))


# -- rounds (tournées) -----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RoundStop:
    """One home visit of a nurse's round, as the round sheet shows it."""

    appointment_id: int
    start: dt.datetime
    minutes: int
    patient_name: str
    address: str
    door_code: str
    care: str
    phone: str = ""
    status: AppointmentStatus = AppointmentStatus.PLANNED


@dataclass(frozen=True, slots=True)
class ParsedAddress:
    """An address cut into what the distance estimate uses."""

    number: int | None
    street: str
    postal_code: str
    city: str


_POSTAL_CITY = re.compile(r"\b(\d{5})\s+([^\d,\n][^,\n]*)")
_NUMBER_STREET = re.compile(r"^\s*(\d{1,4})\s*(?:bis|ter|b|t)?\s*,?\s*(.+)$", re.IGNORECASE)


def parse_address(text: str) -> ParsedAddress:
    """Split « 12 rue du Moulin, 51100 Reims » (lines or commas) into number, street, postal code, city."""
    flat = text.replace("\n", ", ")
    postal = city = ""
    match = _POSTAL_CITY.search(flat)
    if match:
        postal, city = match.group(1), match.group(2).strip()
        flat = flat[: match.start()]
    first = next((part.strip() for part in flat.split(",") if part.strip()), "")
    number: int | None = None
    street = first
    street_match = _NUMBER_STREET.match(first)
    if street_match:
        number, street = int(street_match.group(1)), street_match.group(2)
    key = re.sub(r"[^a-z0-9]+", " ", strip_accents(street).lower()).strip()
    city_key = re.sub(r"[^a-z0-9]+", " ", strip_accents(city).lower()).strip()
    return ParsedAddress(number, key, postal, city_key)


METRES_PER_HOUSE_NUMBER = 12
SAME_COMMUNE_M = 1500
SAME_DEPARTMENT_M = 12_000
ELSEWHERE_M = 60_000
UNKNOWN_M = 3000


def estimated_distance_m(a: ParsedAddress, b: ParsedAddress) -> int:
    """A rough road distance between two addresses, with no map and no network.

    Same street: house numbers are about 12 m apart along it (odd and even sides face each other). Same
    postal code or commune, other street: 1.5 km. Same département: 12 km. Otherwise 60 km. An address that
    cannot be read counts 3 km. Good enough to group the visits of one street and one commune together, which
    is where most of a round's travel is saved; it knows nothing about one-way streets or bridges.
    """
    if not (a.street or a.postal_code) or not (b.street or b.postal_code):
        return UNKNOWN_M
    same_place = (a.postal_code and a.postal_code == b.postal_code) or (a.city and a.city == b.city)
    if same_place and a.street and a.street == b.street:
        if a.number is None or b.number is None:
            return 150
        return max(abs(a.number - b.number) * METRES_PER_HOUSE_NUMBER // 2 * 2, 20)
    if same_place:
        return SAME_COMMUNE_M
    if a.postal_code[:2] and a.postal_code[:2] == b.postal_code[:2]:
        return SAME_DEPARTMENT_M
    return ELSEWHERE_M


def route_length_m(start: str, addresses: Sequence[str], distance: Callable[[str, str], int] | None = None) -> int:
    """Estimated length of visiting ``addresses`` in order from ``start`` (and back to it)."""
    measure = distance or _address_distance
    points = [start, *addresses, start] if start else list(addresses)
    return sum(measure(a, b) for a, b in itertools.pairwise(points))


def _address_distance(a: str, b: str) -> int:
    return estimated_distance_m(parse_address(a), parse_address(b))


def suggest_round_order(start: str, stops: Sequence[RoundStop]) -> list[RoundStop]:
    """An order of the stops that shortens the estimated travel from ``start`` (the practice) and back.

    Nearest neighbour from the practice, then 2-opt improvements until none helps. Ties keep the planned
    time order, so an already good round is left as it is.
    """
    if len(stops) < 3:
        return sorted(stops, key=lambda s: s.start)
    ordered_input = sorted(stops, key=lambda s: s.start)
    parsed = [parse_address(start)] + [parse_address(s.address) for s in ordered_input]
    n = len(parsed)
    dist = [[estimated_distance_m(parsed[i], parsed[j]) if i != j else 0 for j in range(n)] for i in range(n)]
    remaining = list(range(1, n))
    path = [0]
    while remaining:
        last = path[-1]
        best = min(remaining, key=lambda j: (dist[last][j], j))
        path.append(best)
        remaining.remove(best)
    path.append(0)

    def length(p: list[int]) -> int:
        return sum(dist[a][b] for a, b in itertools.pairwise(p))

    improved = True
    while improved:
        improved = False
        for i in range(1, len(path) - 2):
            for k in range(i + 1, len(path) - 1):
                candidate = path[:i] + path[i : k + 1][::-1] + path[k + 1 :]
                if length(candidate) < length(path):
                    path = candidate
                    improved = True
    order = path[1:-1]
    keep_time = list(range(1, n))
    if length([0, *keep_time, 0]) <= length(path):
        order = keep_time
    return [ordered_input[i - 1] for i in order]


TRAVEL_SPEED_KMH = 25
"""Average speed in town between two visits, used to estimate travel minutes."""


def travel_minutes(metres: int) -> int:
    """Estimated minutes to drive ``metres`` in town, rounded up to 5 minutes (0 for the same building)."""
    if metres <= 50:
        return 0
    return max(5, math.ceil(metres / 1000 / TRAVEL_SPEED_KMH * 60 / 5) * 5)


def retime_round(stops: Sequence[RoundStop], first_start: dt.datetime) -> list[dt.datetime]:
    """Start times following the given order: each visit after the previous one plus the estimated travel."""
    starts: list[dt.datetime] = []
    current = first_start.astimezone(dt.UTC)
    previous: RoundStop | None = None
    for stop in stops:
        if previous is not None:
            metres = estimated_distance_m(parse_address(previous.address), parse_address(stop.address))
            current = current + dt.timedelta(minutes=previous.minutes + travel_minutes(metres))
        starts.append(current)
        previous = stop
    return starts


# -- waiting list ----------------------------------------------------------------------------------------------
class PartOfDay(StrEnum):
    """When the patient can come."""

    ANY = "indifferent"
    MORNING = "matin"
    AFTERNOON = "apres-midi"

    @property
    def label_fr(self) -> str:
        """French label."""
        return {"indifferent": "Indifférent", "matin": "Matin", "apres-midi": "Après-midi"}[self.value]


class WaitingStatus(StrEnum):
    """Where a waiting-list entry stands."""

    WAITING = "en_attente"
    BOOKED = "rdv_pris"
    REMOVED = "retire"


@dataclass(frozen=True, slots=True)
class WaitingEntry:
    """A patient waiting for a slot."""

    id: int | None
    patient_id: int
    practitioner_id: int | None
    type_code: str
    minutes: int
    created_at: dt.datetime
    earliest: dt.date | None = None
    latest: dt.date | None = None
    weekdays: frozenset[int] = frozenset()
    part_of_day: PartOfDay = PartOfDay.ANY
    note: str = ""
    status: WaitingStatus = WaitingStatus.WAITING
    patient_name: str = ""


def validate_waiting_entry(entry: WaitingEntry) -> WaitingEntry:
    """Check a waiting-list entry."""
    errors: dict[str, str] = {}
    if not 5 <= entry.minutes <= 12 * 60:
        errors["minutes"] = "Durée souhaitée : entre 5 minutes et 12 heures."
    if entry.earliest and entry.latest and entry.latest < entry.earliest:
        errors["latest"] = "La date « au plus tard » est avant la date « au plus tôt »."
    if any(not 0 <= d <= 6 for d in entry.weekdays):
        errors["weekdays"] = "Jour de la semaine invalide."
    if len(entry.note) > 500:
        errors["note"] = "Note trop longue (500 caractères au plus)."
    if errors:
        raise InvalidInput(errors)
    return replace(entry, note=entry.note.strip())


@dataclass(frozen=True, slots=True)
class FreedSlot:
    """A slot that became free (cancellation, no-show ahead of time, move)."""

    practitioner_id: int
    start: dt.datetime
    end: dt.datetime
    type_code: str = ""


def matching_entries(slot: FreedSlot, entries: Iterable[WaitingEntry], now: dt.datetime) -> list[WaitingEntry]:
    """Waiting patients the freed slot suits, longest waiting first. A slot in the past suits nobody."""
    if slot.end <= now:
        return []
    local = to_local(slot.start)
    length = slot.end.astimezone(dt.UTC) - slot.start.astimezone(dt.UTC)
    found = []
    for entry in entries:
        if entry.status is not WaitingStatus.WAITING:
            continue
        if entry.practitioner_id is not None and entry.practitioner_id != slot.practitioner_id:
            continue
        if dt.timedelta(minutes=entry.minutes) > length:
            continue
        if entry.earliest and local.date() < entry.earliest:
            continue
        if entry.latest and local.date() > entry.latest:
            continue
        if entry.weekdays and local.weekday() not in entry.weekdays:
            continue
        if entry.part_of_day is PartOfDay.MORNING and local.hour >= 12:
            continue
        if entry.part_of_day is PartOfDay.AFTERNOON and local.hour < 12:
            continue
        found.append(entry)
    return sorted(found, key=lambda e: (e.created_at, e.id or 0))


# -- reminders -------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Reminder:
    """A reminder of an upcoming appointment, to show in the application or to send."""

    appointment_id: int
    patient_id: int
    start: dt.datetime
    text_fr: str


def due_reminders(
    appointments: Iterable[Appointment], now: dt.datetime, lead: dt.timedelta = dt.timedelta(days=1)
) -> list[Reminder]:
    """Planned patient appointments starting within ``lead`` from ``now`` and not reminded yet."""
    result = []
    for appt in appointments:
        if (
            appt.patient_id is not None
            and appt.id is not None
            and appt.status is AppointmentStatus.PLANNED
            and appt.reminded_at is None
            and now < appt.start <= now + lead
        ):
            local = to_local(appt.start)
            where = f" à domicile ({appt.address})" if appt.place is PlaceKind.HOME else " au cabinet"
            result.append(
                Reminder(
                    appt.id,
                    appt.patient_id,
                    appt.start,
                    f"Rappel : rendez-vous le {format_day_fr(local.date())} à {local:%H:%M}{where}.",
                )
            )
    return sorted(result, key=lambda r: r.start)
