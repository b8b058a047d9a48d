"""The demo health documents on the SQL store with the real adapters: every type (the prescription of health
products and the TROD in N3), documents of every provenance received through the import checks, the "sent"
flags, and every rendering exportable."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import pytest

from adapters.cda.documents import CdaDocumentReader, CdaDocumentRenderer
from adapters.cda.validation import CdaValidator
from adapters.db.database import open_database
from adapters.db.repositories import SqlUnitOfWorkFactory
from app.services.demo_documents import RECEIVED, install_demo_documents
from app.services.documents import DocumentService
from app.session import CurrentUser
from domain.audit import AuditAction
from domain.documents import DOCUMENT_KINDS, DocumentFormat, Provenance
from domain.identity import IdentityStatus
from domain.practice import DEFAULT_IDENTITY_DOCUMENT_TYPES
from tests.documents_support import CABINET, MIDWIFE, NOW, make_patient
from tests.fakes import MutableClock


@pytest.fixture
def demo(database_url: str) -> tuple[DocumentService, SqlUnitOfWorkFactory, int]:
    engine, _ = open_database(database_url)
    uow = SqlUnitOfWorkFactory(engine)
    with uow() as work:
        for doc_type in DEFAULT_IDENTITY_DOCUMENT_TYPES:
            work.practice.save_identity_document_type(doc_type)
        structure = work.practice.add_structure(replace(CABINET, id=None))
        work.practice.add_user(replace(MIDWIFE, id=None, structure_id=structure))
        patient_id = work.patients.add(replace(make_patient(), id=None))
        work.commit()
        user = work.practice.user_by_login("sf")
    service = DocumentService(
        uow, CdaDocumentRenderer(application_version="test"), CdaDocumentReader(), MutableClock(NOW), CurrentUser(user)
    )
    rows = [SimpleNamespace(id=patient_id, status=IdentityStatus.QUALIFIED)]
    patients = SimpleNamespace(search=lambda _text, limit: SimpleNamespace(rows=rows))
    made = install_demo_documents(service, patients, patient_count=1)  # type: ignore[arg-type]
    assert made == len(DOCUMENT_KINDS) + 1 + len(RECEIVED)
    yield service, uow, patient_id
    engine.dispose()


def test_demo_documents_cover_every_provenance_flag_and_format(demo: tuple) -> None:
    service, uow, patient_id = demo
    rows = service.list_documents(patient_id)
    assert {r.provenance for r in rows} == set(Provenance)
    by_type = {r.type_code: r for r in rows if r.provenance is Provenance.PRODUCED and not r.superseded}
    assert by_type["57833-6"].has_structured_body and by_type["96173-0"].has_structured_body
    assert by_type["96173-0"].sent_dmp and not by_type["96173-0"].sent_mss
    assert by_type["57833-6"].sent_mss and not by_type["57833-6"].sent_dmp
    received = [r for r in rows if r.provenance is not Provenance.PRODUCED]
    assert sorted(r.provenance.value for r in received) == ["dmp", "importe", "mssante"]
    assert all(r.author in ("Jean DUPUIS", "Paul GIRARD") for r in received)
    with uow() as work:
        imports = [e for e in work.audit.list(limit=500) if e.action is AuditAction.DOCUMENT_IMPORT]
    assert len(imports) == len(RECEIVED) and all(e.outcome == "ok" for e in imports)

    validator = CdaValidator()
    for code in ("57833-6", "96173-0", "87273-9"):
        (n3,) = service.export(patient_id, DocumentFormat.CDA_N3, code)
        report = validator.validate_bytes(n3.data)
        assert report.ok, (code, [f.line() for f in report.errors])
    for kind in DOCUMENT_KINDS:
        for fmt in DocumentFormat:
            files = service.export(patient_id, fmt, kind.code)
            expected = 0 if fmt is DocumentFormat.CDA_N3 and fmt not in kind.formats else 1
            # the received CR de consultation, bilan fonctionnel and letter are exported with the produced ones
            extra = sum(1 for r in received if r.type_code == kind.code and fmt is not DocumentFormat.CDA_N3)
            assert len(files) == expected + extra, (kind.code, fmt)
