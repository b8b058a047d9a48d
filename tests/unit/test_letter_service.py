"""LetterService with the fake unit of work: template → merged draft → autosave → validated health document."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from app.services.documents import DocumentService
from app.services.letters import LetterService
from app.session import CurrentUser
from domain.audit import AuditAction
from domain.document_ports import ReceivedCda
from domain.documents import DocumentStatus, HealthDocument
from domain.errors import InvalidInput, NotFound, PermissionDenied
from domain.letters import MAX_LETTER_CHARS, Civility, Correspondent, LetterStatus
from domain.patient import CareRole
from tests.documents_support import CABINET, MIDWIFE, NOW, SECRETARY, make_patient
from tests.fakes import FakeUnitOfWorkFactory, MutableClock

TEMPLATES = Path(__file__).resolve().parents[2] / "resources" / "letters"


class PdfRenderer:
    """Keeps what it was asked to render; the PDF carries the body so that the test can read it back."""

    def __init__(self) -> None:
        self.rendered: list[HealthDocument] = []

    def pdf(self, document: HealthDocument, *, rgpd_footer: str) -> bytes:
        self.rendered.append(document)
        return b"%PDF-1.4 " + document.value("corps_html").encode() + b"\n%%EOF"

    def cda_n1(self, document: HealthDocument, pdf: bytes) -> bytes:
        return b"<ClinicalDocument/>"

    def cda_n3(self, document: HealthDocument, pdf: bytes) -> bytes:
        raise AssertionError("a letter has no N3")

    def xdm(self, items: Sequence[tuple[HealthDocument, bytes, str]], *, sender: str) -> bytes:
        return b"PK"

    def html(self, cda: bytes) -> str:
        return ""


class NoReader:
    def read_cda(self, data: bytes) -> ReceivedCda:
        raise AssertionError

    def read_xdm(self, data: bytes) -> list[tuple[str, bytes]]:
        raise AssertionError

    def check_pdf(self, data: bytes) -> None:
        raise AssertionError

    def validate(self, data: bytes) -> list[tuple[str, str, str, str]]:
        return []


@pytest.fixture
def env() -> tuple[LetterService, FakeUnitOfWorkFactory, PdfRenderer, CurrentUser]:
    uow = FakeUnitOfWorkFactory()
    uow.store.structures.append(CABINET)
    uow.store.patients[42] = replace(make_patient(), version=1)
    renderer = PdfRenderer()
    clock = MutableClock(NOW)
    user = CurrentUser(MIDWIFE)
    documents = DocumentService(uow, renderer, NoReader(), clock, user)
    return LetterService(uow, documents, clock, user, TEMPLATES), uow, renderer, user


def test_shipped_templates_are_offered(env: tuple) -> None:
    letters, *_ = env
    keys = [t.key for t in letters.templates()]
    assert {"adressage_medecin", "compte_rendu_fin_prise_en_charge", "demande_renouvellement", "courrier_libre"} <= set(
        keys
    )
    assert all(t.origin == "ressource" for t in letters.templates())
    with pytest.raises(NotFound):
        letters.template("absent")


def test_template_to_merged_draft_to_validated_document_with_a_pdf(env: tuple) -> None:
    letters, uow, _renderer, _user = env
    (doctor,) = letters.patient_correspondents(42)  # the médecin traitant of the patient file
    assert doctor.role is CareRole.ATTENDING_DOCTOR and doctor.correspondent_id is None
    draft = letters.new_letter(42, "adressage_medecin", doctor)
    assert draft.status is LetterStatus.DRAFT and draft.subject == "Adressage de Madame Marie MARTIN"
    assert draft.body_html.startswith("<p>Docteur,</p><p>Je vous adresse Madame Marie MARTIN, né(e) le 12/03/1985")
    assert draft.recipient.startswith("Dr Jean DUPUIS")

    typed = draft.body_html + "<p><b>Important</b> : suivi de {{patient.nom}} par {{praticien.nom}}</p>"
    saved = letters.save_draft(draft.id, draft.row_version, body_html=typed)
    assert saved.notices == () and "{{patient.nom}}" in saved.letter.body_html  # fields stay until validation

    validated = letters.validate(saved.letter.id, saved.letter.row_version)
    assert validated.status is LetterStatus.VALIDATED
    document = uow.store.health_documents[validated.document_row_id][0]
    assert document.type_code == "96349-6" and document.status is DocumentStatus.VALIDATED
    assert document.title == "Lettre d'adressage"
    assert document.value("motif") == "Adressage de Madame Marie MARTIN"
    assert document.value("destinataire").startswith("Dr Jean DUPUIS")
    assert "<b>Important</b> : suivi de MARTIN par Léa MOREAU" in document.value("corps_html")
    assert "Important : suivi de MARTIN par Léa MOREAU" in document.value("corps")
    pdf = letters.pdf(validated.id)
    assert pdf.data.startswith(b"%PDF") and b"<b>Important</b>" in pdf.data
    assert pdf.file_name.startswith("20261127_Lettre_adressage_DUPONT_Marie_42")
    with pytest.raises(PermissionDenied):
        letters.save_draft(validated.id, validated.row_version, title="modifié")
    actions = [event.action for event, _ in uow.store.audit]
    assert actions.count(AuditAction.DOCUMENT_WRITE) >= 3  # letter created, document produced, letter validated


def test_validation_refusals_produce_nothing(env: tuple) -> None:
    letters, uow, renderer, _user = env
    draft = letters.new_letter(42, "courrier_libre", None)
    with pytest.raises(InvalidInput) as error:
        letters.validate(draft.id, draft.row_version)
    assert set(error.value.field_errors) == {"recipient"}
    saved = letters.save_draft(
        draft.id, draft.row_version, recipient="Dr Jean DUPUIS", body_html="<p>{{patient.poids}}</p>"
    )
    with pytest.raises(InvalidInput) as error:
        letters.validate(saved.letter.id, saved.letter.row_version)
    assert "{{patient.poids}}" in error.value.field_errors["corps"]
    long = letters.save_draft(
        saved.letter.id, saved.letter.row_version, body_html="<p>" + "mot " * (MAX_LETTER_CHARS // 4 + 10) + "</p>"
    )
    assert "trop long pour être validé" in long.notices[-1]  # the draft is saved anyway
    assert letters.letter(draft.id).row_version == long.letter.row_version
    with pytest.raises(InvalidInput) as error:
        letters.validate(long.letter.id, long.letter.row_version)
    assert "30 pages" in error.value.field_errors["corps"]
    assert uow.store.health_documents == {} and renderer.rendered == []


def test_pasted_images_are_dropped_with_a_message(env: tuple) -> None:
    letters, *_ = env
    draft = letters.new_letter(42, "courrier_libre", None)
    saved = letters.save_draft(
        draft.id, draft.row_version, body_html='<p>Photo :</p><img src="data:image/png;base64,AA">'
    )
    assert "Les images collées ne sont pas conservées" in saved.notices[0]
    assert "img" not in saved.letter.body_html


def test_correspondents_book_and_links(env: tuple) -> None:
    letters, _uow, _renderer, user = env
    saved = letters.save_correspondent(
        Correspondent(
            None, "DUPUIS", "Jean", Civility.DOCTOR, "Médecin généraliste", address="2 rue Haute\n51100 Reims"
        )
    )
    pharmacy = letters.save_correspondent(Correspondent(None, "Pharmacie de la Gare", profession="Pharmacie"))
    assert [c.id for c in letters.search_correspondents("pharma")] == [pharmacy.id]
    letters.link(42, saved.id, CareRole.ATTENDING_DOCTOR)
    letters.link(42, pharmacy.id)
    found = letters.patient_correspondents(42)
    # the médecin traitant of the patient file is the book's DUPUIS: one entry, with the book's address
    assert [(r.display_name, r.role, r.correspondent_id) for r in found] == [
        ("Dr Jean DUPUIS", CareRole.ATTENDING_DOCTOR, saved.id),
        ("Pharmacie de la Gare", CareRole.CORRESPONDENT, pharmacy.id),
    ]
    with pytest.raises(InvalidInput) as error:
        letters.save_correspondent(Correspondent(None, "X", mssante_address="x@gmail.com"))
    assert "mssante_address" in error.value.field_errors
    user.set(SECRETARY)
    with pytest.raises(PermissionDenied):
        letters.new_letter(42, "courrier_libre", None)


def test_a_failure_while_producing_the_document_leaves_the_letter_a_draft_and_no_document(env: tuple) -> None:
    letters, uow, renderer, _user = env
    (doctor,) = letters.patient_correspondents(42)
    draft = letters.new_letter(42, "adressage_medecin", doctor)

    def broken_pdf(document: HealthDocument, *, rgpd_footer: str) -> bytes:
        raise RuntimeError("police introuvable")

    renderer.pdf = broken_pdf
    with pytest.raises(RuntimeError):
        letters.validate(draft.id, draft.row_version)
    assert uow.store.health_documents == {}  # no orphan draft in the Documents tab
    with uow() as work:
        assert work.letters.letter(draft.id).status is LetterStatus.DRAFT
