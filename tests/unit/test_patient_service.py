"""PatientService with fakes: creation, mandatory fields, protected traits, history and traces."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from app.dto import PatientForm
from app.services.patients import PatientService
from app.session import CurrentUser
from domain.audit import AuditAction
from domain.errors import ConflictError, InvalidInput, PermissionDenied
from domain.identity import OID_INS_NIR_TEST, IdentityStatus, Ins
from domain.practice import DEFAULT_IDENTITY_DOCUMENT_TYPES, UserAccount, UserRole
from tests.fakes import FakeCog, FakeUnitOfWorkFactory, MutableClock

IDE = UserAccount(1, "ide", "Camille DURAND", UserRole.PRACTITIONER, 1)
ADMIN = UserAccount(2, "admin", "Administrateur", UserRole.ADMINISTRATOR, 1, is_admin=True)

FORM = PatientForm(
    birth_name="Pat-Trois",
    birth_given_names="Dominique Marie",
    sex="F",
    birth_date="28/03/1979",
    birth_place_code="51215",
)


@pytest.fixture
def env() -> tuple[PatientService, FakeUnitOfWorkFactory, CurrentUser, MutableClock]:
    uow = FakeUnitOfWorkFactory()
    for doc in DEFAULT_IDENTITY_DOCUMENT_TYPES:
        uow.store.doc_types[doc.code] = doc
    user = CurrentUser(IDE)
    clock = MutableClock(dt.datetime(2026, 11, 27, 9, 30, tzinfo=dt.UTC))
    return PatientService(uow, FakeCog(), clock, user), uow, user, clock


def test_create_with_only_the_five_mandatory_fields(env: tuple) -> None:
    service, uow, _, _ = env
    file = service.create_patient(FORM)
    assert file.status is IdentityStatus.PROVISIONAL
    assert file.patient.identity.traits.birth_name == "PAT-TROIS"
    assert file.patient.identity.traits.first_birth_given_name == "DOMINIQUE"
    assert file.birth_place_label == "Châlons-en-Champagne (51) — 51215"
    assert [h.after for h in file.status_history] == [IdentityStatus.PROVISIONAL]
    creation = [e for e in uow.store.audit if e[0].action is AuditAction.IDENTITY_CREATE]
    assert len(creation) == 1 and creation[0][0].actor == IDE.actor


def test_missing_fields_are_reported_together_and_nothing_is_saved(env: tuple) -> None:
    service, uow, _, _ = env
    with pytest.raises(InvalidInput) as info:
        service.create_patient(PatientForm(birth_name="DUPONT", birth_date="31/02/1980", email="pas-un-courriel"))
    errors = info.value.field_errors
    assert "n'existe pas" in errors["birth_date"]
    assert errors["birth_given_names"] == "Le premier prénom de naissance est obligatoire."
    assert "sex" in errors and "birth_place_code" in errors and "email" in errors
    assert uow.store.patients == {} and uow.store.audit == []


def test_birth_place_must_be_valid_at_birth_date(env: tuple) -> None:
    service, _, _, _ = env
    with pytest.raises(InvalidInput) as info:
        service.create_patient(replace(FORM, birth_place_code="01015", birth_date="01/02/2020"))
    assert "n'était pas valide le 01/02/2020" in info.value.field_errors["birth_place_code"]
    created = service.create_patient(replace(FORM, birth_place_code="01015", birth_date="01/02/1960"))
    assert created.birth_place_label.startswith("Arbignieu")
    with pytest.raises(InvalidInput):
        service.create_patient(replace(FORM, birth_place_code="2A004", birth_date="01/02/1960"))
    with pytest.raises(InvalidInput) as france:
        service.create_patient(replace(FORM, birth_place_code="99100"))
    assert "commune" in france.value.field_errors["birth_place_code"]


def test_low_trust_document_cannot_validate(env: tuple) -> None:
    service, _, _, _ = env
    with pytest.raises(InvalidInput) as info:
        service.create_patient(replace(FORM, high_trust_document="CARTE_VITALE"))
    assert "haut niveau de confiance" in info.value.field_errors["high_trust_document"]
    validated = service.create_patient(replace(FORM, high_trust_document="CNI"))
    assert validated.status is IdentityStatus.VALIDATED
    assert validated.document_type_label == "Carte nationale d'identité"


def _make_qualified(service: PatientService, uow: FakeUnitOfWorkFactory) -> int:
    file = service.create_patient(replace(FORM, high_trust_document="CNI"))
    # What the INSi workflow will do: store the INS returned by the teleservice.
    stored = uow.store.patients[file.id]
    uow.store.patients[file.id] = replace(
        stored,
        identity=replace(stored.identity, ins=Ins("279035121518989", OID_INS_NIR_TEST), from_insi=True),
    )
    return file.id


def test_qualified_identity_strict_traits_are_read_only_for_a_practitioner(env: tuple) -> None:
    service, uow, _, _ = env
    pid = _make_qualified(service, uow)
    file = service.open_patient(pid)
    assert file.status is IdentityStatus.QUALIFIED
    assert file.strict_traits_editable is False
    with pytest.raises(PermissionDenied):
        service.update_patient(pid, file.patient.version, replace(FORM, high_trust_document="CNI", birth_name="AUTRE"))
    assert uow.store.patients[pid].identity.traits.birth_name == "PAT-TROIS"
    # the used name stays editable
    changed = service.update_patient(
        pid, file.patient.version, replace(FORM, high_trust_document="CNI", used_name="Martin")
    )
    assert changed.patient.identity.traits.used_name == "MARTIN"
    assert changed.status is IdentityStatus.QUALIFIED


def test_admin_changes_strict_trait_demotes_qualified_to_validated_with_history_and_traces(env: tuple) -> None:
    service, uow, user, clock = env
    pid = _make_qualified(service, uow)
    user.set(ADMIN)
    version = service.open_patient(pid).patient.version
    clock.at += dt.timedelta(hours=1)
    file = service.update_patient(pid, version, replace(FORM, high_trust_document="CNI", birth_date="29/03/1979"))
    assert file.status is IdentityStatus.VALIDATED
    assert file.patient.identity.ins is None
    last = file.status_history[-1]
    assert (last.before, last.after, last.actor) == (IdentityStatus.QUALIFIED, IdentityStatus.VALIDATED, ADMIN.actor)
    assert last.at == clock.at
    actions = [e.action for e, _ in uow.store.audit if e.patient_id == pid]
    assert AuditAction.IDENTITY_STATUS in actions and AuditAction.IDENTITY_UPDATE in actions
    update = next(e for e, _ in uow.store.audit if e.action is AuditAction.IDENTITY_UPDATE)
    assert update.detail["ins_invalide"] == "279035121518989"
    assert update.detail["traits_stricts_modifies"] == ["birth_date"]


def test_every_read_is_traced(env: tuple) -> None:
    service, uow, _, _ = env
    pid = service.create_patient(FORM).id
    service.open_patient(pid)
    service.open_patient(pid)
    reads = [e for e, _ in uow.store.audit if e.action is AuditAction.IDENTITY_READ]
    assert len(reads) == 2 and all(e.patient_id == pid for e in reads)


def test_stale_version_is_a_conflict(env: tuple) -> None:
    service, _, _, _ = env
    file = service.create_patient(FORM)
    service.update_patient(file.id, file.patient.version, replace(FORM, used_name="A"))
    with pytest.raises(ConflictError):
        service.update_patient(file.id, file.patient.version, replace(FORM, used_name="B"))


def test_search_rule_17_ignores_case_accents_punctuation_and_searches_all_first_names(env: tuple) -> None:
    service, _, _, _ = env
    a = service.create_patient(
        replace(FORM, birth_name="D'Artagnan", birth_given_names="Jean-Pierre Hélène", used_given_name="Lou")
    ).id
    b = service.create_patient(
        replace(FORM, birth_name="Dartois", birth_given_names="Marc", birth_date="01/01/1950")
    ).id
    for text in (
        "dartagnan",
        "D'ARTA",
        "d'arta",
        "artagnan",
        "helene",
        "HÉLÈNE",
        "jean pierre",
        "jeanp",
        "lou",
        "pierre",
    ):
        assert [r.id for r in service.search(text).rows] == [a], text
    assert {r.id for r in service.search("dart").rows} == {a, b}
    assert [r.id for r in service.search("dart 01/01/1950").rows] == [b]
    assert [r.id for r in service.search("1950").rows] == [b]
    assert [r.id for r in service.search("marc dart").rows] == [b]


def test_search_by_matricule_needs_15_characters_and_a_valid_key(env: tuple) -> None:
    service, uow, _, _ = env
    pid = _make_qualified(service, uow)
    assert [r.id for r in service.search("279035121518989").rows] == [pid]
    assert [r.id for r in service.search("2 79 03 51 215 189 89").rows] == [pid]
    partial = service.search("2790351215189")
    assert partial.rows == ()
    assert "15 caractères" in partial.hint
    with pytest.raises(InvalidInput) as info:
        service.search("279035121518988")
    assert "clé" in info.value.message_fr


@pytest.mark.parametrize(
    "text",
    ["nom;prenom;date\nDUPONT;JEAN;01/01/1950\nMARTIN;PAUL;02/02/1960", "x" * 500, "31/02/1980"],
)
def test_pasted_csv_long_text_or_impossible_date_in_search_box(env: tuple, text: str) -> None:
    service, _, _, _ = env
    with pytest.raises(InvalidInput) as info:
        service.search(text)
    assert info.value.field_errors["query"]


@pytest.mark.parametrize("text", ["'; DROP TABLE patient; --", "😀😀", "%_%", ""])
def test_odd_search_text_is_harmless(env: tuple, text: str) -> None:
    service, _, _, _ = env
    service.create_patient(FORM)
    result = service.search(text)
    assert isinstance(result.rows, tuple)
