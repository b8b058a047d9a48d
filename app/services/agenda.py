"""Agenda use cases: book, move, cancel, care series, rounds, waiting list, undo, iCalendar, reminders."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from app.session import CurrentUser
from domain.agenda import (
    DEFAULT_APPOINTMENT_TYPES,
    DEFAULT_WORKING_HOURS,
    NURSE_WORKING_HOURS,
    PARIS,
    Absence,
    Appointment,
    AppointmentStatus,
    AppointmentType,
    CareSeries,
    Conflict,
    ConflictKind,
    FreedSlot,
    PlaceKind,
    Reminder,
    RoundStop,
    SchedulingConflict,
    SeriesPlan,
    SeriesProgress,
    WaitingEntry,
    WaitingStatus,
    WorkingPeriod,
    day_bounds,
    due_reminders,
    find_conflicts,
    format_day_fr,
    generate_series,
    holidays_between,
    matching_entries,
    retime_round,
    route_length_m,
    series_progress,
    suggest_round_order,
    to_local,
    validate_appointment,
    validate_interval,
    validate_waiting_entry,
    validate_working_hours,
)
from domain.agenda_ports import (
    CalendarCodec,
    CalendarOwner,
    ReminderGateway,
    RoundSheet,
    RoundSheetRenderer,
)
from domain.audit import AuditAction, AuditEvent
from domain.errors import ConflictError, InvalidInput, NotFound
from domain.patient import Patient
from domain.ports import Clock, UnitOfWork, UnitOfWorkFactory
from domain.practice import Profession, UserAccount
from domain.search import SearchQuery

log = logging.getLogger("lgc.agenda")

MAX_ICS_BYTES = 5 * 1024 * 1024
UNDO_DEPTH = 20
EXPORT_FROM = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
EXPORT_TO = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class PractitionerInfo:
    """A practitioner whose agenda can be shown."""

    id: int
    name: str
    login: str
    profession: Profession
    structure_id: int | None

    @property
    def profession_label(self) -> str:
        """French profession label."""
        return self.profession.label_fr

    @property
    def does_rounds(self) -> bool:
        """Nurses (and midwives for post-natal visits) work on rounds."""
        return self.profession in (Profession.NURSE, Profession.ADVANCED_PRACTICE_NURSE, Profession.MIDWIFE)


@dataclass(frozen=True, slots=True)
class AgendaPeriod:
    """Everything a day, week or month view shows."""

    first_day: dt.date
    last_day: dt.date
    practitioner_ids: tuple[int, ...]
    appointments: tuple[Appointment, ...]
    absences: tuple[Absence, ...]
    holidays: dict[dt.date, str]
    working_hours: dict[int, tuple[WorkingPeriod, ...]]


@dataclass(frozen=True, slots=True)
class WaitingOffer:
    """A freed slot and the waiting patients it suits."""

    slot: FreedSlot
    entries: tuple[WaitingEntry, ...]


@dataclass(frozen=True, slots=True)
class ChangeResult:
    """What a change did: the saved appointments, warnings to show, waiting-list offers."""

    appointments: tuple[Appointment, ...]
    warnings: tuple[Conflict, ...] = ()
    offers: tuple[WaitingOffer, ...] = ()

    @property
    def appointment(self) -> Appointment:
        """The (first) saved appointment."""
        return self.appointments[0]


@dataclass(frozen=True, slots=True)
class SeriesRequest:
    """A care series to plan from a prescription."""

    patient_id: int
    practitioner_id: int
    type_code: str
    label: str
    plan: SeriesPlan
    prescriber: str = ""
    prescription_date: dt.date | None = None
    prescribed_sessions: int | None = None
    alert_remaining: int = 2
    place: PlaceKind = PlaceKind.PRACTICE
    care: str = ""
    door_code: str = ""


@dataclass(frozen=True, slots=True)
class SeriesPreview:
    """The occurrences a series would create, with their conflicts, before saving."""

    occurrences: tuple[tuple[dt.datetime, dt.datetime], ...]
    conflicts: tuple[tuple[int, Conflict], ...]

    @property
    def blocking(self) -> tuple[tuple[int, Conflict], ...]:
        """Conflicts that need a confirmation (index of the occurrence, conflict)."""
        return tuple(c for c in self.conflicts if c[1].blocking)


@dataclass(frozen=True, slots=True)
class SeriesSummary:
    """A series with its occurrences and its count against the prescription."""

    series: CareSeries
    occurrences: tuple[Appointment, ...]
    progress: SeriesProgress


@dataclass(frozen=True, slots=True)
class PatientAgenda:
    """The patient file's Agenda tab."""

    patient_id: int
    past: tuple[Appointment, ...]
    future: tuple[Appointment, ...]
    series: tuple[SeriesSummary, ...]


@dataclass(frozen=True, slots=True)
class RoundView:
    """A nurse's round of the day, in visiting order."""

    practitioner_id: int
    day: dt.date
    start_address: str
    stops: tuple[RoundStop, ...]
    estimated_km: float


@dataclass(frozen=True, slots=True)
class RoundSuggestion:
    """A shorter visiting order, with the estimated distances before and after."""

    stops: tuple[RoundStop, ...]
    km_before: float
    km_after: float


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an iCalendar import did."""

    practitioner_id: int
    created: int
    updated: int
    skipped: tuple[str, ...]
    overlaps: int = 0


@dataclass
class _UndoStep:
    label: str
    restore: list[tuple[Appointment, int]] = field(default_factory=list)
    """(state before, version after the change) of changed appointments."""
    created: list[tuple[int, int]] = field(default_factory=list)
    """(id, version) of created appointments."""
    created_series: list[int] = field(default_factory=list)
    waiting: list[tuple[int, WaitingStatus]] = field(default_factory=list)


class AgendaService:
    """Appointments and everything around them; every method is one transaction."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        current_user: CurrentUser,
        *,
        codec: Callable[[], CalendarCodec],
        round_sheets: Callable[[], RoundSheetRenderer],
        reminders: ReminderGateway | None,
        output_dir: Path,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._current = current_user
        self._codec = codec
        self._round_sheets = round_sheets
        self._reminders = reminders
        self._output_dir = output_dir
        self._undo: list[_UndoStep] = []
        self._lock = threading.Lock()

    # -- reference data -----------------------------------------------------------------------------------------
    def practitioners(self) -> list[PractitionerInfo]:
        """Every practitioner of the practice (users with a profession), by name."""
        with self._uow() as uow:
            users = uow.practice.users()
        return sorted((_info(u) for u in users if u.profession is not None and u.id is not None), key=_by_name)

    def appointment_types(self) -> list[AppointmentType]:
        """The appointment types (the default list is installed on first use)."""
        with self._uow() as uow:
            types = uow.agenda.appointment_types()
            if types:
                return types
            for item in DEFAULT_APPOINTMENT_TYPES:
                uow.agenda.save_appointment_type(item)
            uow.commit()
            return uow.agenda.appointment_types()

    def working_hours(self, practitioner_id: int) -> tuple[WorkingPeriod, ...]:
        """The practitioner's working periods (defaults by profession when never set)."""
        with self._uow() as uow:
            return self._hours(uow, practitioner_id)

    def set_working_hours(self, practitioner_id: int, periods: Sequence[WorkingPeriod]) -> None:
        """Replace the practitioner's working periods."""
        checked = validate_working_hours(periods)
        with self._uow() as uow:
            self._practitioner(uow, practitioner_id)
            uow.agenda.set_working_hours(practitioner_id, checked)
            self._trace(uow, None, "horaires", {"praticien": practitioner_id})
            uow.commit()

    def add_absence(self, absence: Absence) -> int:
        """Record an absence (planned appointments during it show as conflicts)."""
        if absence.end <= absence.start:
            raise InvalidInput({"end": "La fin de l'absence doit être après son début."})
        if absence.end - absence.start > dt.timedelta(days=366):
            raise InvalidInput({"end": "Une absence dure au plus un an."})
        with self._uow() as uow:
            self._practitioner(uow, absence.practitioner_id)
            absence_id = uow.agenda.add_absence(replace(absence, reason=absence.reason.strip()[:300]))
            self._trace(uow, None, "absence", {"praticien": absence.practitioner_id})
            uow.commit()
        return absence_id

    # -- reading ------------------------------------------------------------------------------------------------
    def period(self, practitioner_ids: Sequence[int], first_day: dt.date, last_day: dt.date) -> AgendaPeriod:
        """Appointments, absences, holidays and working hours for a day, week or month view."""
        if last_day < first_day:
            raise InvalidInput("Période vide.")
        if (last_day - first_day).days > 62:
            raise InvalidInput("Période trop longue (deux mois au plus).")
        start, _ = day_bounds(first_day)
        _, end = day_bounds(last_day)
        ids = tuple(practitioner_ids)
        with self._uow() as uow:
            appointments = uow.agenda.appointments_between(start, end, ids)
            absences = uow.agenda.absences_between(start, end, ids)
            users = uow.practice.users()
            hours = {pid: self._hours(uow, pid, users) for pid in ids}
        return AgendaPeriod(
            first_day=first_day,
            last_day=last_day,
            practitioner_ids=ids,
            appointments=tuple(appointments),
            absences=tuple(absences),
            holidays=holidays_between(first_day, last_day),
            working_hours=hours,
        )

    def get(self, appointment_id: int) -> Appointment:
        """One appointment."""
        with self._uow() as uow:
            return uow.agenda.get_appointment(appointment_id)

    def patient_agenda(self, patient_id: int) -> PatientAgenda:
        """The patient's past and future appointments and care series (patient file, Agenda tab)."""
        now = self._clock.now()
        with self._uow() as uow:
            appointments = uow.agenda.patient_appointments(patient_id)
            series = uow.agenda.patient_series(patient_id)
            summaries = []
            for item in series:
                assert item.id is not None
                occurrences = uow.agenda.series_appointments(item.id)
                summaries.append(SeriesSummary(item, tuple(occurrences), series_progress(item, occurrences)))
        past = tuple(reversed([a for a in appointments if a.start < now]))
        future = tuple(a for a in appointments if a.start >= now)
        return PatientAgenda(patient_id, past, future, tuple(summaries))

    def series_summary(self, series_id: int) -> SeriesSummary:
        """A series, its occurrences and its count."""
        with self._uow() as uow:
            series = uow.agenda.get_series(series_id)
            occurrences = uow.agenda.series_appointments(series_id)
        return SeriesSummary(series, tuple(occurrences), series_progress(series, occurrences))

    def check(self, appointment: Appointment) -> list[Conflict]:
        """Conflicts of a draft appointment, to show before saving."""
        validate_interval(appointment.start, appointment.end)
        with self._uow() as uow:
            return self._conflicts(uow, [appointment])[0]

    # -- changing -----------------------------------------------------------------------------------------------
    def book(self, appointment: Appointment, *, force: bool = False) -> ChangeResult:
        """Save a new appointment.

        Args:
            appointment: the draft (id None).
            force: save even when it overlaps another appointment or an absence (the user confirmed).

        Raises:
            InvalidInput: bad times or fields (French message per field).
            SchedulingConflict: overlaps or absence, unless ``force``.
        """
        draft = replace(appointment, id=None, version=0, status=AppointmentStatus.PLANNED)
        validate_interval(draft.start, draft.end)
        with self._uow() as uow:
            self._practitioner(uow, draft.practitioner_id)
            draft = validate_appointment(self._complete_home_visit(uow, draft))
            warnings = self._gate(uow, [draft], force)
            saved = uow.agenda.add_appointment(draft)
            assert saved.id is not None
            self._trace(uow, saved.patient_id, "creation", _detail(saved))
            uow.commit()
        self._push(_UndoStep("la création du rendez-vous", created=[(saved.id, saved.version)]))
        log.info("Appointment %s booked", saved.id)
        return ChangeResult((saved,), tuple(warnings))

    def update(self, appointment: Appointment, *, force: bool = False) -> ChangeResult:
        """Save an edited appointment (times, type, place, texts, DMP preparation).

        Raises:
            ConflictError: it changed on another workstation since it was read.
            SchedulingConflict: the new slot overlaps, unless ``force``.
        """
        if appointment.id is None:
            raise InvalidInput("Rendez-vous non enregistré.")
        validate_interval(appointment.start, appointment.end)
        with self._uow() as uow:
            before = uow.agenda.get_appointment(appointment.id)
            self._check_version(before, appointment.version)
            self._practitioner(uow, appointment.practitioner_id)
            draft = validate_appointment(self._complete_home_visit(uow, appointment))
            warnings = self._gate(uow, [draft], force) if _slot_changed(before, draft) else []
            saved = uow.agenda.update_appointment(draft)
            self._trace(uow, saved.patient_id, "modification", _detail(saved))
            offers = self._offers(uow, [before], [saved])
            uow.commit()
        self._push(_UndoStep("la modification du rendez-vous", restore=[(before, saved.version)]))
        return ChangeResult((saved,), tuple(warnings), offers)

    def move(
        self,
        appointment_id: int,
        version: int,
        start: dt.datetime,
        end: dt.datetime | None = None,
        *,
        practitioner_id: int | None = None,
        force: bool = False,
    ) -> ChangeResult:
        """Move (and optionally resize or hand over) one appointment; the rest of its series is untouched.

        Raises:
            InvalidInput: bad times.
            ConflictError: it changed elsewhere since it was read.
            SchedulingConflict: the new slot overlaps, unless ``force``.
        """
        with self._uow() as uow:
            before = uow.agenda.get_appointment(appointment_id)
            self._check_version(before, version)
            if before.status is not AppointmentStatus.PLANNED:
                raise InvalidInput(f"Un rendez-vous « {before.status.label_fr.lower()} » ne peut pas être déplacé.")
            moved = before.moved(start, end, practitioner_id)
            validate_interval(moved.start, moved.end)
            if practitioner_id is not None:
                self._practitioner(uow, practitioner_id)
            warnings = self._gate(uow, [moved], force)
            saved = uow.agenda.update_appointment(replace(moved, round_position=None))
            self._trace(uow, saved.patient_id, "deplacement", _detail(saved))
            offers = self._offers(uow, [before], [saved])
            uow.commit()
        label = "le déplacement du rendez-vous" if end is None or start != before.start else "la nouvelle durée"
        self._push(_UndoStep(label, restore=[(before, saved.version)]))
        return ChangeResult((saved,), tuple(warnings), offers)

    def cancel(self, appointment_id: int, version: int, reason: str) -> ChangeResult:
        """Cancel one appointment with a reason (the row stays, the slot frees); offers waiting patients.

        Raises:
            InvalidInput: no reason given, or already cancelled.
        """
        if not reason.strip():
            raise InvalidInput({"status_reason": "Indiquez le motif de l'annulation."})
        return self._set_status(appointment_id, version, AppointmentStatus.CANCELLED, reason, "l'annulation")

    def mark_no_show(self, appointment_id: int, version: int, note: str = "") -> ChangeResult:
        """The patient did not come (the slot is free again for the waiting list if it is still ahead)."""
        return self._set_status(appointment_id, version, AppointmentStatus.NO_SHOW, note, "« patient absent »")

    def mark_done(self, appointment_id: int, version: int) -> ChangeResult:
        """The care took place (counts against the prescription of its series)."""
        return self._set_status(appointment_id, version, AppointmentStatus.DONE, "", "« réalisé »")

    def reopen(self, appointment_id: int, version: int) -> ChangeResult:
        """Back to planned (a cancellation or a no-show recorded by mistake)."""
        return self._set_status(appointment_id, version, AppointmentStatus.PLANNED, "", "la remise en « prévu »")

    def _set_status(
        self, appointment_id: int, version: int, status: AppointmentStatus, reason: str, label: str
    ) -> ChangeResult:
        with self._uow() as uow:
            before = uow.agenda.get_appointment(appointment_id)
            self._check_version(before, version)
            if before.status is status:
                raise InvalidInput(f"Ce rendez-vous est déjà « {status.label_fr.lower()} ».")
            changed = validate_appointment(replace(before, status=status, status_reason=reason.strip()))
            warnings: list[Conflict] = []
            if status is AppointmentStatus.PLANNED:
                warnings = self._gate(uow, [changed], force=True)
            saved = uow.agenda.update_appointment(changed)
            self._trace(uow, saved.patient_id, f"statut:{status.value}", _detail(saved))
            offers = self._offers(uow, [before], [saved])
            uow.commit()
        self._push(_UndoStep(label, restore=[(before, saved.version)]))
        return ChangeResult((saved,), tuple(warnings), offers)

    # -- care series --------------------------------------------------------------------------------------------
    def preview_series(self, request: SeriesRequest) -> SeriesPreview:
        """The occurrences a series would create and their conflicts, without saving anything."""
        occurrences = generate_series(request.plan)
        drafts = self._series_drafts(request, occurrences, None)
        with self._uow() as uow:
            found = self._conflicts(uow, drafts)
        conflicts = tuple((i, c) for i, items in enumerate(found) for c in items)
        return SeriesPreview(tuple(occurrences), conflicts)

    def plan_series(self, request: SeriesRequest, *, force: bool = False) -> SeriesSummary:
        """Create a care series: one appointment row per occurrence, all or nothing.

        Raises:
            InvalidInput: rhythm not understood, series too long (over 750 sessions), bad plan.
            SchedulingConflict: some occurrences overlap, unless ``force``.
        """
        occurrences = generate_series(request.plan)
        label = request.label.strip() or "Série de soins"
        if len(label) > 200:
            raise InvalidInput({"label": "Libellé trop long (200 caractères au plus)."})
        prescribed = request.prescribed_sessions or request.plan.rhythm.total
        if not 1 <= prescribed <= 10 * len(occurrences):
            raise InvalidInput({"prescribed": "Nombre de séances prescrites invalide."})
        with self._uow() as uow:
            patient = uow.patients.get(request.patient_id)
            self._practitioner(uow, request.practitioner_id)
            series = CareSeries(
                id=None,
                patient_id=request.patient_id,
                practitioner_id=request.practitioner_id,
                label=label,
                type_code=request.type_code,
                rhythm=request.plan.rhythm,
                prescribed_sessions=prescribed,
                prescriber=request.prescriber.strip()[:200],
                prescription_date=request.prescription_date,
                alert_remaining=max(0, request.alert_remaining),
                place=request.place,
            )
            drafts = self._series_drafts(request, occurrences, None)
            template = self._complete_home_visit(uow, drafts[0], patient)
            drafts = [
                validate_appointment(replace(d, address=template.address, door_code=template.door_code)) for d in drafts
            ]
            self._gate(uow, drafts, force)
            series_id = uow.agenda.add_series(series)
            ids = uow.agenda.add_appointments([replace(d, series_id=series_id) for d in drafts])
            self._trace(
                uow,
                request.patient_id,
                "serie",
                {"serie": series_id, "seances": len(ids), "rythme": request.plan.rhythm.label_fr},
            )
            uow.commit()
        self._push(_UndoStep("la création de la série", created=[(i, 1) for i in ids], created_series=[series_id]))
        log.info("Care series %s planned: %d occurrences", series_id, len(ids))
        return self.series_summary(series_id)

    def _series_drafts(
        self, request: SeriesRequest, occurrences: Sequence[tuple[dt.datetime, dt.datetime]], series_id: int | None
    ) -> list[Appointment]:
        return [
            Appointment(
                id=None,
                practitioner_id=request.practitioner_id,
                patient_id=request.patient_id,
                start=start,
                end=end,
                type_code=request.type_code,
                place=request.place,
                care=request.care or request.label,
                door_code=request.door_code,
                series_id=series_id,
            )
            for start, end in occurrences
        ]

    # -- rounds -------------------------------------------------------------------------------------------------
    def round_of_day(self, practitioner_id: int, day: dt.date) -> RoundView:
        """The home visits of a practitioner's day in visiting order (the saved order, else by time)."""
        with self._uow() as uow:
            stops = self._stops(uow, practitioner_id, day)
            start_address = self._practice_address(uow, practitioner_id)
        km = route_length_m(start_address, [s.address for s in stops]) / 1000
        return RoundView(practitioner_id, day, start_address, tuple(stops), round(km, 1))

    def suggest_round(self, practitioner_id: int, day: dt.date) -> RoundSuggestion:
        """A visiting order shortening the estimated travel (see ``domain.agenda.estimated_distance_m``)."""
        view = self.round_of_day(practitioner_id, day)
        suggested = suggest_round_order(view.start_address, view.stops)
        after = route_length_m(view.start_address, [s.address for s in suggested]) / 1000
        return RoundSuggestion(tuple(suggested), view.estimated_km, round(after, 1))

    def save_round_order(
        self, practitioner_id: int, day: dt.date, ordered_ids: Sequence[int], *, retime: bool = False
    ) -> RoundView:
        """Keep a visiting order; with ``retime``, start times follow it (first visit keeps its time)."""
        with self._uow() as uow:
            stops = self._stops(uow, practitioner_id, day)
            known = {s.appointment_id: s for s in stops}
            if sorted(ordered_ids) != sorted(known):
                raise ConflictError("La tournée a changé entre-temps : elle est rechargée.")
            ordered = [known[i] for i in ordered_ids]
            starts = retime_round(ordered, min(s.start for s in ordered)) if retime and ordered else []
            step = _UndoStep("le nouvel ordre de la tournée")
            for position, stop in enumerate(ordered):
                before = uow.agenda.get_appointment(stop.appointment_id)
                changed = replace(before, round_position=position)
                if starts:
                    changed = changed.moved(starts[position])
                saved = uow.agenda.update_appointment(changed)
                step.restore.append((before, saved.version))
            self._trace(uow, None, "tournee", {"praticien": practitioner_id, "jour": day.isoformat()})
            uow.commit()
        self._push(step)
        return self.round_of_day(practitioner_id, day)

    def print_round_sheet(self, practitioner_id: int, day: dt.date, destination: Path | None = None) -> Path:
        """Write the round sheet PDF (readable with no network); return its path."""
        view = self.round_of_day(practitioner_id, day)
        with self._uow() as uow:
            practitioner = self._practitioner(uow, practitioner_id)
            structures = uow.practice.structures()
        practice = next((s for s in structures if s.id == practitioner.structure_id), None)
        sheet = RoundSheet(
            practitioner=practitioner.display_name,
            day=day,
            practice=practice.name if practice else "",
            practice_address=view.start_address,
            stops=view.stops,
            estimated_km=view.estimated_km,
            printed_at=self._clock.now(),
        )
        target = destination or self._output_dir / f"tournee-{day.isoformat()}-{practitioner.login}.pdf"
        target.parent.mkdir(parents=True, exist_ok=True)
        return self._round_sheets().render(sheet, target)

    def _stops(self, uow: UnitOfWork, practitioner_id: int, day: dt.date) -> list[RoundStop]:
        start, end = day_bounds(day)
        visits = [
            a
            for a in uow.agenda.appointments_between(start, end, [practitioner_id])
            if a.place is PlaceKind.HOME and a.status is not AppointmentStatus.CANCELLED and start <= a.start < end
        ]
        visits.sort(key=lambda a: (a.round_position if a.round_position is not None else 10_000, a.start))
        phones: dict[int, str] = {}
        stops = []
        for visit in visits:
            assert visit.id is not None
            phone = ""
            if visit.patient_id is not None:
                if visit.patient_id not in phones:
                    contact = uow.patients.get(visit.patient_id).contact
                    phones[visit.patient_id] = contact.phones[0] if contact.phones else ""
                phone = phones[visit.patient_id]
            stops.append(
                RoundStop(
                    appointment_id=visit.id,
                    start=visit.start,
                    minutes=int(visit.duration.total_seconds() // 60),
                    patient_name=visit.label,
                    address=visit.address,
                    door_code=visit.door_code,
                    care=visit.care or visit.note,
                    phone=phone,
                    status=visit.status,
                )
            )
        return stops

    def _practice_address(self, uow: UnitOfWork, practitioner_id: int) -> str:
        practitioner = self._practitioner(uow, practitioner_id)
        for structure in uow.practice.structures():
            if structure.id == practitioner.structure_id:
                return structure.address
        return ""

    # -- waiting list -------------------------------------------------------------------------------------------
    def waiting_list(self) -> list[WaitingEntry]:
        """Patients waiting for a slot, longest waiting first."""
        with self._uow() as uow:
            return uow.agenda.waiting_entries()

    def add_to_waiting_list(self, entry: WaitingEntry) -> int:
        """Put a patient on the waiting list."""
        checked = validate_waiting_entry(replace(entry, id=None, created_at=self._clock.now()))
        with self._uow() as uow:
            uow.patients.get(checked.patient_id)
            entry_id = uow.agenda.add_waiting_entry(checked)
            self._trace(uow, checked.patient_id, "liste_attente", {"entree": entry_id})
            uow.commit()
        return entry_id

    def remove_from_waiting_list(self, entry_id: int) -> None:
        """Take a patient off the waiting list."""
        with self._uow() as uow:
            uow.agenda.set_waiting_status(entry_id, WaitingStatus.REMOVED)
            uow.commit()
        self._push(_UndoStep("le retrait de la liste d'attente", waiting=[(entry_id, WaitingStatus.WAITING)]))

    def offers_for(self, slot: FreedSlot) -> list[WaitingEntry]:
        """Waiting patients a free slot suits."""
        with self._uow() as uow:
            return matching_entries(slot, uow.agenda.waiting_entries(), self._clock.now())

    def book_from_waiting_list(self, entry_id: int, slot: FreedSlot, *, force: bool = False) -> ChangeResult:
        """Give a freed slot to a waiting patient: the appointment is booked and the entry closed, together."""
        with self._uow() as uow:
            entry = next((e for e in uow.agenda.waiting_entries() if e.id == entry_id), None)
            if entry is None:
                raise NotFound("Ce patient n'est plus en liste d'attente.")
            draft = Appointment(
                id=None,
                practitioner_id=slot.practitioner_id,
                patient_id=entry.patient_id,
                start=slot.start,
                end=slot.start + dt.timedelta(minutes=entry.minutes),
                type_code=entry.type_code,
                note=entry.note,
            )
            draft = validate_appointment(self._complete_home_visit(uow, draft))
            warnings = self._gate(uow, [draft], force)
            saved = uow.agenda.add_appointment(draft)
            assert saved.id is not None
            uow.agenda.set_waiting_status(entry_id, WaitingStatus.BOOKED)
            self._trace(uow, saved.patient_id, "creation", {**_detail(saved), "liste_attente": entry_id})
            uow.commit()
        self._push(
            _UndoStep(
                "le rendez-vous donné depuis la liste d'attente",
                created=[(saved.id, saved.version)],
                waiting=[(entry_id, WaitingStatus.WAITING)],
            )
        )
        return ChangeResult((saved,), tuple(warnings))

    # -- reminders ----------------------------------------------------------------------------------------------
    def reminders_due(self, lead: dt.timedelta = dt.timedelta(days=1)) -> list[Reminder]:
        """Planned appointments in the next ``lead`` not reminded yet (shown in the application)."""
        now = self._clock.now()
        with self._uow() as uow:
            upcoming = uow.agenda.appointments_between(now, now + lead)
        return due_reminders(upcoming, now, lead)

    def send_reminders(self, lead: dt.timedelta = dt.timedelta(days=1)) -> int:
        """Hand the due reminders to the reminder gateway (e-mail/SMS provider); return how many were sent.

        Each sent reminder is marked so that it is not sent twice; a provider failure stops the batch.

        Raises:
            InvalidInput: no sending service is configured (reminders stay visible in the application).
        """
        if self._reminders is None:
            raise InvalidInput("Aucun service d'envoi de rappels (SMS, courriel) n'est configuré sur ce poste.")
        sent = 0
        for reminder in self.reminders_due(lead):
            with self._uow() as uow:
                appointment = uow.agenda.get_appointment(reminder.appointment_id)
                contact = uow.patients.get(reminder.patient_id).contact
                if not contact.phones and not contact.email:
                    continue
                self._reminders.send(reminder, contact.phones[0] if contact.phones else "", contact.email)
                uow.agenda.update_appointment(replace(appointment, reminded_at=self._clock.now()))
                uow.commit()
            sent += 1
        return sent

    # -- undo ---------------------------------------------------------------------------------------------------
    @property
    def undo_label(self) -> str:
        """French description of what ``undo`` would undo ("" when nothing)."""
        with self._lock:
            return self._undo[-1].label if self._undo else ""

    def undo(self) -> str:
        """Undo the last change made on this workstation; return its French description.

        Raises:
            InvalidInput: nothing to undo.
            ConflictError: the appointment changed on another workstation since (nothing is undone).
        """
        with self._lock:
            if not self._undo:
                raise InvalidInput("Aucune modification à annuler.")
            step = self._undo[-1]
        with self._uow() as uow:
            for appointment_id, version in step.created:
                current = uow.agenda.get_appointment(appointment_id)
                if current.version != version:
                    raise ConflictError("Ce rendez-vous a été modifié depuis : impossible d'annuler la création.")
                uow.agenda.delete_appointment(appointment_id)
            for series_id in step.created_series:
                uow.agenda.delete_series(series_id)
            restored: dict[int, int] = {}
            for before, version in step.restore:
                assert before.id is not None
                current = uow.agenda.get_appointment(before.id)
                if current.version != version:
                    raise ConflictError("Ce rendez-vous a été modifié depuis : impossible d'annuler la modification.")
                restored[before.id] = uow.agenda.update_appointment(replace(before, version=current.version)).version
            for entry_id, status in step.waiting:
                uow.agenda.set_waiting_status(entry_id, status)
            self._trace(uow, None, "annulation_modification", {"modification": step.label})
            uow.commit()
        with self._lock:
            if self._undo and self._undo[-1] is step:
                self._undo.pop()
            # Undoing wrote new versions: earlier steps now expect those (same content, newer version).
            for earlier in self._undo:
                earlier.restore = [(b, restored.get(b.id or 0, v)) for b, v in earlier.restore]
                earlier.created = [(i, restored.get(i, v)) for i, v in earlier.created]
        return step.label

    def _push(self, step: _UndoStep) -> None:
        with self._lock:
            self._undo.append(step)
            del self._undo[:-UNDO_DEPTH]

    # -- iCalendar ----------------------------------------------------------------------------------------------
    def export_ics(self, practitioner_id: int, destination: Path) -> int:
        """Write a practitioner's appointments as an iCalendar file; return how many events."""
        with self._uow() as uow:
            practitioner = self._practitioner(uow, practitioner_id)
            appointments = uow.agenda.appointments_between(EXPORT_FROM, EXPORT_TO, [practitioner_id])
        data = self._codec().export(
            CalendarOwner(practitioner_id, practitioner.display_name, practitioner.rpps),
            appointments,
            self.appointment_types(),
        )
        destination.parent.mkdir(parents=True, exist_ok=True)
        temporary = destination.with_name(destination.name + ".partiel")
        temporary.write_bytes(data)
        temporary.replace(destination)
        log.info("Exported %d appointments of practitioner %s", len(appointments), practitioner_id)
        return len(appointments)

    def import_ics(self, source: Path, practitioner_id: int | None = None) -> ImportReport:
        """Import an iCalendar file into a practitioner's agenda, all or nothing.

        Events already known (same UID) are updated; new ones are added as slots without a patient (a file
        from elsewhere cannot name a patient of this practice safely). All-day events and events over 12 hours
        are left aside and listed.

        Raises:
            InvalidInput: unreadable or too big file, or no practitioner to import into.
        """
        try:
            size = source.stat().st_size
        except OSError as exc:
            raise InvalidInput(f"Fichier illisible : {source} ({exc.strerror}).") from exc
        if size > MAX_ICS_BYTES:
            raise InvalidInput(f"Fichier trop gros ({size // 1024} Ko) : 5 Mo au plus.")
        parsed = self._codec().parse(source.read_bytes())
        known_types = {t.code for t in self.appointment_types()}
        with self._uow() as uow:
            practitioners = {p.id: p for p in uow.practice.users() if p.profession is not None and p.id is not None}
            target = practitioner_id or parsed.owner_id
            if target is None and parsed.owner_rpps:
                target = next((pid for pid, p in practitioners.items() if p.rpps == parsed.owner_rpps), None)
            if target is None or target not in practitioners:
                raise InvalidInput(
                    "Praticien inconnu : précisez dans quel agenda importer (--practitioner ID, voir "
                    "« lgc agenda practitioners »)."
                )
            created = updated = overlaps = 0
            new: list[Appointment] = []
            for event in parsed.events:
                existing = uow.agenda.appointment_by_uid(event.uid)
                status = AppointmentStatus.CANCELLED if event.cancelled else None
                if existing is not None:
                    if existing.practitioner_id != target:
                        raise InvalidInput(
                            f"L'événement « {event.summary[:60]} » appartient à l'agenda d'un autre praticien."
                        )
                    changed = replace(
                        existing,
                        start=event.start,
                        end=event.end,
                        status=status or existing.status,
                        status_reason="Annulé dans le fichier importé" if status else existing.status_reason,
                    )
                    if changed != existing:
                        uow.agenda.update_appointment(validate_appointment(changed))
                        updated += 1
                    continue
                draft = validate_appointment(
                    Appointment(
                        id=None,
                        practitioner_id=target,
                        patient_id=None,
                        start=event.start,
                        end=event.end,
                        type_code=event.type_code if event.type_code in known_types else "AUTRE",
                        title=(event.summary or "Événement importé")[:200],
                        address=event.location[:400],
                        note=event.description[:2000],
                        status=status or AppointmentStatus.PLANNED,
                        status_reason="Annulé dans le fichier importé" if status else "",
                        uid=event.uid,
                    )
                )
                new.append(draft)
            found = self._conflicts(uow, new)
            overlaps = sum(1 for items in found if any(c.kind is ConflictKind.OVERLAP for c in items))
            ids = uow.agenda.add_appointments(new)
            created = len(ids)
            self._trace(uow, None, "import_ical", {"praticien": target, "crees": created, "mis_a_jour": updated})
            uow.commit()
        self._push(_UndoStep("l'import iCalendar", created=[(i, 1) for i in ids]))
        return ImportReport(target, created, updated, parsed.skipped, overlaps)

    # -- demo ---------------------------------------------------------------------------------------------------
    def install_demo_week(self, today: dt.date | None = None) -> int:
        """A realistic busy week for the demo practitioners (once, on an empty agenda); return how many."""
        from app.agenda_demo import build_demo_week

        self.appointment_types()
        with self._uow() as uow:
            if uow.agenda.count_appointments():
                return 0
            users = [u for u in uow.practice.users() if u.profession is not None and u.id is not None]
            rows = uow.patients.search(SearchQuery(), 600)
            patients: list[Patient] = [uow.patients.get(r.id) for r in rows]
            structures = uow.practice.structures()
            week = build_demo_week(today or self._clock.today(), users, patients, structures)
            for practitioner_id, periods in week.working_hours.items():
                uow.agenda.set_working_hours(practitioner_id, periods)
            for absence in week.absences:
                uow.agenda.add_absence(absence)
            count = 0
            for series, occurrences in week.series:
                series_id = uow.agenda.add_series(series)
                count += len(uow.agenda.add_appointments([replace(o, series_id=series_id) for o in occurrences]))
            count += len(uow.agenda.add_appointments(week.appointments))
            for entry in week.waiting:
                uow.agenda.add_waiting_entry(entry)
            uow.commit()
        log.info("%d demo appointments installed", count)
        return count

    # -- internals ----------------------------------------------------------------------------------------------
    def _hours(
        self, uow: UnitOfWork, practitioner_id: int, users: Sequence[UserAccount] | None = None
    ) -> tuple[WorkingPeriod, ...]:
        hours = uow.agenda.working_hours(practitioner_id)
        if hours is not None:
            return hours
        user = next((u for u in (users or uow.practice.users()) if u.id == practitioner_id), None)
        nurse = user is not None and user.profession in (Profession.NURSE, Profession.ADVANCED_PRACTICE_NURSE)
        return NURSE_WORKING_HOURS if nurse else DEFAULT_WORKING_HOURS

    def _practitioner(self, uow: UnitOfWork, practitioner_id: int) -> UserAccount:
        user = next((u for u in uow.practice.users() if u.id == practitioner_id), None)
        if user is None or user.profession is None:
            raise NotFound(f"Aucun praticien n° {practitioner_id} dans ce cabinet.")
        return user

    def _conflicts(self, uow: UnitOfWork, drafts: Sequence[Appointment]) -> list[list[Conflict]]:
        if not drafts:
            return []
        start = min(d.start for d in drafts)
        end = max(d.end for d in drafts)
        ids = sorted({d.practitioner_id for d in drafts})
        existing = uow.agenda.appointments_between(start, end, ids)
        absences = uow.agenda.absences_between(start, end, ids)
        users = uow.practice.users()
        hours = {pid: self._hours(uow, pid, users) for pid in ids}
        first = to_local(start).date()
        holidays = holidays_between(first, to_local(end).date())
        by_practitioner: dict[int, list[Appointment]] = {}
        for item in existing:
            by_practitioner.setdefault(item.practitioner_id, []).append(item)
        return [
            find_conflicts(
                d,
                by_practitioner.get(d.practitioner_id, []),
                absences=absences,
                working_hours=hours[d.practitioner_id],
                holidays=holidays,
            )
            for d in drafts
        ]

    def _gate(self, uow: UnitOfWork, drafts: Sequence[Appointment], force: bool) -> list[Conflict]:
        found = [c for items in self._conflicts(uow, drafts) for c in items]
        if not force and any(c.blocking for c in found):
            raise SchedulingConflict(found)
        return found

    def _offers(
        self, uow: UnitOfWork, before: Sequence[Appointment], after: Sequence[Appointment]
    ) -> tuple[WaitingOffer, ...]:
        """Waiting-list matches for slots a change freed (cancelled, no-show, or moved away)."""
        now = self._clock.now()
        entries: list[WaitingEntry] | None = None
        offers = []
        for old, new in zip(before, after, strict=True):
            freed = old.occupies_slot and (
                not new.occupies_slot
                or new.start != old.start
                or new.end != old.end
                or new.practitioner_id != old.practitioner_id
            )
            if not freed or old.end <= now:
                continue
            if entries is None:
                entries = uow.agenda.waiting_entries()
            slot = FreedSlot(old.practitioner_id, max(old.start, now), old.end, old.type_code)
            matches = matching_entries(slot, entries, now)
            if matches:
                offers.append(WaitingOffer(slot, tuple(matches)))
        return tuple(offers)

    def _complete_home_visit(self, uow: UnitOfWork, draft: Appointment, patient: Patient | None = None) -> Appointment:
        """A home visit without an address takes the patient's; a blank door code, the last one used."""
        patient_id = draft.patient_id
        if draft.place is not PlaceKind.HOME or patient_id is None:
            return draft
        if not draft.address:
            contact = (patient or uow.patients.get(patient_id)).contact
            lines = [*contact.address_lines, f"{contact.postal_code} {contact.city}".strip()]
            draft = replace(draft, address=", ".join(line for line in lines if line))
        if not draft.door_code:
            previous = [a for a in uow.agenda.patient_appointments(patient_id) if a.door_code]
            if previous:
                draft = replace(draft, door_code=previous[-1].door_code)
        return draft

    @staticmethod
    def _check_version(current: Appointment, version: int) -> None:
        if current.version != version:
            raise ConflictError("Ce rendez-vous a été modifié sur un autre poste entre-temps : l'agenda est rechargé.")

    def _trace(self, uow: UnitOfWork, patient_id: int | None, operation: str, detail: dict[str, object]) -> None:
        uow.audit.append(
            AuditEvent(
                at=self._clock.now(),
                actor=self._current().actor,
                action=AuditAction.AGENDA_CHANGE,
                patient_id=patient_id,
                detail={"operation": operation, **detail},
            )
        )


def _info(user: UserAccount) -> PractitionerInfo:
    assert user.id is not None and user.profession is not None
    return PractitionerInfo(user.id, user.display_name, user.login, user.profession, user.structure_id)


def _by_name(info: PractitionerInfo) -> str:
    return info.name


def _slot_changed(before: Appointment, after: Appointment) -> bool:
    return (before.start, before.end, before.practitioner_id, before.status) != (
        after.start,
        after.end,
        after.practitioner_id,
        after.status,
    )


def _detail(appointment: Appointment) -> dict[str, object]:
    local = appointment.start.astimezone(PARIS)
    return {
        "rdv": appointment.id,
        "praticien": appointment.practitioner_id,
        "debut": local.isoformat(timespec="minutes"),
        "jour": format_day_fr(local.date()),
    }
