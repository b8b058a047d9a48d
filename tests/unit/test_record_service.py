"""RecordService with fakes: observations, versions, drafts, lists, macros, alerts and their traces, dashboard."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest

from app.dto import PatientForm
from app.services.patients import PatientService
from app.services.record import RecordService
from app.session import CurrentUser
from domain.audit import AuditAction
from domain.errors import InvalidInput, NotFound
from domain.forms import TemplateError
from domain.macros import Macro
from domain.practice import Profession, UserAccount, UserRole
from domain.record import EntryKind, ObservationKind
from tests.fakes import FakeCog, FakeUnitOfWorkFactory, MutableClock

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
NURSE = UserAccount(1, "ide", "Camille DURAND", UserRole.PRACTITIONER, 1, Profession.NURSE)
MIDWIFE = UserAccount(3, "sf", "Léa MOREAU", UserRole.PRACTITIONER, 1, Profession.MIDWIFE)
PHYSIO = UserAccount(4, "kine", "Paul MARTIN", UserRole.PRACTITIONER, 1, Profession.PHYSIOTHERAPIST)


class MemoryAttachments:
    """AttachmentStore in memory."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    def put(self, name: str, data: bytes) -> tuple[str, str]:
        if not data.startswith(b"\x89PNG"):
            raise InvalidInput(f"« {name} » n'est ni une photo JPEG/PNG ni un PDF.")
        sha = hashlib.sha256(data).hexdigest()
        self.files[sha] = data
        return sha, "image/png"

    def get(self, sha256: str) -> bytes:
        try:
            return self.files[sha256]
        except KeyError:
            raise NotFound("Pièce jointe introuvable.") from None


class Env:
    def __init__(self) -> None:
        self.uow = FakeUnitOfWorkFactory()
        self.user = CurrentUser(NURSE)
        self.clock = MutableClock(dt.datetime(2026, 11, 27, 9, 30, tzinfo=dt.UTC))
        self.record = RecordService(self.uow, self.clock, self.user, RESOURCES, MemoryAttachments())
        patients = PatientService(self.uow, FakeCog(), self.clock, self.user)
        form = PatientForm(
            birth_name="Martin", birth_given_names="Jeanne", sex="F", birth_date="03/03/1950", birth_place_code="51454"
        )
        self.patient_id = patients.create_patient(form).id
        young = PatientForm(
            birth_name="Petit", birth_given_names="Lou", sex="F", birth_date="01/06/1996", birth_place_code="51454"
        )
        self.young_id = patients.create_patient(young).id

    def traces(self, action: AuditAction) -> list[dict[str, object]]:
        return [e.detail for e, _ in self.uow.store.audit if e.action is action]


@pytest.fixture
def env() -> Env:
    return Env()


BRADEN = {"perception": "2", "humidite": "2", "activite": "1", "mobilite": "2", "nutrition": "2", "friction": "1"}


def test_text_observation_draft_and_timeline(env: Env) -> None:
    env.record.save_draft(env.patient_id, text="Patiente vue à domicile, ")
    view = env.record.open_record(env.patient_id)
    assert view.draft is not None and view.draft.text == "Patiente vue à domicile, "
    line = env.record.save_text_observation(env.patient_id, "Patiente vue à domicile, RAS.\n\n")
    view = env.record.open_record(env.patient_id)
    assert view.draft is None  # saved: the draft is gone
    assert [t.id for t in view.timeline] == [line.id] and view.timeline[0].summary == "Patiente vue à domicile, RAS."
    detail = env.record.observation(line.id)
    assert detail.observation.text == "Patiente vue à domicile, RAS." and detail.template is None
    assert env.traces(AuditAction.RECORD_WRITE)[0]["type"] == "texte"
    # An empty draft is forgotten rather than kept.
    env.record.save_draft(env.patient_id, text="   ")
    assert env.record.open_record(env.patient_id).draft is None


def test_bad_text_is_refused_and_the_draft_stays(env: Env) -> None:
    env.record.save_draft(env.patient_id, text="x" * 100_001)
    with pytest.raises(InvalidInput, match="dépasse 100\u202f000 caractères"):
        env.record.save_text_observation(env.patient_id, "x" * 100_001)
    with pytest.raises(InvalidInput, match="contenu binaire"):
        env.record.save_text_observation(env.patient_id, "abc\x00\x01")
    with pytest.raises(InvalidInput, match="vide"):
        env.record.save_text_observation(env.patient_id, " \n ")
    view = env.record.open_record(env.patient_id)
    assert view.timeline == () and view.draft is not None and len(view.draft.text) == 100_001
    assert env.traces(AuditAction.RECORD_WRITE) == []


def test_form_observation_keeps_its_template_version(env: Env) -> None:
    line = env.record.save_form_observation(env.patient_id, "ide.braden", 1, BRADEN)
    assert line.kind is ObservationKind.FORM and line.summary == "Score de Braden : 10 (risque élevé)"
    stored = env.uow.store.record_data.templates[("ide.braden", 1)]  # frozen next to the observation
    assert stored.origin == "ressource"
    # The shipped file changes (a new release): the old observation still reads with version 1.
    shipped = env.record.catalog.shipped()
    shipped["ide.braden"] = replace(shipped["ide.braden"], version=2, title="Braden v2")
    detail = env.record.observation(line.id)
    assert detail.template is not None and detail.template.version == 1
    assert detail.template.title == "Échelle de Braden (risque d'escarre)"
    assert env.record.template("ide.braden").version == 2
    assert env.traces(AuditAction.RECORD_WRITE)[0]["modele"] == "ide.braden@1"


def test_form_errors_come_back_by_field_and_nothing_is_saved(env: Env) -> None:
    with pytest.raises(InvalidInput) as caught:
        env.record.save_form_observation(
            env.patient_id, "ide.plaie", 1, {"plaie": "Sacrum", "type": "escarre", "longueur": "3 kg", "largeur": "90"}
        )
    errors = caught.value.field_errors
    assert set(errors) == {"longueur", "largeur", "stade"}
    assert env.record.open_record(env.patient_id).timeline == ()
    with pytest.raises(NotFound, match="version 7 du modèle"):
        env.record.save_form_observation(env.patient_id, "ide.braden", 7, BRADEN)


def test_practice_copy_of_a_template_gets_new_versions(env: Env) -> None:
    source = json.loads(env.record.template_source("kine.seance"))
    with pytest.raises(InvalidInput, match="modèle fourni avec LGC"):
        env.record.save_template_copy(json.dumps(source))
    source["key"] = "kine.seance.cabinet"
    source["title"] = "Séance (cabinet)"
    first = env.record.save_template_copy(json.dumps(source))
    source["fields"].append({"id": "exercices", "type": "text", "label": "Exercices à domicile"})
    second = env.record.save_template_copy(json.dumps(source))
    assert (first.version, second.version) == (1, 2)
    old = env.record.save_form_observation(env.patient_id, "kine.seance.cabinet", 1, {"seance": "3"})
    assert "exercices" not in [f.id for f in env.record.observation(old.id).template.fields]  # type: ignore[union-attr]
    infos = {t.key: t for t in env.record.templates("70")}
    assert infos["kine.seance.cabinet"].version == 2 and infos["kine.seance.cabinet"].origin == "utilisateur"
    assert env.record.templates("70")[0].professions == ("70",)  # the physio's templates come first
    source["fields"][0]["visible_if"] = "seance =="
    with pytest.raises(TemplateError, match="condition « seance == » invalide : condition incomplète"):
        env.record.save_template_copy(json.dumps(source))
    with pytest.raises(TemplateError, match="syntaxe JSON invalide ligne 1"):
        env.record.check_template("{")
    assert len(env.traces(AuditAction.RECORD_SETTINGS)) == 2


def test_structured_lists_feed_macros_and_alerts(env: Env) -> None:
    with pytest.raises(InvalidInput) as caught:
        env.record.add_entry(env.patient_id, EntryKind.VACCINATION, "Grippe", start="31/02/2026")
    assert "n'existe pas" in caught.value.field_errors["start"]
    with pytest.raises(InvalidInput, match="Indiquez la date de la vaccination"):
        env.record.add_entry(env.patient_id, EntryKind.VACCINATION, "Grippe")
    env.record.add_entry(env.patient_id, EntryKind.ALLERGY, "Pénicilline", detail="urticaire")
    treatment = env.record.add_entry(env.patient_id, EntryKind.TREATMENT, "Amoxicilline 1 g", start="20/11/2026")
    context = env.record.macro_context(env.patient_id)
    assert context["allergies"] == "Pénicilline (urticaire)"
    assert context["traitements"] == "Amoxicilline 1 g" and context["age"] == "76 ans"
    alerts = env.record.alerts(env.patient_id)
    allergy = next(a for a in alerts if a.rule == "Allergie et produit")
    assert "pénicillines" in allergy.explanation
    env.record.close_entry(env.patient_id, treatment.id)  # type: ignore[arg-type]
    assert not any(a.rule == "Allergie et produit" for a in env.record.alerts(env.patient_id))
    assert env.record.macro_context(env.patient_id)["traitements"] == "aucun traitement en cours"
    assert len(env.traces(AuditAction.RECORD_LIST)) == 3


def test_dismissing_an_alert_needs_a_reason_and_is_traced(env: Env) -> None:
    alert = next(a for a in env.record.alerts(env.patient_id) if a.key == "vaccin:sen_grippe:2026")
    with pytest.raises(InvalidInput, match="Indiquez pourquoi"):
        env.record.dismiss(env.patient_id, alert, " ")
    env.record.dismiss(env.patient_id, alert, "Vaccinée en pharmacie le 15/10, carnet non apporté")
    assert alert.key not in {a.key for a in env.record.alerts(env.patient_id)}
    trace = env.traces(AuditAction.ALERT_DISMISS)[0]
    assert trace["regle"] == "Calendrier vaccinal" and trace["motif"].startswith("Vaccinée en pharmacie")  # type: ignore[union-attr]
    assert trace["donnees"]["Âge"] == "76 ans"  # type: ignore[index]
    assert env.record.dismissals(env.patient_id)[0].actor == NURSE.actor


def test_macros_defaults_user_override_and_errors(env: Env) -> None:
    env.record.ensure_default_macros()
    assert env.record.macros().get("@allergies") is not None
    mine = env.record.save_macro(Macro(".pans", "Mon pansement", "Pansement hydrocolloïde changé."))
    assert env.record.macros().get(".pans") == mine
    env.user.set(MIDWIFE)
    assert env.record.macros().get(".pans").owner == ""  # type: ignore[union-attr]
    env.user.set(NURSE)
    with pytest.raises(InvalidInput, match="existe déjà"):
        env.record.save_macro(Macro(".pans", "Doublon", "x"))
    with pytest.raises(InvalidInput, match="Donnée inconnue"):
        env.record.save_macro(Macro("@poids", "Poids", "{poids}"))


def test_attachments(env: Env) -> None:
    value = env.record.attach("/home/x/plaie.png", b"\x89PNG\r\n\x1a\nxxxx")
    assert value["name"] == "plaie.png" and value["media_type"] == "image/png"
    assert env.record.attachment(str(value["sha256"])).startswith(b"\x89PNG")
    with pytest.raises(InvalidInput, match="ni une photo"):
        env.record.attach("virus.exe", b"MZ....")


def test_pregnancy_plan_and_midwife_dashboard(env: Env) -> None:
    env.user.set(MIDWIFE)
    answers = {"date_visite": "20/07/2026", "datation": "ddr", "ddr": "01/06/2026", "etapes": ["declaration"]}
    env.record.save_form_observation(env.young_id, "sf.suivi_grossesse", 1, answers)
    plan = env.record.pregnancy_plan(env.young_id)
    assert plan and plan[0].code == "declaration" and plan[0].done
    alerts = env.record.alerts(env.young_id)
    assert any(a.rule == "Suivi de grossesse" for a in alerts)
    assert any(a.key.startswith("vaccin:gro_coqueluche") for a in alerts)
    board = env.record.dashboard()
    pregnant = board.section("grossesse")
    assert [line.patient_id for line in pregnant.lines] == [env.young_id]
    assert "25 SA + 4 j" in pregnant.lines[0].detail
    assert [line.patient_id for line in board.section("suivi").lines] == [env.young_id]
    assert board.section("identites").total == 1  # provisional identity of a patient in care
    assert env.young_id not in [line.patient_id for line in board.section("vaccins").lines]
    assert env.patient_id in [line.patient_id for line in board.section("vaccins").lines]  # flu at 76


def test_nurse_dashboard_wounds_braden_and_dismissed_lines(env: Env) -> None:
    for day, length in (("2026-10-20", "5"), ("2026-11-24", "4,5")):
        env.clock.at = dt.datetime.fromisoformat(day + "T09:00:00+00:00")
        env.record.save_form_observation(
            env.patient_id,
            "ide.plaie",
            1,
            {"plaie": "Talon", "type": "escarre", "stade": "2", "longueur": length, "largeur": "2"},
        )
    env.record.save_form_observation(env.patient_id, "ide.braden", 1, BRADEN)
    env.clock.at = dt.datetime(2026, 11, 27, 9, 30, tzinfo=dt.UTC)
    board = env.record.dashboard()
    assert "réduction de 10 % en 35 jours" in board.section("plaies").lines[0].detail
    assert board.section("braden").lines[0].detail.startswith("Risque d'escarre élevé (Braden 10)")
    assert "grossesse" not in [s.key for s in board.sections]
    flu = next(a for a in env.record.alerts(env.patient_id) if a.key == "vaccin:sen_grippe:2026")
    env.record.dismiss(env.patient_id, flu, "Refus de la patiente")
    vaccines = env.record.dashboard().section("vaccins")
    assert all("grippe" not in line.detail for line in vaccines.lines if line.patient_id == env.patient_id)
    env.user.set(PHYSIO)
    assert "vaccins" not in [s.key for s in env.record.dashboard().sections]


def test_timeline_holds_documents_prescriptions_and_appointments(env: Env) -> None:
    from domain.agenda import Appointment
    from domain.documents import StoredContent, author_of, document_kind, new_draft, snapshot_of
    from domain.record import TimelineSource

    env.record.save_text_observation(env.patient_id, "Soins faits.")
    now = env.clock.now()
    with env.uow() as uow:
        patient = uow.patients.get(env.patient_id)
        for code, days in (("34120-6", 3), ("PRESC-INF", 10)):
            doc = new_draft(
                document_kind(code),
                patient_id=env.patient_id,
                patient=snapshot_of(patient),
                author=author_of(replace(NURSE, rpps="10000000001"), None),
                at=now - dt.timedelta(days=days),
            )
            uow.documents.add(doc, StoredContent())
        soon = now + dt.timedelta(days=2)
        uow.agenda.add_appointment(Appointment(None, 1, env.patient_id, soon, soon + dt.timedelta(hours=1), "BILAN"))
        uow.commit()
    view = env.record.open_record(env.patient_id)
    assert [line.source for line in view.timeline] == [
        TimelineSource.APPOINTMENT,
        TimelineSource.OBSERVATION,
        TimelineSource.DOCUMENT,
        TimelineSource.PRESCRIPTION,
    ]
    assert view.timeline[0].title == "Rendez-vous : Bilan"
    assert view.timeline[3].title == "Prescription d'actes infirmiers"


def test_profiles_without_care_access_are_refused_the_record_with_a_reason(env: Env) -> None:
    from domain.errors import PermissionDenied

    env.record.save_text_observation(env.patient_id, "Soins faits.")
    assert env.record.can_read()
    for role in (UserRole.SECRETARY, UserRole.ADMINISTRATOR):
        env.user.set(UserAccount(9, "autre", "Sam BLANC", role, 1))
        assert not env.record.can_read()
        with pytest.raises(PermissionDenied, match="consulter le dossier de soins"):
            env.record.open_record(env.patient_id)
        with pytest.raises(PermissionDenied):
            env.record.alerts(env.patient_id)
        with pytest.raises(PermissionDenied, match="rédiger dans le dossier de soins"):
            env.record.save_text_observation(env.patient_id, "Note")
        with pytest.raises(PermissionDenied):
            env.record.dashboard()


def test_dashboard_lists_my_care_series_with_sessions_left_and_the_end_alert(env: Env) -> None:
    from domain.agenda import Appointment, AppointmentStatus, CareSeries, SeriesPeriod, SeriesRhythm
    from domain.decision import AlertLevel

    now = env.clock.now()
    with env.uow() as uow:
        near_end = uow.agenda.add_series(
            CareSeries(None, env.patient_id, 1, "Pansements", "PANSEMENT", SeriesRhythm(1, SeriesPeriod.DAY, 6), 6)
        )
        running = uow.agenda.add_series(
            CareSeries(None, env.young_id, 1, "Injections", "INJECTION", SeriesRhythm(1, SeriesPeriod.DAY, 10), 10)
        )
        colleague = uow.agenda.add_series(
            CareSeries(None, env.young_id, 2, "Rééducation", "REEDUC", SeriesRhythm(2, SeriesPeriod.WEEK, 5), 10)
        )
        for series_id, done, planned in ((near_end, 4, 2), (running, 2, 8), (colleague, 1, 9)):
            for i in range(done + planned):
                start = now + dt.timedelta(days=i - done)
                status = AppointmentStatus.DONE if i < done else AppointmentStatus.PLANNED
                uow.agenda.add_appointment(
                    Appointment(
                        None,
                        1,
                        env.patient_id,
                        start,
                        start + dt.timedelta(minutes=20),
                        "SOIN",
                        status=status,
                        series_id=series_id,
                    )
                )
        uow.commit()
    section = env.record.dashboard().section("series")
    assert section.total == 2  # the colleague's series is not in my dashboard
    first, second = section.lines
    assert first.patient_id == env.patient_id and first.level is AlertLevel.WARNING
    assert first.detail == (
        "Pansements : 4 séances réalisées sur 6, 2 restantes (2 planifiées) — Fin de série proche : plus que 2 séances"
    )
    assert second.patient_id == env.young_id and second.level is AlertLevel.INFO
    assert second.detail.startswith("Injections : 2 séances réalisées sur 10, 8 restantes")
    alert = next(a for a in env.record.alerts(env.patient_id) if a.rule == "Fin de série de soins")
    env.record.dismiss(env.patient_id, alert, "Renouvellement demandé au médecin")
    again = env.record.dashboard().section("series")
    dismissed_line = next(x for x in again.lines if x.patient_id == env.patient_id)
    assert dismissed_line.level is AlertLevel.INFO and "Fin de série proche" not in dismissed_line.detail


def test_dashboard_lists_patients_in_care_without_a_next_appointment(env: Env) -> None:
    from domain.agenda import Appointment

    env.record.save_text_observation(env.patient_id, "Soins faits.")
    env.clock.at += dt.timedelta(hours=1)
    env.record.save_text_observation(env.young_id, "Soins faits.")
    section = env.record.dashboard().section("sans_rdv")
    assert [line.patient_id for line in section.lines] == [env.patient_id, env.young_id]  # oldest care first
    assert section.lines[0].detail == "dernière observation le 27/11/2026"
    soon = env.clock.now() + dt.timedelta(days=3)
    with env.uow() as uow:
        uow.agenda.add_appointment(Appointment(None, NURSE.id or 0, env.young_id, soon, soon, "SOIN_DOM"))
        uow.agenda.add_appointment(Appointment(None, 2, env.patient_id, soon, soon, "SOIN_DOM"))  # a colleague's
        uow.commit()
    assert [line.patient_id for line in env.record.dashboard().section("sans_rdv").lines] == [env.patient_id]
