"""Letters and the correspondents book in the SQL store (SQLite and PostgreSQL), with the real PDF pipeline."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from pathlib import Path

import pikepdf
import pytest

from adapters.cda.documents import CdaDocumentReader, CdaDocumentRenderer
from adapters.db.database import open_database
from adapters.db.repositories import SqlUnitOfWorkFactory
from app.dto import PatientForm
from app.services.documents import DocumentService
from app.services.letters import LetterService
from app.services.patients import PatientService
from app.session import CurrentUser
from domain.audit import AuditAction
from domain.errors import ConflictError, InvalidInput
from domain.letters import Civility, Correspondent, LetterStatus, recipient_of
from domain.patient import CareRole
from domain.practice import Profession, Structure, StructureKind, UserAccount, UserRole
from tests.fakes import FakeCog, MutableClock

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
CABINET = Structure(
    None,
    "Cabinet infirmier des Tilleuls",
    StructureKind.INDIVIDUAL_PRACTICE,
    address="12 rue des Tilleuls, 51100 Reims",
)


@pytest.fixture
def env(database_url: str) -> Iterator[tuple[LetterService, SqlUnitOfWorkFactory, int]]:
    engine, _ = open_database(database_url)
    uow = SqlUnitOfWorkFactory(engine)
    clock = MutableClock(dt.datetime(2026, 11, 27, 9, 30, tzinfo=dt.UTC))
    with uow() as work:
        structure_id = work.practice.add_structure(CABINET)
        work.commit()
    nurse = UserAccount(
        1, "ide", "Camille DURAND (IDE)", UserRole.PRACTITIONER, structure_id, Profession.NURSE, "10101010105"
    )
    user = CurrentUser(nurse)
    form = PatientForm(
        birth_name="Martin", birth_given_names="Jeanne", sex="F", birth_date="03/03/1950", birth_place_code="51454"
    )
    pid = PatientService(uow, FakeCog(), clock, user).create_patient(form).id
    documents = DocumentService(uow, CdaDocumentRenderer(application_version="test"), CdaDocumentReader(), clock, user)
    yield LetterService(uow, documents, clock, user, RESOURCES / "letters"), uow, pid
    engine.dispose()


def test_book_links_drafts_and_validation_in_the_store(env: tuple) -> None:
    letters, uow, pid = env
    doctor = letters.save_correspondent(
        Correspondent(
            None,
            "FONTAINE",
            "Claire",
            Civility.DOCTOR,
            "Médecin généraliste",
            rpps="10003456786",
            address="4 place d'Erlon\n51100 Reims",
            mssante_address="claire.fontaine@medecin.mssante.fr",
        )
    )
    letters.save_correspondent(
        Correspondent(None, "Pharmacie du Centre", profession="Pharmacie", address="51100 Reims")
    )
    assert [c.family_name for c in letters.search_correspondents("reims")] == ["FONTAINE", "Pharmacie du Centre"]
    assert [c.family_name for c in letters.search_correspondents("font")] == ["FONTAINE"]
    with pytest.raises(InvalidInput) as error:
        letters.save_correspondent(Correspondent(None, "AUTRE", rpps="10003456786"))
    assert "déjà" in error.value.field_errors["rpps"]

    letters.link(pid, doctor.id, CareRole.ATTENDING_DOCTOR)
    (recipient,) = letters.patient_correspondents(pid)
    assert recipient.correspondent_id == doctor.id and recipient.role is CareRole.ATTENDING_DOCTOR

    letter = letters.new_letter(pid, "adressage_medecin", recipient)
    assert letter.status is LetterStatus.DRAFT and "Docteur," in letter.body_html
    assert letter.recipient.startswith("Dr Claire FONTAINE")
    saved = letters.save_draft(
        letter.id,
        letter.row_version,
        body_html=letter.body_html + "<p><b>Plaie</b> du <i>talon</i> : {{patient.nom}}</p><img src='x'>",
    )
    assert saved.notices and "images" in saved.notices[0]
    with pytest.raises(ConflictError):
        letters.save_draft(letter.id, letter.row_version, title="périmé")

    validated = letters.validate(saved.letter.id, saved.letter.row_version)
    assert validated.status is LetterStatus.VALIDATED and validated.document_row_id is not None
    assert "{{" not in validated.body_html and "MARTIN" in validated.body_html
    pdf = letters.pdf(validated.id)
    assert pdf.file_name.endswith(".pdf")
    with pikepdf.open(io.BytesIO(pdf.data)) as document:
        assert document.open_metadata().pdfa_status == "1B"
        fonts = {str(f.get("/BaseFont")) for page in document.pages for f in page.Resources.Font.values()}
    assert any("Oblique" in name for name in fonts)  # the italic word kept its italics
    (line,) = letters.letters(pid)
    assert line.status is LetterStatus.VALIDATED and line.document_row_id == validated.document_row_id
    with uow() as work:
        traced = [(event.action, event.detail) for event in work.audit.list(patient_id=pid)]
    assert (AuditAction.DOCUMENT_WRITE, {"courrier": letter.id, "modele": "adressage_medecin"}) in traced

    letters.unlink(pid, doctor.id)
    assert letters.patient_correspondents(pid) == []
    assert recipient_of(doctor).display_name == "Dr Claire FONTAINE"


def test_edited_template_is_a_new_version(env: tuple) -> None:
    letters, _uow, _pid = env
    shipped = letters.template("courrier_libre")
    copy = letters.save_template(shipped.key, "Courrier simple", shipped.subject, "<p>Bonjour {{patient.nom}}</p>")
    assert (copy.version, copy.origin) == (2, "utilisateur")
    assert letters.template("courrier_libre").title == "Courrier simple"
    own = letters.save_template(None, "Mot d'accompagnement", "", "<p>Ci-joint.</p>")
    assert own.key.startswith("cabinet.") and own in letters.templates()
    with pytest.raises(InvalidInput) as error:
        letters.save_template(None, "Faux", "", "<p>{{patient.inconnu}}</p>")
    assert "{{patient.inconnu}}" in error.value.field_errors["body"]
