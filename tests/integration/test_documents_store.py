"""Documents in the SQL store (SQLite and PostgreSQL) with the real CDA/PDF adapters: produce, version,
export, import with checks and duplicate rules, and refusal of bad input with nothing integrated."""

from __future__ import annotations

import base64
import io
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.cda.documents import CdaDocumentReader, CdaDocumentRenderer
from adapters.db.database import open_database
from adapters.db.repositories import SqlUnitOfWorkFactory
from app.services.documents import DocumentService
from app.session import CurrentUser
from domain.audit import AuditAction
from domain.documents import DocumentFormat, DocumentStatus, DuplicateVerdict, Provenance
from domain.errors import InvalidInput
from domain.practice import DEFAULT_IDENTITY_DOCUMENT_TYPES
from tests.documents_support import CABINET, COMPLETE, MIDWIFE, NOW, make_patient
from tests.fakes import MutableClock

READER = CdaDocumentReader()
RENDERER = CdaDocumentRenderer(application_version="test")


@pytest.fixture
def env(database_url: str) -> tuple[DocumentService, SqlUnitOfWorkFactory, int, int]:
    engine, _ = open_database(database_url)
    uow = SqlUnitOfWorkFactory(engine)
    with uow() as work:
        for doc_type in DEFAULT_IDENTITY_DOCUMENT_TYPES:
            work.practice.save_identity_document_type(doc_type)
        structure = work.practice.add_structure(replace(CABINET, id=None))
        work.practice.add_user(replace(MIDWIFE, id=None, structure_id=structure))
        qualified = work.patients.add(replace(make_patient(), id=None))
        other = work.patients.add(replace(make_patient(birth_name="LEGRAND", qualified=False), id=None))
        work.commit()
        user = work.practice.user_by_login("sf")
    service = DocumentService(uow, RENDERER, READER, MutableClock(NOW), CurrentUser(user))
    yield service, uow, qualified, other
    engine.dispose()


def _produce(service: DocumentService, patient_id: int, code: str) -> int:
    draft = service.create_draft(patient_id, code, COMPLETE)
    return service.validate_document(draft.id or 0, draft.row_version).id or 0


def _traces(uow: SqlUnitOfWorkFactory, action: AuditAction) -> list[object]:
    with uow() as work:
        return [e for e in work.audit.list(limit=500) if e.action is action]


def test_produce_version_export_and_reimport(env: tuple) -> None:
    service, _, patient, other = env
    vac = _produce(service, patient, "87273-9")
    stored = service.get(vac)
    assert stored.status is DocumentStatus.VALIDATED and stored.patient.qualified
    opened = service.open_document(vac)
    assert opened.pdf is not None and opened.pdf.startswith(b"%PDF") and opened.structured
    assert "NOTE DE VACCINATION" in opened.html
    n3 = service.render(vac, DocumentFormat.CDA_N3)
    assert n3.file_name.endswith("_N3.xml") and service.check_file(n3.data) == []
    n1 = service.render(vac, DocumentFormat.CDA_N1)
    assert [f for f in service.check_file(n1.data) if f[0] == "error"] == []
    xdm = service.render(vac, DocumentFormat.XDM)
    assert zipfile.ZipFile(io.BytesIO(xdm.data)).namelist()[-1] == "IHE_XDM/SUBSET01/DOC00001.XML"

    second = service.new_version(vac)
    second = service.validate_document(second.id or 0, second.row_version)
    rows = {r.id: r for r in service.list_documents(patient)}
    assert rows[vac].superseded and not rows[second.id].superseded and rows[second.id].version == 2
    files = service.export(patient, DocumentFormat.PDF)
    assert [f.file_name for f in files] == ["20261127_Note_de_vaccination_DUPONT_Marie_1.pdf"]

    # The record's own documents are refused again (same id); another patient's document is refused.
    again = service.import_file(patient, n3.file_name, n3.data)
    assert again.integrated == 0 and again.outcomes[0].verdict is DuplicateVerdict.SAME_DOCUMENT
    with pytest.raises(InvalidInput) as info:
        service.import_file(other, n3.file_name, n3.data)
    assert "autre patient" in info.value.message_fr
    assert service.list_documents(other) == []


def test_import_received_versions_and_provenance(env: tuple) -> None:
    service, _, patient, _ = env
    # Documents produced elsewhere: build them with the renderer, never stored here.
    from tests.documents_support import validated

    v1 = validated("11488-4", patient=replace(make_patient(), id=patient))
    v2 = v1.next_version(at=NOW, author=v1.author, patient=v1.patient)  # type: ignore[arg-type]
    v2 = v2.validate(at=NOW, actor="x", patient=v2.patient)
    pdf = RENDERER.pdf(v1, rgpd_footer="")
    cda1, cda2 = RENDERER.cda_n1(v1, pdf), RENDERER.cda_n1(v2, pdf)
    first = service.import_file(patient, "cr.xml", cda1, provenance=Provenance.MSSANTE)
    assert first.integrated == 1
    assert service.import_file(patient, "cr.xml", cda1).outcomes[0].verdict is DuplicateVerdict.SAME_DOCUMENT
    proposal = service.import_file(patient, "cr2.xml", cda2)
    assert proposal.integrated == 0 and proposal.outcomes[0].verdict is DuplicateVerdict.REPLACES_OLDER
    archive = RENDERER.xdm([(v2, cda2, "n1")], sender="Dr X")
    done = service.import_file(patient, "IHE_XDM.ZIP", archive, provenance=Provenance.DMP, replace_older=True)
    assert done.integrated == 1
    rows = sorted(service.list_documents(patient), key=lambda r: r.version)
    assert [(r.version, r.provenance, r.superseded) for r in rows] == [
        (1, Provenance.MSSANTE, True),
        (2, Provenance.DMP, False),
    ]
    opened = service.open_document(rows[0].id)
    assert "version 2" in opened.newer_version_notice and opened.pdf == pdf
    assert service.render(rows[1].id, DocumentFormat.CDA_N1).data == cda2


def _assert_refused(service: DocumentService, uow: SqlUnitOfWorkFactory, patient: int, name: str, data: bytes) -> str:
    before = len(_traces(uow, AuditAction.DOCUMENT_IMPORT))
    with pytest.raises(InvalidInput) as info:
        service.import_file(patient, name, data)
    assert service.list_documents(patient) == []
    traces = _traces(uow, AuditAction.DOCUMENT_IMPORT)
    assert len(traces) == before + 1 and traces[0].outcome == "refuse"  # type: ignore[attr-defined]
    return info.value.message_fr


def _zip(entries: list[tuple[str, bytes]], compression: int = zipfile.ZIP_STORED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=compression) as archive:
        for name, data in entries:
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return out.getvalue()


def test_bad_input_is_refused_with_a_clear_message_and_a_trace(env: tuple, tmp_path: Path) -> None:
    service, uow, patient, _ = env
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        b"<ClinicalDocument>&lol2;</ClinicalDocument>"
    )
    external = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b'<ClinicalDocument xmlns="urn:hl7-org:v3">&xxe;</ClinicalDocument>'
    )
    assert "bien formé" in _assert_refused(
        service, uow, patient, "a.xml", b"<ClinicalDocument><oops></ClinicalDocument>"
    )
    assert "DOCTYPE" in _assert_refused(service, uow, patient, "laughs.xml", laughs)
    assert "DOCTYPE" in _assert_refused(service, uow, patient, "xxe.xml", external)
    huge = b'<ClinicalDocument xmlns="urn:hl7-org:v3"><text>' + b"A" * (200 * 1024 * 1024) + b"</text>"
    assert "volumineux" in _assert_refused(service, uow, patient, "huge.xml", huge)
    del huge
    assert "PDF" in _assert_refused(service, uow, patient, "faux.pdf", b"MZ\x90\x00 un executable")
    assert "endommagé" in _assert_refused(service, uow, patient, "casse.pdf", b"%PDF-1.4\n1 0 obj <<>> trailer")
    not_cda = b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"/>'
    assert "CDA" in _assert_refused(service, uow, patient, "page.xml", not_cda)

    from tests.documents_support import validated

    doc = validated("11488-4", patient=replace(make_patient(), id=patient))
    cda = RENDERER.cda_n1(doc, RENDERER.pdf(doc, rgpd_footer=""))
    start = cda.index(b'representation="B64">') + len(b'representation="B64">')
    end = cda.index(b"</text>", start)
    not_a_pdf = cda[:start] + base64.b64encode(b"MZ pas un pdf") + cda[end:]
    assert "PDF" in _assert_refused(service, uow, patient, "n1.xml", not_a_pdf)
    good_archive = RENDERER.xdm([(doc, cda, "n1")], sender="x")
    with zipfile.ZipFile(io.BytesIO(good_archive)) as opened:
        members = [(i.filename, opened.read(i)) for i in opened.infolist()]
    for bad in ("../../etc/passwd", "/etc/passwd", "C:/Windows/x.xml", "IHE_XDM/SUBSET01/../../x"):
        message = _assert_refused(service, uow, patient, "IHE_XDM.ZIP", _zip([*members, (bad, b"x")]))
        assert "chemin interdit" in message
    duplicate = _zip([*members, ("IHE_XDM/SUBSET01/DOC00001.XML", cda)])
    assert "deux fois" in _assert_refused(service, uow, patient, "IHE_XDM.ZIP", duplicate)
    bomb = _zip([*members, ("IHE_XDM/SUBSET01/BOMB.BIN", b"\0" * (40 * 1024 * 1024))], zipfile.ZIP_DEFLATED)
    assert "piégée" in _assert_refused(service, uow, patient, "IHE_XDM.ZIP", bomb)
    tampered = _zip([(n, (d + b" ") if n.endswith("DOC00001.XML") else d) for n, d in members])
    assert "altérée" in _assert_refused(service, uow, patient, "IHE_XDM.ZIP", tampered)
    assert "ZIP" in _assert_refused(service, uow, patient, "IHE_XDM.ZIP", b"PK\x03\x04 tronque")
    stranger = validated("11488-4", patient=make_patient(birth_name="AUTRE", qualified=False))
    stranger_cda = RENDERER.cda_n1(stranger, RENDERER.pdf(stranger, rgpd_footer=""))
    mixed = RENDERER.xdm([(doc, cda, "n1"), (stranger, stranger_cda, "n1")], sender="x")
    assert "autre patient" in _assert_refused(service, uow, patient, "IHE_XDM.ZIP", mixed)
    invalid = cda.replace(b'<versionNumber value="1"/>', b"<versionNumber/>")
    assert "incomplet" in _assert_refused(service, uow, patient, "v.xml", invalid)
    off_schema = cda.replace(b"<title>", b"<titre>x</titre><title>")
    assert "schéma CDA" in _assert_refused(service, uow, patient, "s.xml", off_schema)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.one_of(st.binary(max_size=2048), st.text(max_size=1024).map(str.encode)),
    kind=st.sampled_from(["xml", "zip", "pdf"]),
)
def test_importers_never_crash_nor_integrate_garbage(env: tuple, data: bytes, kind: str) -> None:
    service, _, patient, _ = env
    prefix = {
        "xml": b'<?xml version="1.0"?><ClinicalDocument xmlns="urn:hl7-org:v3">',
        "zip": b"PK\x03\x04",
        "pdf": b"%PDF-1.4\n",
    }
    try:
        service.import_file(patient, f"fuzz.{kind}", prefix[kind] + data)
    except InvalidInput as exc:
        assert exc.message_fr
    assert service.list_documents(patient) == []
