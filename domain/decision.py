"""Decision support: rules over the record, each alert saying which rule fired on which data."""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from domain.agenda import CareSeries, SeriesCounts, progress_from_counts
from domain.errors import InvalidInput
from domain.forms import add_months
from domain.record import EntryKind, FormFact, RecordEntry
from domain.text import strip_accents


class AlertLevel(StrEnum):
    """How pressing an alert is (shown with a word and a mark, never by colour alone)."""

    INFO = "info"
    WARNING = "warning"
    ALERT = "alert"

    @property
    def label_fr(self) -> str:
        """French word."""
        return {"info": "Information", "warning": "À faire", "alert": "Attention"}[self.value]

    @property
    def rank(self) -> int:
        """Sort order, most pressing first."""
        return {"alert": 0, "warning": 1, "info": 2}[self.value]


@dataclass(frozen=True, slots=True)
class Alert:
    """One decision-support alert.

    ``key`` identifies what the alert is about (rule + subject) so that a dismissal sticks to it; ``data`` are
    the record facts the rule used, as (label, value) pairs shown under "Pourquoi ?".
    """

    key: str
    rule: str
    level: AlertLevel
    title: str
    explanation: str
    data: tuple[tuple[str, str], ...]
    source: str
    link: str = ""


def fr_date(day: dt.date) -> str:
    """JJ/MM/AAAA."""
    return day.strftime("%d/%m/%Y")


def _num(value: float) -> str:
    """French number: ``11,7``."""
    return f"{value:g}".replace(".", ",")


def age_in_months(birth: dt.date, today: dt.date) -> int:
    """Completed months of age."""
    months = (today.year - birth.year) * 12 + today.month - birth.month
    if today.day < birth.day:
        months -= 1
    return months


def age_text(months: int) -> str:
    """``3 mois`` under two years, else ``45 ans``."""
    if months < 24:
        return f"{months} mois"
    return f"{months // 12} ans"


# ------------------------------------------------------------------------------------------------------------
# Vaccination schedule
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VaccineStep:
    """A line of the schedule: who is concerned (age window or pregnancy term) and what satisfies it.

    Satisfied by: ``doses_min`` doses of one of the valences ever; or a dose given from ``since_months`` of age;
    or, for a seasonal vaccine, a dose of this season; otherwise any dose.
    """

    id: str
    label: str
    valences: tuple[str, ...]
    age_min_months: int = 0
    age_max_months: int | None = None
    doses_min: int | None = None
    since_months: int | None = None
    seasonal: bool = False
    level: AlertLevel = AlertLevel.WARNING
    sa_min: int | None = None
    sa_max: int | None = None
    months: tuple[int, ...] = ()
    note: str = ""


@dataclass(frozen=True, slots=True)
class VaccinationSchedule:
    """The French vaccination schedule as data (resources/record/calendrier_vaccinal_<year>.json)."""

    title: str
    year: int
    source: str
    link: str
    public_link: str
    warning: str
    valences: Mapping[str, str]
    products: Mapping[str, tuple[str, ...]]
    steps: tuple[VaccineStep, ...]
    pregnancy_steps: tuple[VaccineStep, ...]
    campaign_start_month: int = 10
    campaign_end_month: int = 2
    season_valid_from_month: int = 9

    def in_campaign(self, today: dt.date) -> bool:
        """Today falls in the seasonal campaign (October to February)."""
        start, end = self.campaign_start_month, self.campaign_end_month
        return today.month >= start or today.month <= end if start > end else start <= today.month <= end

    def season_start(self, today: dt.date) -> dt.date:
        """First day from which a seasonal dose counts for the current season."""
        year = today.year if today.month >= self.season_valid_from_month else today.year - 1
        return dt.date(year, self.season_valid_from_month, 1)


def parse_schedule(data: object) -> VaccinationSchedule:
    """Build the schedule from its JSON data.

    Raises:
        InvalidInput: the file is not a schedule (French message saying what is wrong).
    """
    if not isinstance(data, Mapping):
        raise InvalidInput("Calendrier vaccinal : objet JSON attendu.")
    try:
        valences = {str(k): str(v) for k, v in data["valences"].items()}
        season = data.get("saison", {})

        def step(raw: Mapping[str, object], pregnancy: bool) -> VaccineStep:
            codes = tuple(str(v) for v in raw["valences"])  # type: ignore[attr-defined]
            unknown = [c for c in codes if c not in valences]
            if unknown:
                raise InvalidInput(f"Calendrier vaccinal, « {raw['id']} » : valence inconnue {', '.join(unknown)}.")
            return VaccineStep(
                id=str(raw["id"]),
                label=str(raw["label"]),
                valences=codes,
                age_min_months=int(raw.get("age_min_mois", 0)),  # type: ignore[call-overload]
                age_max_months=_opt_int(raw.get("age_max_mois")),
                doses_min=_opt_int(raw.get("doses_min")),
                since_months=_opt_int(raw.get("dose_depuis_age_mois")),
                seasonal=bool(raw.get("saisonnier", False)),
                level=AlertLevel(str(raw.get("niveau", "warning"))),
                sa_min=_opt_int(raw.get("sa_min")) if pregnancy else None,
                sa_max=_opt_int(raw.get("sa_max")) if pregnancy else None,
                months=tuple(int(m) for m in raw.get("mois", [])),  # type: ignore[attr-defined]
                note=str(raw.get("note", "")),
            )

        return VaccinationSchedule(
            title=str(data["titre"]),
            year=int(data["annee"]),
            source=str(data["source"]),
            link=str(data["lien_schema_vaccinal"]),
            public_link=str(data.get("lien_public", "")),
            warning=str(data.get("avertissement", "")),
            valences=valences,
            products={str(k): tuple(str(c) for c in v) for k, v in data.get("produits", {}).items()},
            steps=tuple(step(raw, False) for raw in data["ages"]),
            pregnancy_steps=tuple(step(raw, True) for raw in data.get("grossesse", [])),
            campaign_start_month=int(season.get("mois_debut_campagne", 10)),
            campaign_end_month=int(season.get("mois_fin_campagne", 2)),
            season_valid_from_month=int(season.get("dose_valable_depuis_mois", 9)),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidInput(f"Calendrier vaccinal illisible : donnée manquante ou invalide ({exc}).") from exc


def _opt_int(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]


class Dose(NamedTuple):
    """A recorded vaccination: the valences it covers and its date (a tuple: the dashboard makes many)."""

    valences: frozenset[str]
    day: dt.date
    label: str = ""


DoseTuple = tuple[frozenset[str], dt.date, str]
"""A ``Dose`` as a plain tuple (valences, day, label): what the bulk rule accepts."""


def doses_from_entries(entries: Iterable[RecordEntry]) -> list[Dose]:
    """The vaccinations of a record (code = comma-separated valences)."""
    return [
        Dose(valences_of(e.code), e.start, e.label)
        for e in entries
        if e.kind is EntryKind.VACCINATION and e.active and e.start is not None
    ]


@functools.lru_cache(maxsize=512)
def valences_of(code: str) -> frozenset[str]:
    """Valences of a vaccination line's code (``dtp,coqueluche``); codes repeat, so answers are cached."""
    return frozenset(c.strip() for c in code.split(",") if c.strip())


def _step_satisfied(
    step: VaccineStep, birth: dt.date, doses: Sequence[Dose], schedule: VaccinationSchedule, today: dt.date
) -> tuple[bool, list[Dose], str]:
    """Whether the step is satisfied, the relevant doses, and what was required (French)."""
    relevant = sorted((d for d in doses if d.valences & set(step.valences)), key=lambda d: d.day)
    if step.seasonal:
        start = schedule.season_start(today)
        return any(d.day >= start for d in relevant), relevant, f"une dose depuis le {fr_date(start)}"
    if step.doses_min is not None:
        return len(relevant) >= step.doses_min, relevant, f"{step.doses_min} dose(s) au moins"
    if step.since_months is not None:
        since = add_months(birth, step.since_months)
        return any(d.day >= since for d in relevant), relevant, f"une dose depuis le {fr_date(since)}"
    return bool(relevant), relevant, "une dose"


def _vaccine_alert(
    step: VaccineStep,
    schedule: VaccinationSchedule,
    relevant: Sequence[Dose],
    required: str,
    who: tuple[str, str],
    key_suffix: str,
) -> Alert:
    names = ", ".join(schedule.valences[v] for v in step.valences)
    recorded = ", ".join(f"{fr_date(d.day)}" + (f" ({d.label})" if d.label else "") for d in relevant) or "aucune"
    return Alert(
        key=f"vaccin:{step.id}{key_suffix}",
        rule="Calendrier vaccinal",
        level=step.level,
        title=f"Vaccination à proposer — {step.label}",
        explanation=(
            f"{who[0]} {who[1]} ; le {schedule.title} recommande : « {step.label} ». "
            f"Attendu : {required} ({names}) ; enregistré : {recorded}."
        ),
        data=(
            (who[0], who[1]),
            ("Ligne du calendrier", step.label),
            ("Valences", names),
            ("Attendu", required),
            ("Doses enregistrées", recorded),
        ),
        source=f"{schedule.title} — {schedule.source}",
        link=schedule.link,
    )


def vaccine_alerts(
    schedule: VaccinationSchedule,
    birth: dt.date,
    doses: Sequence[Dose],
    today: dt.date,
    pregnancy: Pregnancy | None = None,
) -> list[Alert]:
    """Vaccinations due today by age (and by pregnancy term) and not recorded."""
    alerts: list[Alert] = []
    months = age_in_months(birth, today)
    for step in schedule.steps:
        if months < step.age_min_months or (step.age_max_months is not None and months >= step.age_max_months):
            continue
        if step.seasonal and not schedule.in_campaign(today):
            continue
        ok, relevant, required = _step_satisfied(step, birth, doses, schedule, today)
        if not ok:
            suffix = f":{schedule.season_start(today).year}" if step.seasonal else ""
            alerts.append(_vaccine_alert(step, schedule, relevant, required, ("Âge", age_text(months)), suffix))
    if pregnancy is not None and pregnancy.is_ongoing(today):
        weeks, _days = pregnancy.gestational_age(today)
        for step in schedule.pregnancy_steps:
            if (step.sa_min is not None and weeks < step.sa_min) or (step.sa_max is not None and weeks >= step.sa_max):
                continue
            if step.months and today.month not in step.months:
                continue
            if step.seasonal and not schedule.in_campaign(today):
                continue
            given = [d for d in doses if d.valences & set(step.valences) and d.day >= pregnancy.conception]
            if step.seasonal:
                start = schedule.season_start(today)
                given = [d for d in given if d.day >= start]
            if not given:
                relevant = sorted((d for d in doses if d.valences & set(step.valences)), key=lambda d: d.day)
                alerts.append(
                    _vaccine_alert(
                        step,
                        schedule,
                        relevant,
                        f"une dose pendant cette grossesse (depuis le {fr_date(pregnancy.conception)})",
                        ("Terme", pregnancy.term_text(today)),
                        f":{pregnancy.conception.isoformat()}",
                    )
                )
    return alerts


class Person(NamedTuple):
    """A patient as the bulk vaccine rule sees it (any (id, birth date) pair will do)."""

    patient_id: int
    birth: dt.date


def vaccines_due_bulk(
    schedule: VaccinationSchedule,
    people: Iterable[tuple[int, dt.date]],
    doses: Mapping[int, Sequence[DoseTuple]],
    today: dt.date,
) -> dict[int, Sequence[VaccineStep]]:
    """Age-based vaccinations due for a whole practice: (patient id, birth date) pairs, e.g. ``Person`` tuples.

    ``doses`` by patient id: ``Dose`` values, or plain (valences, day, label) tuples, cheaper to make by the
    hundred thousand.

    One pass over the people: the schedule lines whose age window holds an age (in completed months) are worked
    out once per distinct age (a few hundred in a practice) and shared by everyone of that age; doses are
    checked only for the patients who have some. Same answers, in schedule order, as ``vaccine_alerts`` without
    a pregnancy (tests compare them on many random patients). The sequences returned may be shared between
    patients: do not modify them.
    """
    in_campaign = schedule.in_campaign(today)
    season = schedule.season_start(today)
    steps = [s for s in schedule.steps if in_campaign or not s.seasonal]
    valences = {s.id: frozenset(s.valences) for s in steps}
    by_age: dict[int, tuple[VaccineStep, ...]] = {}
    this_month = today.year * 12 + today.month
    day = today.day
    due: dict[int, Sequence[VaccineStep]] = {}
    for pid, birth in people:
        months = this_month - birth.year * 12 - birth.month - (birth.day > day)  # age_in_months, inlined
        window = by_age.get(months)
        if window is None:
            window = by_age[months] = _steps_at_age(steps, months)
        if not window:
            continue
        given = doses.get(pid)
        if given:
            still = [s for s in window if not _satisfied_fast(s, valences[s.id], birth, given, season)]
            if still:
                due[pid] = still
        else:
            due[pid] = window
    return due


def _steps_at_age(steps: Iterable[VaccineStep], months: int) -> tuple[VaccineStep, ...]:
    """The schedule lines whose age window holds ``months`` (the window test of ``vaccine_alerts``)."""
    return tuple(
        s for s in steps if s.age_min_months <= months and (s.age_max_months is None or months < s.age_max_months)
    )


def _satisfied_fast(
    step: VaccineStep, valences: frozenset[str], birth: dt.date, doses: Sequence[DoseTuple], season: dt.date
) -> bool:
    """``_step_satisfied`` without the explanation (the dashboard's hot loop)."""
    relevant = [day for covered, day, _label in doses if not covered.isdisjoint(valences)]
    if not relevant:
        return False
    if step.seasonal:
        return max(relevant) >= season
    if step.doses_min is not None:
        return len(relevant) >= step.doses_min
    if step.since_months is not None:
        return max(relevant) >= add_months(birth, step.since_months)
    return True


# ------------------------------------------------------------------------------------------------------------
# Pregnancy
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pregnancy:
    """A pregnancy followed in the record (from the pregnancy follow-up form)."""

    conception: dt.date
    dated_by: str  # "ddr" or "echo"
    done: frozenset[str] = frozenset()
    visits: tuple[dt.date, ...] = ()
    delivered: dt.date | None = None

    @property
    def term(self) -> dt.date:
        """Date présumée d'accouchement (41 SA)."""
        return add_months(self.conception, 9)

    def gestational_age(self, on: dt.date) -> tuple[int, int]:
        """(SA, days) on a date."""
        days = (on - self.conception).days + 14
        return days // 7, days % 7

    def term_text(self, on: dt.date) -> str:
        """``24 SA + 3 j (terme prévu le 15/03/2027)``."""
        weeks, days = self.gestational_age(on)
        return f"{weeks} SA + {days} j (terme prévu le {fr_date(self.term)})"

    def is_ongoing(self, today: dt.date) -> bool:
        """Not delivered, and not more than 3 weeks past term."""
        return self.delivered is None and today <= self.term + dt.timedelta(days=21) and today >= self.conception

    def sa_date(self, weeks: int) -> dt.date:
        """The day the pregnancy reaches ``weeks`` SA."""
        return self.conception + dt.timedelta(days=weeks * 7 - 14)


def _date_value(value: object) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def current_pregnancy(facts: Sequence[FormFact]) -> Pregnancy | None:
    """The latest pregnancy of the record, from pregnancy follow-up and post-natal answers (oldest first).

    Any form carrying a dating (``datation`` with ``ddr`` or ``ddg``) counts, so copies of the template edited
    by the practice work as well.
    """
    conception: dt.date | None = None
    dated_by = ""
    for fact in facts:
        values = fact.values
        if values.get("datation") == "echo" and _date_value(values.get("ddg")):
            found, how = _date_value(values.get("ddg")), "echo"
        elif values.get("datation") == "ddr" and _date_value(values.get("ddr")):
            lmp = _date_value(values.get("ddr"))
            found, how = (lmp + dt.timedelta(days=14) if lmp else None), "ddr"
        else:
            continue
        if found is not None and (conception is None or abs((found - conception).days) > 60 or how == "echo"):
            conception, dated_by = found, how
    if conception is None:
        return None
    done: set[str] = set()
    visits: list[dt.date] = []
    delivered: dt.date | None = None
    for fact in facts:
        values = fact.values
        birth = _date_value(values.get("accouchement"))
        if birth is not None and birth >= conception:
            delivered = birth
        if fact.at.date() < conception:
            continue
        steps = values.get("etapes")
        if isinstance(steps, list):
            done.update(str(s) for s in steps)
        visit = _date_value(values.get("date_visite"))
        if visit is not None and "datation" in values:
            visits.append(visit)
    return Pregnancy(conception, dated_by, frozenset(done), tuple(sorted(set(visits))), delivered)


@dataclass(frozen=True, slots=True)
class Milestone:
    """A step of pregnancy follow-up with its window in SA."""

    code: str
    label: str
    sa_min: int
    sa_max: int
    level: AlertLevel


@dataclass(frozen=True, slots=True)
class PregnancySchedule:
    """The follow-up steps (resources/record/suivi_grossesse.json)."""

    source: str
    milestones: tuple[Milestone, ...]
    monthly_label: str
    monthly_months: tuple[int, ...]
    monthly_level: AlertLevel


def parse_pregnancy_schedule(data: object) -> PregnancySchedule:
    """Build the pregnancy follow-up schedule from JSON.

    Raises:
        InvalidInput: malformed file.
    """
    try:
        assert isinstance(data, Mapping)
        monthly = data["examens_mensuels"]
        return PregnancySchedule(
            source=str(data["source"]),
            milestones=tuple(
                Milestone(str(m["code"]), str(m["label"]), int(m["sa_min"]), int(m["sa_max"]), AlertLevel(m["niveau"]))
                for m in data["etapes"]
            ),
            monthly_label=str(monthly["label"]),
            monthly_months=tuple(int(m) for m in monthly["mois"]),
            monthly_level=AlertLevel(monthly["niveau"]),
        )
    except (AssertionError, KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"Étapes du suivi de grossesse illisibles ({exc}).") from exc


@dataclass(frozen=True, slots=True)
class ScheduleItem:
    """One line of a pregnancy's visit schedule."""

    code: str
    label: str
    start: dt.date
    end: dt.date
    done: bool
    level: AlertLevel


def pregnancy_plan(schedule: PregnancySchedule, pregnancy: Pregnancy) -> list[ScheduleItem]:
    """The dated visit schedule of a pregnancy: milestones and monthly prenatal examinations."""
    items = [
        ScheduleItem(
            m.code,
            m.label,
            pregnancy.sa_date(m.sa_min),
            pregnancy.sa_date(m.sa_max) - dt.timedelta(days=1),
            m.code in pregnancy.done,
            m.level,
        )
        for m in schedule.milestones
    ]
    for month in schedule.monthly_months:
        start = add_months(pregnancy.conception, month - 1)
        end = add_months(pregnancy.conception, month) - dt.timedelta(days=1)
        done = any(start <= v <= end for v in pregnancy.visits)
        items.append(
            ScheduleItem(
                f"mois_{month}",
                schedule.monthly_label.format(mois=month),
                start,
                end,
                done,
                schedule.monthly_level,
            )
        )
    return sorted(items, key=lambda i: (i.start, i.end))


def pregnancy_alerts(schedule: PregnancySchedule, pregnancy: Pregnancy, today: dt.date) -> list[Alert]:
    """Steps whose window is open (or passed) and that are not recorded as done."""
    if not pregnancy.is_ongoing(today):
        return []
    alerts: list[Alert] = []
    for item in pregnancy_plan(schedule, pregnancy):
        if item.done or today < item.start - dt.timedelta(days=7):
            continue
        late = today > item.end
        if late and today > item.end + dt.timedelta(days=28):
            continue  # long past: the window is closed; no nagging months later
        when = f"entre le {fr_date(item.start)} et le {fr_date(item.end)}"
        alerts.append(
            Alert(
                key=f"grossesse:{item.code}:{pregnancy.conception.isoformat()}",
                rule="Suivi de grossesse",
                level=AlertLevel.ALERT if late and item.level is not AlertLevel.INFO else item.level,
                title=("En retard — " if late else "") + item.label,
                explanation=(
                    f"Grossesse à {pregnancy.term_text(today)}, datée par "
                    f"{'échographie' if pregnancy.dated_by == 'echo' else 'DDR'} ; étape prévue {when} ; "
                    + (
                        "aucune consultation de suivi de grossesse n'est datée dans ce mois."
                        if item.code.startswith("mois_")
                        else "elle n'est pas cochée dans les étapes réalisées des consultations."
                    )
                ),
                data=(
                    ("Terme", pregnancy.term_text(today)),
                    ("Début de grossesse", fr_date(pregnancy.conception)),
                    ("Fenêtre", when),
                    ("Étapes déjà réalisées", ", ".join(sorted(pregnancy.done)) or "aucune"),
                ),
                source=schedule.source,
            )
        )
    return alerts


# ------------------------------------------------------------------------------------------------------------
# Allergy against a treatment or a prescription line
# ------------------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _norm(text: str) -> str:
    """Lower case, no accents, words separated by one space, padded: `` talon gauche `` (names repeat: cached)."""
    return " " + re.sub(r"[^a-z0-9]+", " ", strip_accents(text).lower()).strip() + " "


@dataclass(frozen=True, slots=True)
class AllergyClasses:
    """Substance classes for cross-checking (resources/record/classes_allergies.json)."""

    source: str
    classes: Mapping[str, tuple[str, tuple[str, ...]]]  # id -> (label, members)

    def classes_of(self, text: str) -> set[str]:
        """Classes a substance or product name belongs to (the class name itself counts)."""
        norm = _norm(text)
        found: set[str] = set()
        for cid, (_label, members) in self.classes.items():
            names = (cid, cid.rstrip("s"), *members)
            if any(_norm(name) in norm or _norm(name).rstrip() + "s " in norm for name in names):
                found.add(cid)
        return found


def parse_allergy_classes(data: object) -> AllergyClasses:
    """Build the classes from JSON.

    Raises:
        InvalidInput: malformed file.
    """
    try:
        assert isinstance(data, Mapping)
        return AllergyClasses(
            str(data["source"]),
            {str(k): (str(v["label"]), tuple(str(m) for m in v["membres"])) for k, v in data["classes"].items()},
        )
    except (AssertionError, KeyError, TypeError) as exc:
        raise InvalidInput(f"Classes de substances illisibles ({exc}).") from exc


@dataclass(frozen=True, slots=True)
class ProductLine:
    """Something the patient takes or is prescribed: a treatment line, or a prescription line."""

    label: str
    origin: str  # "traitement en cours", "prescription du 12/03/2026"…


def allergy_alerts(
    classes: AllergyClasses, allergies: Sequence[RecordEntry], products: Sequence[ProductLine]
) -> list[Alert]:
    """A product whose substance or class matches a recorded allergy."""
    alerts: list[Alert] = []
    for allergy in allergies:
        if allergy.kind is not EntryKind.ALLERGY or not allergy.active:
            continue
        allergy_norm = _norm(allergy.label).strip()
        allergy_classes = classes.classes_of(allergy.label) | (
            {allergy.code} if allergy.code in classes.classes else set()
        )
        for product in products:
            product_classes = classes.classes_of(product.label)
            common = allergy_classes & product_classes
            same_substance = len(allergy_norm) >= 4 and f" {allergy_norm} " in _norm(product.label)
            if not common and not same_substance:
                continue
            if common:
                labels = ", ".join(classes.classes[c][0] for c in sorted(common))
                why = f"« {product.label} » appartient à la classe des {labels}, comme « {allergy.label} »."
            else:
                labels = allergy.label
                why = f"« {product.label} » contient « {allergy.label} »."
            noted = f" (notée le {fr_date(allergy.recorded_at.date())})" if allergy.recorded_at else ""
            alerts.append(
                Alert(
                    key=f"allergie:{_norm(allergy.label).strip()}:{_norm(product.label).strip()}",
                    rule="Allergie et produit",
                    level=AlertLevel.ALERT,
                    title=f"Allergie à « {allergy.label} » et {product.origin} « {product.label} »",
                    explanation=f"Allergie connue{noted}. {why}",
                    data=(
                        ("Allergie", allergy.label + (f" — {allergy.detail}" if allergy.detail else "")),
                        ("Produit", f"{product.label} ({product.origin})"),
                        ("Classe commune", labels),
                    ),
                    source=classes.source,
                )
            )
    return alerts


# ------------------------------------------------------------------------------------------------------------
# Nursing scores and wounds
# ------------------------------------------------------------------------------------------------------------

BRADEN_SOURCE = (
    "Échelle de Braden (Bergstrom et Braden, 1987) ; seuils usuels : ≤ 9 très élevé, 10–12 élevé, 13–14 modéré, "
    "15–18 faible ; réévaluation au moins chaque semaine à domicile chez le patient à risque."
)
BRADEN_REVIEW_DAYS = 7


def braden_alerts(facts: Sequence[FormFact], today: dt.date) -> list[Alert]:
    """The latest Braden score: risk of pressure ulcer, and a reminder when it is older than a week."""
    scores = [f for f in facts if "braden" in f.template_key and isinstance(f.values.get("total"), (int, float))]
    if not scores:
        return []
    last = max(scores, key=lambda f: f.at)
    total = float(last.values["total"])  # type: ignore[arg-type]
    if total > 18:
        return []
    if total <= 9:
        band, level = "très élevé", AlertLevel.ALERT
    elif total <= 12:
        band, level = "élevé", AlertLevel.ALERT
    elif total <= 14:
        band, level = "modéré", AlertLevel.WARNING
    else:
        band, level = "faible", AlertLevel.WARNING
    age_days = (today - last.at.date()).days
    data = (("Score de Braden", f"{total:g}"), ("Évalué le", fr_date(last.at.date())), ("Risque", band))
    alerts = [
        Alert(
            key=f"braden:{last.at.date().isoformat()}",
            rule="Score de Braden",
            level=level,
            title=f"Risque d'escarre {band} (Braden {total:g})",
            explanation=(
                f"Dernier score de Braden : {total:g} le {fr_date(last.at.date())} (≤ 18 : patient à risque). "
                "Mettre en place ou poursuivre les mesures de prévention."
            ),
            data=data,
            source=BRADEN_SOURCE,
        )
    ]
    if age_days > BRADEN_REVIEW_DAYS:
        alerts.append(
            Alert(
                key=f"braden-reevaluation:{last.at.date().isoformat()}",
                rule="Score de Braden",
                level=AlertLevel.WARNING,
                title="Réévaluer le score de Braden",
                explanation=f"Patient à risque d'escarre ; dernière évaluation il y a {age_days} jours "
                f"(plus de {BRADEN_REVIEW_DAYS} jours).",
                data=data,
                source=BRADEN_SOURCE,
            )
        )
    return alerts


WOUND_SOURCE = (
    "Une réduction de surface de moins de 40 % en 4 semaines prédit un défaut de cicatrisation (Sheehan et al., "
    "Diabetes Care 2003 ; repris par les recommandations sur les plaies chroniques) : réévaluer la prise en charge."
)
WOUND_MIN_DAYS = 21
WOUND_MIN_REDUCTION = 0.40


@dataclass(frozen=True, slots=True)
class WoundTrend:
    """Measurements of one wound, oldest first."""

    name: str
    points: tuple[tuple[dt.date, float], ...] = field(default=())


def wound_trends(facts: Iterable[FormFact]) -> list[WoundTrend]:
    """Group wound follow-up answers by wound name (case and accents ignored)."""
    by_name: dict[str, tuple[str, list[tuple[dt.date, float]]]] = {}
    for fact in facts:
        name = fact.values.get("plaie")
        area = fact.values.get("surface")
        if not isinstance(name, str) or not isinstance(area, (int, float)):
            continue
        key = _norm(name).strip()
        by_name.setdefault(key, (name, []))[1].append((fact.at.date(), float(area)))
    return [WoundTrend(label, tuple(sorted(points, key=lambda p: p[0]))) for label, points in by_name.values()]


def wound_alerts(facts: Sequence[FormFact]) -> list[Alert]:
    """Wounds whose surface grew since the previous measurement, or fell by less than 40 % over ≥ 3 weeks."""
    alerts: list[Alert] = []
    for trend in wound_trends(facts):
        if len(trend.points) < 2:
            continue
        last_day, last_area = trend.points[-1]
        prev_day, prev_area = trend.points[-2]
        reference = next(
            ((d, a) for d, a in reversed(trend.points[:-1]) if (last_day - d).days >= WOUND_MIN_DAYS), None
        )
        problem = ""
        if last_area > prev_area:
            problem = (
                f"la surface a augmenté : {_num(prev_area)} cm² le {fr_date(prev_day)}, "
                f"{_num(last_area)} cm² le {fr_date(last_day)}"
            )
        elif reference is not None and reference[1] > 0:
            reduction = (reference[1] - last_area) / reference[1]
            if reduction < WOUND_MIN_REDUCTION:
                problem = (
                    f"réduction de {reduction * 100:.0f} % en {(last_day - reference[0]).days} jours "
                    f"({_num(reference[1])} cm² le {fr_date(reference[0])}, "
                    f"{_num(last_area)} cm² le {fr_date(last_day)}), "
                    f"moins de {WOUND_MIN_REDUCTION * 100:.0f} %"
                )
        if not problem:
            continue
        alerts.append(
            Alert(
                key=f"plaie:{_norm(trend.name).strip()}:{last_day.isoformat()}",
                rule="Évolution d'une plaie",
                level=AlertLevel.WARNING,
                title=f"Plaie « {trend.name} » qui ne s'améliore pas",
                explanation=f"Plaie « {trend.name} » : {problem}. Réévaluer la prise en charge (avis médical).",
                data=tuple((fr_date(d), f"{_num(a)} cm²") for d, a in trend.points[-6:]),
                source=WOUND_SOURCE,
            )
        )
    return alerts


# ------------------------------------------------------------------------------------------------------------
# Care series: the end of a prescribed series
# ------------------------------------------------------------------------------------------------------------

SERIES_SOURCE = (
    "Prescription : nombre de séances et rythme prescrits, saisis avec la série de soins dans l'agenda ; les séances "
    "au-delà de la prescription ne sont pas couvertes par elle (NGAP, dispositions générales)."
)
SERIES_FINISHED_DAYS = 30
"""A finished series is reported while its last session is less than this many days old."""


def series_is_current(counts: SeriesCounts, today: dt.date) -> bool:
    """A series with a session planned, or whose last session is less than a month old."""
    if counts.planned:
        return True
    last = counts.last_session.date() if counts.last_session else None
    return last is not None and (today - last).days <= SERIES_FINISHED_DAYS


def _series_alert(
    item: CareSeries,
    data: tuple[tuple[str, str], ...],
    suffix: str,
    level: AlertLevel,
    title: str,
    explanation: str,
) -> Alert:
    return Alert(
        key=f"serie:{item.id}:{suffix}",
        rule="Fin de série de soins",
        level=level,
        title=title,
        explanation=explanation,
        data=data,
        source=SERIES_SOURCE,
    )


def series_alerts(series: Sequence[tuple[CareSeries, SeriesCounts]], today: dt.date) -> list[Alert]:
    """End of a prescribed care series: renewal when few sessions are left, sessions to re-plan, the end reached.

    The thresholds are the series' own (``alert_remaining``, set when the series is planned, 2 by default).
    """
    alerts: list[Alert] = []
    for item, counts in series:
        if not series_is_current(counts, today):
            continue  # finished or abandoned more than a month ago: history, not an alert
        progress = progress_from_counts(item, counts)
        left = progress.left
        last = counts.last_session.date() if counts.last_session else None
        data = (
            ("Série", item.label),
            ("Prescrite le", fr_date(item.prescription_date) if item.prescription_date else "non renseigné"),
            ("Prescripteur", item.prescriber or "non renseigné"),
            ("Séances prescrites", str(item.prescribed_sessions)),
            ("Réalisées", str(counts.done)),
            ("Planifiées", str(counts.planned)),
            ("Annulées / absences", f"{counts.cancelled} / {counts.no_show}"),
            ("Dernière séance", fr_date(last) if last else "aucune"),
        )

        alert = functools.partial(_series_alert, item, data)
        if left == 0:
            if last is not None:
                alerts.append(
                    alert(
                        "terminee",
                        AlertLevel.WARNING,
                        f"Série terminée : {item.label}",
                        f"Les {item.prescribed_sessions} séances prescrites sont réalisées (dernière le "
                        f"{fr_date(last)}). Si les soins doivent continuer, une nouvelle prescription est nécessaire.",
                    )
                )
            continue
        if left <= item.alert_remaining:
            alerts.append(
                alert(
                    f"fin-proche:{left}",
                    AlertLevel.WARNING,
                    f"Fin de série proche : plus que {left} séance{'s' if left > 1 else ''} ({item.label})",
                    f"{progress.summary_fr}. Pensez au renouvellement de la prescription avant la dernière séance.",
                )
            )
        if counts.planned < left:
            missing = left - counts.planned
            plural = "s" if missing > 1 else ""
            alerts.append(
                alert(
                    f"a-planifier:{counts.done}:{counts.planned}",
                    AlertLevel.INFO,
                    f"{missing} séance{plural} à planifier ({item.label})",
                    f"{progress.summary_fr} : {missing} séance{plural} prescrite{plural} ni réalisée{plural} ni "
                    f"planifiée{plural} (annulation ou absence non replanifiée).",
                )
            )
    return alerts


# ------------------------------------------------------------------------------------------------------------
# All rules for one patient
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordSnapshot:
    """What the rules read about one patient."""

    birth_date: dt.date
    sex: str
    entries: tuple[RecordEntry, ...]
    facts: tuple[FormFact, ...]
    prescription_lines: tuple[ProductLine, ...] = ()
    series: tuple[tuple[CareSeries, SeriesCounts], ...] = ()
    """The patient's care series with their sessions counted (issue 5 agenda)."""


VACCINATING_PROFESSIONS = frozenset({"60", "60-IPA", "50"})
"""Professions that prescribe or give vaccines (IDE, IPA, sage-femme): they see the vaccine alerts."""


class DecisionSupport:
    """Runs every rule over a patient's record."""

    def __init__(self, schedule: VaccinationSchedule, pregnancy: PregnancySchedule, classes: AllergyClasses) -> None:
        self.schedule = schedule
        self.pregnancy_schedule = pregnancy
        self.classes = classes

    def evaluate(self, snapshot: RecordSnapshot, today: dt.date, profession: str | None) -> list[Alert]:
        """Every alert for this patient, most pressing first (dismissed ones are filtered by the caller)."""
        alerts: list[Alert] = []
        pregnancy = current_pregnancy(snapshot.facts) if snapshot.sex == "F" else None
        doses = doses_from_entries(snapshot.entries)
        if profession is None or profession in VACCINATING_PROFESSIONS:
            alerts += vaccine_alerts(self.schedule, snapshot.birth_date, doses, today, pregnancy)
        if pregnancy is not None and (profession is None or profession == "50"):
            alerts += pregnancy_alerts(self.pregnancy_schedule, pregnancy, today)
        treatments = [
            ProductLine(e.label, "traitement en cours")
            for e in snapshot.entries
            if e.kind is EntryKind.TREATMENT and e.is_current(today)
        ]
        alerts += allergy_alerts(
            self.classes,
            [e for e in snapshot.entries if e.kind is EntryKind.ALLERGY],
            [*treatments, *snapshot.prescription_lines],
        )
        alerts += braden_alerts(snapshot.facts, today)
        alerts += wound_alerts(snapshot.facts)
        alerts += series_alerts(snapshot.series, today)
        return sorted(alerts, key=lambda a: (a.level.rank, a.title))
