"""The patient's timeline: observations, documents, prescriptions and appointments on one filterable list.

Observations come from the record (``ObservationLine`` with the default source); the other lines are built here
from the document list rows and the agenda, so that the timeline opens with one read per area and no body.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from domain.agenda import Appointment, AppointmentStatus
from domain.documents import DocumentRow, DocumentStatus, Provenance, known_kind
from domain.record import ObservationKind, ObservationLine, TimelineSource

__all__ = ["appointment_line", "document_line", "merge_timeline"]


def document_line(row: DocumentRow) -> ObservationLine:
    """A document of the record as a timeline line: prescriptions are their own kind of line."""
    kind = known_kind(row.type_code)
    source = TimelineSource.PRESCRIPTION if kind is not None and kind.prescription else TimelineSource.DOCUMENT
    facts = [row.provenance.label_fr]
    if row.status is DocumentStatus.DRAFT:
        facts.append("brouillon")
    if row.version > 1:
        facts.append(f"version {row.version}")
    if row.superseded:
        facts.append("remplacé par une version plus récente")
    if row.sent_dmp:
        facts.append("envoyé au DMP")
    if row.sent_mss:
        facts.append("envoyé par MSSanté")
    title = row.title if row.title else row.type_display
    summary = f"{row.type_display} — " + ", ".join(facts)
    author = row.author or ("" if row.provenance is Provenance.PRODUCED else row.provenance.label_fr)
    return ObservationLine(row.id, row.act_date, author, ObservationKind.TEXT, title, summary, "", source)


def appointment_line(
    appointment: Appointment, type_labels: Mapping[str, str], practitioners: Mapping[int, str]
) -> ObservationLine:
    """An appointment (past or to come) as a timeline line."""
    label = type_labels.get(appointment.type_code, appointment.type_code or "Rendez-vous")
    facts = [appointment.status.label_fr, appointment.place.label_fr]
    if appointment.status in (AppointmentStatus.CANCELLED, AppointmentStatus.NO_SHOW) and appointment.status_reason:
        facts.append(appointment.status_reason)
    if appointment.care:
        facts.append(appointment.care)
    if appointment.series_id is not None:
        facts.append("séance d'une série de soins")
    return ObservationLine(
        appointment.id or 0,
        appointment.start,
        practitioners.get(appointment.practitioner_id, ""),
        ObservationKind.TEXT,
        f"Rendez-vous : {label}",
        " — ".join(facts),
        "",
        TimelineSource.APPOINTMENT,
    )


def merge_timeline(observations: Sequence[ObservationLine], others: Iterable[ObservationLine]) -> list[ObservationLine]:
    """Every line, most recent first (appointments still to come are on top).

    ``observations`` is already sorted (most recent first, from the store); the other lines are few (documents and
    appointments of one patient), so a sort of the merged list stays cheap even with 2,000 observations.
    """
    rest = sorted(others, key=lambda line: line.at, reverse=True)
    if not rest:
        return list(observations)
    merged = [*observations, *rest]
    merged.sort(key=lambda line: line.at, reverse=True)  # stable: same-instant observations keep their order
    return merged
