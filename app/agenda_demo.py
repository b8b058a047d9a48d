"""A realistic busy demo week: nurses' rounds, physiotherapy series, midwife and speech-therapy sessions."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from domain.agenda import (
    DEFAULT_WORKING_HOURS,
    NURSE_WORKING_HOURS,
    Absence,
    Appointment,
    AppointmentStatus,
    CareSeries,
    PartOfDay,
    PlaceKind,
    SeriesPeriod,
    SeriesPlan,
    SeriesRhythm,
    WaitingEntry,
    WorkingPeriod,
    generate_series,
    holidays_between,
    local_datetime,
    overlaps,
    week_start,
)
from domain.patient import Patient
from domain.practice import Profession, Structure, UserAccount

HOME_CARE = (
    ("INJECTION", "Insuline (glycémie capillaire + injection)", 10),
    ("PANSEMENT", "Pansement d'ulcère de jambe", 20),
    ("PANSEMENT", "Pansement post-opératoire, surveillance cicatrice", 15),
    ("TOILETTE", "Toilette complète, prévention d'escarres", 30),
    ("SOIN_DOM", "Préparation du pilulier, surveillance des constantes", 15),
    ("INJECTION", "Prise de sang à jeun (bilan prescrit)", 10),
    ("SOIN_DOM", "Bas de contention, surveillance", 10),
    ("INJECTION", "Injection d'anticoagulant", 10),
)
DOOR_CODES = ("A1234", "B2580", "4791B", "Interphone « 12 »", "Clé dans la boîte à clés (code 1944)", "", "", "")
PRACTITIONER_SESSIONS: dict[Profession, tuple[tuple[str, str, int], ...]] = {
    Profession.PHYSIOTHERAPIST: (
        ("REEDUC", "Rééducation du genou (LCA)", 30),
        ("REEDUC", "Lombalgie chronique", 30),
        ("REEDUC", "Rééducation de l'épaule", 30),
        ("BILAN", "Bilan-diagnostic kinésithérapique", 45),
    ),
    Profession.MIDWIFE: (
        ("SUIVI_GROSSESSE", "Consultation de suivi de grossesse", 30),
        ("PREPA_NAISSANCE", "Préparation à la naissance et à la parentalité", 45),
        ("CONSULT", "Rééducation périnéale", 30),
        ("CONSULT", "Consultation de contraception", 30),
    ),
    Profession.SPEECH_THERAPIST: (
        ("REEDUC", "Séance de rééducation du langage écrit", 30),
        ("REEDUC", "Rééducation de la déglutition", 45),
        ("BILAN", "Bilan orthophonique", 60),
    ),
    Profession.ORTHOPTIST: (
        ("CONSULT", "Bilan orthoptique", 30),
        ("REEDUC", "Rééducation de l'insuffisance de convergence", 30),
    ),
    Profession.PODIATRIST: (
        ("SOIN_CAB", "Soins de pédicurie", 30),
        ("CONSULT", "Bilan podologique (semelles)", 45),
    ),
    Profession.ADVANCED_PRACTICE_NURSE: (
        ("CONSULT", "Consultation de suivi (pathologie chronique)", 30),
        ("CONSULT", "Renouvellement et adaptation de traitement", 30),
        ("TELESOIN", "Télésoin de suivi", 20),
    ),
}


@dataclass
class DemoWeek:
    """What the demo agenda installs."""

    working_hours: dict[int, tuple[WorkingPeriod, ...]] = field(default_factory=dict)
    absences: list[Absence] = field(default_factory=list)
    series: list[tuple[CareSeries, list[Appointment]]] = field(default_factory=list)
    appointments: list[Appointment] = field(default_factory=list)
    waiting: list[WaitingEntry] = field(default_factory=list)


def _address(patient: Patient) -> str:
    contact = patient.contact
    lines = [*contact.address_lines, f"{contact.postal_code} {contact.city}".strip()]
    return ", ".join(line for line in lines if line)


def build_demo_week(
    today: dt.date, users: Sequence[UserAccount], patients: Sequence[Patient], structures: Sequence[Structure]
) -> DemoWeek:
    """The current week (Monday to Sunday) of every demo practitioner, filled like a real busy week.

    Days before ``today`` are marked done (with a few no-shows); nurses work every day on home rounds.
    """
    rng = random.Random(2026)  # noqa: S311 - demo data, not security sensitive
    week = DemoWeek()
    if not patients:
        return week
    monday = week_start(today)
    days = [monday + dt.timedelta(days=i) for i in range(7)]
    holidays = holidays_between(monday - dt.timedelta(days=21), monday + dt.timedelta(days=50))
    home_city = {"51100", "51000", "51450"}
    local_patients = [p for p in patients if p.contact.postal_code in home_city and p.contact.address_lines]
    local_patients = local_patients or [p for p in patients if p.contact.address_lines] or list(patients)
    door_codes = {p.id: rng.choice(DOOR_CODES) for p in local_patients}
    care_of = {p.id: HOME_CARE[i % len(HOME_CARE)] for i, p in enumerate(local_patients)}
    booked: dict[int, list[Appointment]] = {}

    def status_for(start: dt.datetime) -> AppointmentStatus:
        if start.date() < today:
            return AppointmentStatus.NO_SHOW if rng.random() < 0.04 else AppointmentStatus.DONE
        return AppointmentStatus.PLANNED

    def free(practitioner_id: int, start: dt.datetime, end: dt.datetime) -> bool:
        return not any(overlaps(start, end, a.start, a.end) for a in booked.get(practitioner_id, []))

    def add(appointment: Appointment, into: list[Appointment]) -> None:
        status = status_for(appointment.start)
        appointment = replace(
            appointment,
            status=status,
            status_reason="" if status is not AppointmentStatus.NO_SHOW else "Patient absent au passage",
        )
        into.append(appointment)
        booked.setdefault(appointment.practitioner_id, []).append(appointment)

    nurses = [u for u in users if u.profession is Profession.NURSE]
    for index, nurse in enumerate(nurses):
        assert nurse.id is not None
        week.working_hours[nurse.id] = NURSE_WORKING_HOURS
        pool = local_patients[index * 14 : index * 14 + 14] or local_patients[:14]
        # A prescription "soins 2 fois par jour pendant 10 jours" started a few days ago (insulin, morning/evening).
        diabetic = pool[0]
        assert diabetic.id is not None
        plan = SeriesPlan(
            SeriesRhythm(2, SeriesPeriod.DAY, 10),
            monday - dt.timedelta(days=3),
            (dt.time(7, 30), dt.time(18, 0)),
            frozenset(range(7)),
            15,
            skip_holidays=False,
        )
        series = CareSeries(
            None,
            diabetic.id,
            nurse.id,
            "Insulinothérapie : surveillance glycémie + injection",
            "INJECTION",
            plan.rhythm,
            plan.rhythm.total,
            "Dr Claire FONTAINE",
            monday - dt.timedelta(days=5),
            4,
            PlaceKind.HOME,
        )
        occurrences: list[Appointment] = []
        for start, end in generate_series(plan):
            add(
                Appointment(
                    None,
                    nurse.id,
                    diabetic.id,
                    start,
                    end,
                    "INJECTION",
                    PlaceKind.HOME,
                    address=_address(diabetic),
                    door_code=door_codes.get(diabetic.id, ""),
                    care="Glycémie capillaire, injection d'insuline selon protocole",
                ),
                occurrences,
            )
        week.series.append((series, occurrences))
        for day in days:
            # Morning round: the regular patients of the round, roughly in visiting order.
            stops = pool[1:] if day.weekday() < 5 else pool[1:8]
            cursor = local_datetime(day, dt.time(7, 0))
            for patient in rng.sample(stops, len(stops)):
                assert patient.id is not None
                code, care, minutes = care_of[patient.id]
                end = cursor + dt.timedelta(minutes=minutes)
                while not free(nurse.id, cursor, end):
                    cursor += dt.timedelta(minutes=5)
                    end = cursor + dt.timedelta(minutes=minutes)
                add(
                    Appointment(
                        None,
                        nurse.id,
                        patient.id,
                        cursor,
                        end,
                        code,
                        PlaceKind.HOME,
                        address=_address(patient),
                        door_code=door_codes.get(patient.id, ""),
                        care=care,
                    ),
                    week.appointments,
                )
                cursor = end + dt.timedelta(minutes=rng.choice((5, 10, 10, 15)))
            # Evening round: a few visits.
            cursor = local_datetime(day, dt.time(17, 0))
            for patient in pool[8:11]:
                assert patient.id is not None
                end = cursor + dt.timedelta(minutes=15)
                while not free(nurse.id, cursor, end):
                    cursor += dt.timedelta(minutes=5)
                    end = cursor + dt.timedelta(minutes=15)
                add(
                    Appointment(
                        None,
                        nurse.id,
                        patient.id,
                        cursor,
                        end,
                        "SOIN_DOM",
                        PlaceKind.HOME,
                        address=_address(patient),
                        door_code=door_codes.get(patient.id, ""),
                        care="Surveillance, traitement du soir",
                    ),
                    week.appointments,
                )
                cursor = end + dt.timedelta(minutes=10)

    cabinet_patients = [p for p in patients if p not in local_patients[: 14 * max(len(nurses), 1)]] or list(patients)
    offset = 0
    for user in users:
        if user.id is None or user.profession not in PRACTITIONER_SESSIONS:
            continue
        sessions = PRACTITIONER_SESSIONS[user.profession]
        week.working_hours[user.id] = DEFAULT_WORKING_HOURS
        mine = cabinet_patients[offset : offset + 60] or cabinet_patients[:60]
        offset += 60
        if user.profession is Profession.PHYSIOTHERAPIST:
            # Three prescriptions "2 séances par semaine pendant 6 semaines", started two weeks ago.
            for n, (weekdays, time) in enumerate(
                (((0, 3), dt.time(8, 0)), ((1, 4), dt.time(9, 0)), ((0, 3), dt.time(17, 30)))
            ):
                patient = mine[n]
                assert patient.id is not None
                plan = SeriesPlan(
                    SeriesRhythm(2, SeriesPeriod.WEEK, 6),
                    monday - dt.timedelta(days=14),
                    (time,),
                    frozenset(weekdays),
                    30,
                )
                series = CareSeries(
                    None,
                    patient.id,
                    user.id,
                    sessions[n % 3][1],
                    "REEDUC",
                    plan.rhythm,
                    plan.rhythm.total,
                    "Dr Karim BENALI",
                    monday - dt.timedelta(days=20),
                    2,
                    PlaceKind.PRACTICE,
                )
                occurrences = []
                for start, end in generate_series(plan):
                    add(Appointment(None, user.id, patient.id, start, end, "REEDUC", care=series.label), occurrences)
                week.series.append((series, occurrences))
            mine = mine[3:]
        if user.profession is Profession.PODIATRIST:
            friday = monday + dt.timedelta(days=4)
            week.absences.append(
                Absence(
                    None,
                    user.id,
                    local_datetime(friday, dt.time(13, 30)),
                    local_datetime(friday, dt.time(19, 0)),
                    "Formation continue (DPC)",
                )
            )
        busy = 0.85 if user.profession is Profession.PHYSIOTHERAPIST else 0.6
        for day in days[:5]:
            if day in holidays:
                continue
            for period in DEFAULT_WORKING_HOURS:
                if period.weekday != day.weekday():
                    continue
                if user.profession is Profession.PODIATRIST and day.weekday() == 4 and period.start.hour >= 13:
                    continue
                cursor = local_datetime(day, period.start)
                close = local_datetime(day, period.end)
                while cursor < close:
                    code, label, minutes = rng.choice(sessions)
                    end = cursor + dt.timedelta(minutes=minutes)
                    if end > close:
                        break
                    if free(user.id, cursor, end) and rng.random() < busy:
                        patient = rng.choice(mine)
                        add(Appointment(None, user.id, patient.id, cursor, end, code, care=label), week.appointments)
                        cursor = end
                    else:
                        cursor += dt.timedelta(minutes=15)
        if user.profession in (Profession.PHYSIOTHERAPIST, Profession.SPEECH_THERAPIST):
            for n, patient in enumerate(mine[-3:]):
                assert patient.id is not None
                code, _label, minutes = sessions[n % len(sessions)]
                week.waiting.append(
                    WaitingEntry(
                        None,
                        patient.id,
                        user.id,
                        code,
                        minutes,
                        dt.datetime.combine(today - dt.timedelta(days=10 - n), dt.time(9), tzinfo=dt.UTC),
                        earliest=today,
                        latest=today + dt.timedelta(days=30),
                        part_of_day=(PartOfDay.ANY, PartOfDay.MORNING, PartOfDay.AFTERNOON)[n],
                        note="Disponible au dernier moment (prévenir par téléphone)",
                    )
                )
    return week
