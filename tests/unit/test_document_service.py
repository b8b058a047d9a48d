"""DocumentService with fakes: pre-filled drafts, freeze, versions, import checks and duplicate rules."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace

import pytest

from app.services.documents import DocumentService
from app.session import CurrentUser
from domain.audit import AuditAction
from domain.document_ports import ReceivedCda
from domain.documents import DocumentFormat, DocumentStatus, DuplicateVerdict, HealthDocument, Provenance, snapshot_of
from domain.errors import InvalidInput, PermissionDenied
from tests.documents_support import CABINET, COMPLETE, MIDWIFE, NOW, make_patient
from tests.fakes import FakeUnitOfWorkFactory, MutableClock


class FakeRenderer:
    """Renders recognisable bytes; counts calls."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def pdf(self, document: HealthDocument, *, rgpd_footer: str) -> bytes:
        self.calls.append("pdf")
        return b"%PDF-1.4 " + document.title.encode()

    def cda_n1(self, document: HealthDocument, pdf: bytes) -> bytes:
        self.calls.append("n1")
        return b"<N1 " + document.document_id.encode() + b"/>"

    def cda_n3(self, document: HealthDocument, pdf: bytes) -> bytes:
        self.calls.append("n3")
        return b"<N3 " + document.document_id.encode() + b"/>"

    def xdm(self, items: Sequence[tuple[HealthDocument, bytes, str]], *, sender: str) -> bytes:
        return b"PK" + b"".join(cda for _, cda, _ in items)

    def html(self, cda: bytes) -> str:
        return "<html>" + cda.decode() + "</html>"


class FakeReader:
    """Returns the ReceivedCda registered for given bytes; refuses anything else."""

    def __init__(self) -> None:
        self.known: dict[bytes, ReceivedCda] = {}

    def read_cda(self, data: bytes) -> ReceivedCda:
        if data not in self.known:
            raise InvalidInput("Le document CDA n'est pas un XML bien formé : il n'est pas intégré.")
        return self.known[data]

    def read_xdm(self, data: bytes) -> list[tuple[str, bytes]]:
        return [(f"DOC{i:05d}.XML", part) for i, part in enumerate(data[4:].split(b"|"), start=1)]

    def check_pdf(self, data: bytes) -> None:
        if b"%%EOF" not in data:
            raise InvalidInput("Le fichier est un PDF endommagé : il n'est pas intégré.")

    def validate(self, data: bytes) -> list[tuple[str, str, str, str]]:
        return []


@pytest.fixture
def env() -> tuple[DocumentService, FakeUnitOfWorkFactory, FakeReader, FakeRenderer]:
    uow = FakeUnitOfWorkFactory()
    uow.store.structures.append(CABINET)
    patient = make_patient()
    uow.store.patients[42] = replace(patient, version=1)
    uow.store.patients[43] = replace(make_patient(patient_id=43, birth_name="LEGRAND", qualified=False), version=1)
    reader, renderer = FakeReader(), FakeRenderer()
    clock = MutableClock(NOW)
    service = DocumentService(uow, renderer, reader, clock, CurrentUser(MIDWIFE))
    return service, uow, reader, renderer


def received(document_id: str, set_id: str, version: int, *, patient_id: int = 42, **changes: object) -> ReceivedCda:
    snapshot = snapshot_of(make_patient(patient_id=patient_id))
    base = ReceivedCda(
        document_id=document_id,
        set_id=set_id,
        version=version,
        type_code="11488-4",
        type_system="2.16.840.1.113883.6.1",
        type_display="CR ou fiche de consultation ou de visite",
        title=f"CR {document_id} v{version}",
        act_date_iso="2026-11-20T10:00:00+01:00",
        confidentiality="N",
        patient=snapshot,
        author_name="Jean DUPUIS",
        replaces_document_id="",
        model="",
        structured=False,
        cda=f"<cda {document_id}/>".encode(),
        pdf=b"%PDF-1.4 x %%EOF",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_draft_is_prefilled_from_the_record_and_traced(env: tuple) -> None:
    service, uow, _, _ = env
    doc = service.create_draft(42, "96349-6")
    assert doc.value("destinataire") == "Dr Jean DUPUIS"
    assert doc.patient.birth_name == "DUPONT" and doc.patient.qualified
    assert doc.author is not None and doc.author.structure_name == "Cabinet des Tilleuls"
    assert doc.status is DocumentStatus.DRAFT and doc.provenance is Provenance.PRODUCED
    assert any(e.action is AuditAction.DOCUMENT_WRITE for e, _ in uow.store.audit)


def test_edit_validate_freeze_and_render(env: tuple) -> None:
    service, uow, _, _ = env
    doc = service.create_draft(42, "11488-4")
    with pytest.raises(InvalidInput) as missing:
        service.validate_document(doc.id, doc.row_version)
    assert "motif" in missing.value.field_errors and "conclusion" in missing.value.field_errors
    with pytest.raises(InvalidInput):
        service.render(doc.id, DocumentFormat.PDF)
    doc = service.edit_draft(
        doc.id, doc.row_version, title="CR", act_date=dt.date(2026, 11, 26), values={"motif": "m", "conclusion": "c"}
    )
    assert doc.act_date.date() == dt.date(2026, 11, 26)
    done = service.validate_document(doc.id, doc.row_version)
    assert done.status is DocumentStatus.VALIDATED
    assert uow.store.health_documents[done.id][1].pdf.startswith(b"%PDF")
    assert uow.store.health_documents[done.id][1].cda.startswith(b"<N1")
    with pytest.raises(PermissionDenied):
        service.edit_draft(done.id, done.row_version, title="autre")
    assert service.render(done.id, DocumentFormat.PDF).file_name == "20261126_CR_consultation_DUPONT_Marie_42.pdf"
    with pytest.raises(InvalidInput):
        service.render(done.id, DocumentFormat.CDA_N3)
    assert service.render(done.id, DocumentFormat.XDM).data.startswith(b"PK")
    opened = service.open_document(done.id)
    assert opened.pdf is not None and opened.html.startswith("<html>") and opened.newer_version_notice == ""


def test_new_version_supersedes_the_old_one(env: tuple) -> None:
    service, _, _, _ = env
    first = service.create_draft(42, "87273-9", COMPLETE)
    assert first.model == "VAC-NOTE_2023.01"
    first = service.validate_document(first.id, first.row_version)
    second = service.new_version(first.id)
    assert second.set_id == first.set_id and second.version == 2 and second.replaces_document_id == first.document_id
    assert second.value("lot") == COMPLETE["lot"]
    with pytest.raises(PermissionDenied):
        service.new_version(first.id)
    second = service.validate_document(second.id, second.row_version)
    rows = {r.id: r for r in service.list_documents(42)}
    assert rows[first.id].superseded and not rows[second.id].superseded
    assert rows[second.id].has_structured_body
    assert "version 2" in service.open_document(first.id).newer_version_notice


def test_secretary_cannot_write_a_document(env: tuple) -> None:
    service, uow, _, _ = env
    from tests.documents_support import SECRETARY

    service._current_user = CurrentUser(SECRETARY)
    with pytest.raises(PermissionDenied):
        service.create_draft(42, "11488-4")
    assert uow.store.health_documents == {}


def test_import_duplicate_rules(env: tuple) -> None:
    service, uow, reader, _ = env
    v1, v2, v3 = received("d1", "s1", 1), received("d2", "s1", 2), received("d3", "s1", 3)
    for item in (v1, v2, v3):
        reader.known[item.cda] = item
    report = service.import_file(42, "v2.xml", v2.cda)
    assert report.integrated == 1 and report.outcomes[0].verdict is DuplicateVerdict.NEW
    again = service.import_file(42, "v2.xml", v2.cda)
    assert again.integrated == 0 and again.outcomes[0].verdict is DuplicateVerdict.SAME_DOCUMENT
    older = service.import_file(42, "v1.xml", v1.cda)
    assert older.integrated == 0 and older.outcomes[0].verdict is DuplicateVerdict.OLDER_THAN_PRESENT
    proposal = service.import_file(42, "v3.xml", v3.cda)
    assert proposal.integrated == 0 and proposal.outcomes[0].verdict is DuplicateVerdict.REPLACES_OLDER
    assert "confirmez" in proposal.outcomes[0].message_fr
    confirmed = service.import_file(42, "v3.xml", v3.cda, replace_older=True, provenance=Provenance.MSSANTE)
    assert confirmed.integrated == 1
    rows = service.list_documents(42)
    assert [(r.version, r.superseded) for r in sorted(rows, key=lambda r: r.version)] == [(2, True), (3, False)]
    assert {r.provenance for r in rows} == {Provenance.IMPORTED, Provenance.MSSANTE}
    refused = [e for e, _ in uow.store.audit if e.action is AuditAction.DOCUMENT_IMPORT and e.outcome != "ok"]
    assert len(refused) == 3


def test_import_for_another_patient_is_refused_traced_and_nothing_saved(env: tuple) -> None:
    service, uow, reader, _ = env
    stranger = make_patient(patient_id=43, birth_name="LEGRAND", qualified=False)
    other = received("x", "y", 1, patient=snapshot_of(stranger))
    reader.known[other.cda] = other
    with pytest.raises(InvalidInput) as info:
        service.import_file(42, "autre.xml", other.cda)
    assert "autre patient" in info.value.message_fr
    assert uow.store.health_documents == {}
    traces = [e for e, _ in uow.store.audit if e.action is AuditAction.DOCUMENT_IMPORT]
    assert traces and traces[-1].outcome == "refuse"


def test_an_archive_is_integrated_whole_or_not_at_all(env: tuple) -> None:
    service, uow, reader, _ = env
    good = received("g", "g", 1)
    reader.known[good.cda] = good
    with pytest.raises(InvalidInput):
        service.import_file(42, "IHE_XDM.ZIP", b"PK\x03\x04" + good.cda + b"|<pas du cda/>")
    assert uow.store.health_documents == {}


def test_pdf_import_and_dedup_and_bad_pdf(env: tuple) -> None:
    service, _, _, _ = env
    pdf = b"%PDF-1.4 contenu %%EOF"
    assert service.import_file(42, "compte-rendu.pdf", pdf, type_code="11488-4").integrated == 1
    assert service.import_file(42, "copie.pdf", pdf).outcomes[0].verdict is DuplicateVerdict.SAME_DOCUMENT
    with pytest.raises(InvalidInput):
        service.import_file(42, "faux.pdf", b"MZ\x90\x00 not a pdf")
    with pytest.raises(InvalidInput):
        service.import_file(42, "vide.xml", b"")
    rows = service.list_documents(42)
    assert len(rows) == 1 and rows[0].title == "compte-rendu" and rows[0].type_code == "11488-4"


def test_prescription_of_products_is_n3_only_with_structured_lines(env: tuple) -> None:
    import json

    from tests.documents_support import LINES

    service, uow, _, renderer = env
    doc = service.create_draft(42, "57833-6", {"produits": "Paracétamol 1 g, 3 fois par jour"})
    assert doc.model == "" and DocumentFormat.CDA_N3 not in doc.formats
    with pytest.raises(InvalidInput) as bad:
        service.edit_draft(doc.id, doc.row_version, values={"lignes": '[{"libelle": "X"}]'})
    assert set(bad.value.field_errors) == {"lignes"} and "champ(s) manquant(s)" in bad.value.field_errors["lignes"]
    assert service.get(doc.id).value("lignes") == ""  # nothing half-saved
    doc = service.edit_draft(doc.id, doc.row_version, values={"lignes": json.dumps(LINES)})
    assert doc.model == "EP-MED-DM_2024.01" and doc.formats[0] is DocumentFormat.CDA_N3
    done = service.validate_document(doc.id, doc.row_version)
    assert uow.store.health_documents[done.id][1].cda.startswith(b"<N3")
    assert service.list_documents(42)[0].has_structured_body
    assert service.render(done.id, DocumentFormat.CDA_N1).data.startswith(b"<N1")  # the N1 stays available
    free = service.create_draft(42, "57833-6", {"produits": "Paracétamol"})
    free = service.validate_document(free.id, free.row_version)
    assert uow.store.health_documents[free.id][1].cda.startswith(b"<N1")
    with pytest.raises(InvalidInput):
        service.render(free.id, DocumentFormat.CDA_N3)
    assert renderer.calls.count("n3") == 1
