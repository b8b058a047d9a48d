"""The patient's timeline: documents, prescriptions and appointments beside the observations (issue 6)."""

from __future__ import annotations

import datetime as dt

from domain.agenda import Appointment, AppointmentStatus, PlaceKind
from domain.documents import DocumentRow, DocumentStatus, Provenance
from domain.record import ObservationKind, ObservationLine, TimelineSource
from domain.timeline import appointment_line, document_line, merge_timeline

T0 = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)


def _row(
    type_code: str, *, at: dt.datetime = T0, provenance: Provenance = Provenance.PRODUCED, **kw: object
) -> DocumentRow:
    values: dict[str, object] = {
        "id": 7,
        "type_code": type_code,
        "type_display": "Bilan par professionnel de santé",
        "title": "Bilan",
        "act_date": at,
        "author": "Camille DURAND",
        "provenance": provenance,
        "status": DocumentStatus.VALIDATED,
        "version": 1,
        "superseded": False,
        "sent_dmp": False,
        "sent_mss": False,
        "has_structured_body": False,
    }
    values.update(kw)
    return DocumentRow(**values)  # type: ignore[arg-type]


def test_a_document_line_says_where_it_comes_from_and_what_became_of_it() -> None:
    line = document_line(_row("34120-6", version=2, superseded=True, sent_dmp=True, sent_mss=True))
    assert line.source is TimelineSource.DOCUMENT and line.id == 7 and line.at == T0
    assert line.title == "Bilan" and line.author == "Camille DURAND"
    assert line.summary == (
        "Bilan par professionnel de santé — Produit ici, version 2, remplacé par une version plus récente, "
        "envoyé au DMP, envoyé par MSSanté"
    )


def test_a_prescription_is_its_own_kind_of_line_and_an_imported_document_names_its_provenance() -> None:
    assert document_line(_row("PRESC-KINE")).source is TimelineSource.PRESCRIPTION
    assert document_line(_row("57833-6")).source is TimelineSource.PRESCRIPTION
    imported = document_line(_row("11488-4", provenance=Provenance.DMP, author=""))
    assert imported.source is TimelineSource.DOCUMENT and imported.author == "DMP"
    unknown = document_line(_row("X-UNKNOWN", status=DocumentStatus.DRAFT, provenance=Provenance.IMPORTED))
    assert unknown.source is TimelineSource.DOCUMENT and "brouillon" in unknown.summary


def test_an_appointment_line_has_its_type_status_place_and_practitioner() -> None:
    appointment = Appointment(
        12,
        3,
        5,
        T0,
        T0 + dt.timedelta(minutes=20),
        "PANSEMENT",
        place=PlaceKind.HOME,
        status=AppointmentStatus.CANCELLED,
        status_reason="patiente hospitalisée",
        series_id=4,
    )
    line = appointment_line(appointment, {"PANSEMENT": "Pansement"}, {3: "Camille DURAND"})
    assert line.source is TimelineSource.APPOINTMENT and line.id == 12
    assert line.title == "Rendez-vous : Pansement" and line.author == "Camille DURAND"
    assert line.summary == "Annulé — À domicile — patiente hospitalisée — séance d'une série de soins"
    bare = appointment_line(appointment, {}, {})
    assert bare.title == "Rendez-vous : PANSEMENT" and bare.author == ""


def test_merge_keeps_observations_in_order_and_puts_every_line_at_its_date() -> None:
    observations = [
        ObservationLine(i, T0 - dt.timedelta(days=i), "ide", ObservationKind.TEXT, f"o{i}", "", "") for i in range(5)
    ]
    same_instant = ObservationLine(99, T0 - dt.timedelta(days=1), "ide", ObservationKind.TEXT, "o1bis", "", "")
    observations.insert(2, same_instant)
    future = appointment_line(
        Appointment(1, 3, 5, T0 + dt.timedelta(days=3), T0 + dt.timedelta(days=3, hours=1), "BILAN"), {}, {}
    )
    old = document_line(_row("34120-6", at=T0 - dt.timedelta(days=2, hours=12)))
    merged = merge_timeline(observations, [old, future])
    assert [line.title for line in merged] == ["Rendez-vous : BILAN", "o0", "o1", "o1bis", "o2", "Bilan", "o3", "o4"]
    assert merge_timeline(observations, []) == observations
