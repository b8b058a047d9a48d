"""PrescriptionService with fakes: scope-restricted search, drafts, validation into a health document, renewal,
and the allergy alert of decision support fed by the prescription lines."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from app.services.documents import DocumentService
from app.services.prescriptions import PrescriptionCatalog, PrescriptionService
from app.services.record import RecordService
from app.session import CurrentUser
from domain.audit import AuditAction
from domain.documents import DocumentStatus
from domain.errors import ConflictError, InvalidInput, PermissionDenied
from domain.practice import Profession, UserAccount, UserRole
from domain.prescriptions import PRODUCTS_KIND, Medicine, PrescriptionLine, PrescriptionStatus
from domain.record import EntryKind
from tests.documents_support import CABINET, NOW, SECRETARY, make_patient
from tests.fakes import FakeUnitOfWorkFactory, MutableClock
from tests.unit.test_document_service import FakeReader, FakeRenderer

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
NURSE = UserAccount(3, "ide", "Camille DURAND (IDE)", UserRole.PRACTITIONER, 1, Profession.NURSE, "10101010101")
MIDWIFE = UserAccount(4, "sf", "Léa MOREAU (sage-femme)", UserRole.PRACTITIONER, 1, Profession.MIDWIFE, "10101010103")


class NoAttachments:
    """The record's attachment store is not used by these tests."""

    def put(self, name: str, data: bytes) -> tuple[str, str]:
        raise AssertionError("not used")

    def get(self, sha256: str) -> bytes:
        raise AssertionError("not used")


class FakeMedicines:
    """A two-medicine BDPM."""

    def __init__(self) -> None:
        self.items = {
            "60234100": Medicine("60234100", "DOLIPRANE 1000 mg, comprimé", presentations=(("3400930000000", "x"),)),
            "11111111": Medicine("11111111", "AMOXICILLINE FICTIVE 1 g, comprimé"),
        }

    def available(self) -> bool:
        return True

    def search(self, query: str, limit: int) -> list[Medicine]:
        return [m for m in self.items.values() if query.lower().split()[0] in m.label.lower()][:limit]

    def by_cis(self, cis: str) -> Medicine | None:
        return self.items.get(cis)


class Env:
    def __init__(self, user: UserAccount = NURSE, medicines: FakeMedicines | None = None) -> None:
        self.uow = FakeUnitOfWorkFactory()
        self.uow.store.structures.append(CABINET)
        self.uow.store.patients[42] = replace(make_patient(), version=1)
        self.clock = MutableClock(NOW)
        self.user = CurrentUser(user)
        self.renderer = FakeRenderer()
        self.documents = DocumentService(self.uow, self.renderer, FakeReader(), self.clock, self.user)
        self.catalog = PrescriptionCatalog(RESOURCES / "prescription")
        self.service = PrescriptionService(self.uow, self.documents, self.clock, self.user, self.catalog, medicines)

    def line(self, fragment: str, **changes: object) -> PrescriptionLine:
        choice = next(c for c in self.service.search_products(fragment) if fragment in c.product.label)
        return replace(self.service.line_for(choice), **changes)  # type: ignore[arg-type]


def test_search_lists_what_the_profession_may_prescribe_first_and_explains_the_rest() -> None:
    env = Env()
    choices = env.service.search_products("paracétamol")
    assert choices and all(not c.allowed for c in choices)
    assert "n'est pas dans le champ de prescription de la profession Infirmier(ère) (IDE)" in choices[0].reason
    mixed = env.service.search_products("compresses")
    assert mixed[0].allowed and mixed[0].category_label.startswith("Articles pour pansements")
    named = [c.product.label.startswith("Compresses") for c in mixed]
    assert named[:5] == [True] * 5 and not named[-1]  # by name first, then the rest of the category
    with pytest.raises(InvalidInput, match="n'est pas dans le champ"):
        env.service.line_for(choices[0])
    info = env.service.scope_info()
    assert info.kinds == ((PRODUCTS_KIND, "Prescription de produits de santé"),) and not info.medicines_database


def test_secretary_may_not_prescribe() -> None:
    env = Env(SECRETARY)
    with pytest.raises(PermissionDenied):
        env.service.search_products("compresses")


def test_draft_then_validate_produces_the_document_with_structured_lines() -> None:
    env = Env()
    compresses = env.line("Compresses stériles non tissées 10", quantity="2 boîtes", duration_days=15, renewals=1)
    patch = env.line("Nicotine, dispositif transdermique 21", duration_days=28, non_substitutable=True)
    draft = env.service.save_draft(42, PRODUCTS_KIND, [compresses, patch], "Soins à domicile.")
    assert draft.status is PrescriptionStatus.DRAFT and draft.row_version == 1 and len(draft.lines) == 2
    assert not env.documents.list_documents(42)  # no document before validation

    done = env.service.validate(draft.id or 0, draft.row_version)
    assert done.status is PrescriptionStatus.VALIDATED and done.document_row_id is not None
    doc = env.documents.get(done.document_row_id)
    assert doc.type_code == PRODUCTS_KIND and doc.status is DocumentStatus.VALIDATED
    assert "1. Compresses stériles non tissées 10 x 10 cm" in doc.value("produits")
    assert "à renouveler 1 fois" in doc.value("produits") and "non substituable" in doc.value("produits")
    assert doc.value("mentions") == "Soins à domicile."
    lines = json.loads(doc.value("lignes"))
    assert [set(item) for item in lines] == [
        {
            "libelle",
            "cis",
            "cip13",
            "atc",
            "lpp",
            "posologie",
            "duree_jours",
            "quantite",
            "renouvellements",
            "non_substituable",
            "ald",
        }
    ] * 2
    assert lines[1]["atc"] == "N07BA01" and lines[1]["non_substituable"] is True and lines[0]["duree_jours"] == 15
    assert "pdf" in env.renderer.calls
    actions = [e.detail for e, _ in env.uow.store.audit if e.action is AuditAction.PRESCRIPTION_WRITE]
    assert actions[0]["brouillon"] == draft.id and actions[-1]["validation"] == draft.id

    with pytest.raises(PermissionDenied, match="validée"):
        env.service.save_draft(42, PRODUCTS_KIND, [compresses], prescription_id=draft.id, row_version=done.row_version)
    renewed = env.service.renew(draft.id or 0)
    assert renewed.status is PrescriptionStatus.DRAFT and renewed.renews_id == draft.id
    assert [line.label for line in renewed.lines] == [line.label for line in done.lines]
    assert {p.id for p in env.service.list_prescriptions(42)} == {renewed.id, draft.id}
    opened = env.service.open_document(draft.id or 0)
    assert opened.pdf is not None and opened.pdf.startswith(b"%PDF")


def test_refused_draft_saves_nothing_and_conflicts_are_detected() -> None:
    env = Env()
    bad = env.line("Compresses stériles non tissées 10", duration_days=400)
    with pytest.raises(InvalidInput) as caught:
        env.service.save_draft(42, PRODUCTS_KIND, [bad])
    assert "entre 1 et 365" in caught.value.field_errors["ligne1.duration_days"]
    assert env.service.list_prescriptions(42) == []
    draft = env.service.save_draft(42, PRODUCTS_KIND, [replace(bad, duration_days=10)])
    env.service.save_draft(42, PRODUCTS_KIND, [replace(bad, duration_days=12)], prescription_id=draft.id, row_version=1)
    with pytest.raises(ConflictError):
        env.service.save_draft(
            42, PRODUCTS_KIND, [replace(bad, duration_days=5)], prescription_id=draft.id, row_version=1
        )
    with pytest.raises(ConflictError):
        env.service.validate(draft.id or 0, 1)


def test_bdpm_medicines_are_searched_and_classified() -> None:
    env = Env(MIDWIFE, FakeMedicines())
    assert env.service.scope_info().medicines_database
    found = {c.product.label: c for c in env.service.search_products("amoxicilline")}
    assert not found["AMOXICILLINE FICTIVE 1 g, comprimé"].allowed
    assert "non classé" in found["AMOXICILLINE FICTIVE 1 g, comprimé"].reason
    doliprane = [c for c in env.service.search_products("doliprane") if c.product.cis == "60234100"]
    assert len(doliprane) == 1 and doliprane[0].allowed  # the shipped entry, not a twin from the BDPM
    unknown = PrescriptionLine("Inconnu", "cis:22222222", dosage="1 par jour")
    with pytest.raises(InvalidInput, match="produit inconnu"):
        env.service.save_draft(42, PRODUCTS_KIND, [unknown])


def test_allergy_alert_fires_for_a_prescribed_product_of_the_class() -> None:
    env = Env(MIDWIFE)
    record = RecordService(env.uow, env.clock, env.user, RESOURCES, NoAttachments())
    record.add_entry(42, EntryKind.ALLERGY, "Iode")
    assert not [a for a in record.alerts(42) if a.rule == "Allergie et produit"]
    iodine = env.line("Povidone iodée 10", duration_days=10)
    warnings = env.service.allergy_warnings(42, [iodine, env.line("DOLIPRANE")])
    assert len(warnings) == 1 and "Allergie à « Iode »" in warnings[0] and "Povidone" in warnings[0]
    draft = env.service.save_draft(42, PRODUCTS_KIND, [iodine])
    alerts = [a for a in record.alerts(42) if a.rule == "Allergie et produit"]
    assert len(alerts) == 1 and "prescription en cours de rédaction" in alerts[0].title
    env.service.validate(draft.id or 0, draft.row_version)
    alerts = [a for a in record.alerts(42) if a.rule == "Allergie et produit"]
    assert len(alerts) == 1 and "prescription du 27/11/2026" in alerts[0].title
    assert "iode" in alerts[0].explanation.lower()


def test_acts_prescription_of_a_physiotherapist() -> None:
    physio = UserAccount(5, "kine", "Paul (kiné)", UserRole.PRACTITIONER, 1, Profession.PHYSIOTHERAPIST, "10101010104")
    env = Env(physio)
    info = env.service.scope_info()
    act = env.service.line_for(info.acts[0])
    draft = env.service.save_draft(42, "PRESC-KINE", [replace(act, dosage="2 séances par semaine", duration_days=30)])
    done = env.service.validate(draft.id or 0, draft.row_version)
    doc = env.documents.get(done.document_row_id or 0)
    assert doc.type_code == "PRESC-KINE" and "2 séances par semaine" in doc.value("prescription")
    assert doc.value("duree") == "30 jours"


def test_a_failure_while_producing_the_document_leaves_neither_a_document_nor_a_frozen_prescription() -> None:
    env = Env()
    compresses = env.line("Compresses stériles non tissées 10", quantity="2 boîtes", duration_days=15)
    draft = env.service.save_draft(42, PRODUCTS_KIND, [compresses], "")

    def broken_pdf(document: object, *, rgpd_footer: str) -> bytes:
        raise RuntimeError("police introuvable")

    env.renderer.pdf = broken_pdf  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        env.service.validate(draft.id or 0, draft.row_version)
    assert env.documents.list_documents(42) == []  # no orphan draft in the Documents tab
    assert env.service.get(draft.id or 0).status is PrescriptionStatus.DRAFT
