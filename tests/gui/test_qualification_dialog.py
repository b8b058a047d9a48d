"""INS qualification in the main window: carte Vitale inserted → beneficiary → comparison → qualification."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.bootstrap import Services
from app.dto import PatientForm
from app.services.cards import CardService
from domain.cards import CARD_INSERTED
from domain.identity import OID_INS_NIR_TEST, IdentitySource, IdentityStatus, IdentityTraits
from domain.ins_qualification import Concordance
from domain.insi import (
    CardEvent,
    CardKind,
    InsiAnswer,
    InsiCallContext,
    InsiIdentity,
    InsiTraitsQuery,
    VitaleBeneficiary,
)
from tests.fakes import FakeInsiGateway
from tests.gui.conftest import ServicesFactory
from ui.app import create_main_window
from ui.ins_qualification import SEARCHING_TEXT, TRANSITIONAL_CODE, BeneficiaryDialog, ComparisonDialog
from ui.main_window import MainController, MainWindow
from ui.tasks_qt import QtTaskRunner

MARIE = InsiIdentity(
    matricule="280035145412317",
    oid=OID_INS_NIR_TEST,
    birth_name="DURAND-TEST",
    given_names=("MARIE", "CLAIRE"),
    first_given_name="MARIE",
    sex="F",
    birth_date="1980-03-12",
    birth_place_code="51454",
)
CHILD = VitaleBeneficiary("2800351454123", "00", "DURAND-TEST", "LOUISE", "2012-05-02", 1)


class _Lookup:
    """The lookup port over the hand-written gateway (traits: 01 for everybody; the card finds MARIE)."""

    def __init__(self, gateway: FakeInsiGateway) -> None:
        self.gateway = gateway

    def by_traits(self, traits: IdentityTraits, context: InsiCallContext) -> InsiAnswer:
        assert traits.birth_date is not None and traits.sex is not None
        return self.gateway.search_by_traits(
            InsiTraitsQuery(traits.birth_name, traits.birth_given_names[0], traits.sex, traits.birth_date), context
        )

    def by_vitale(self, beneficiary: VitaleBeneficiary, context: InsiCallContext) -> InsiAnswer:
        return self.gateway.search_by_vitale(beneficiary, context)


class _Monitor:
    """A card monitor that never reports anything by itself (the test sends the event)."""

    def start(self, callback: object) -> None:
        self.callback = callback

    def stop(self) -> None:
        return None

    def states(self) -> list[object]:
        return []


class _VitaleReader:
    """A carte Vitale in a reader, read the way the PC/SC or SESAM-Vitale adapters return it."""

    def __init__(self, beneficiaries: list[VitaleBeneficiary]) -> None:
        self.beneficiaries = beneficiaries
        self.reads: list[str | None] = []

    def read_beneficiaries(self, reader: str | None = None) -> list[VitaleBeneficiary]:
        self.reads.append(reader)
        return list(self.beneficiaries)


def _start(qtbot: QtBot, services: Services) -> tuple[MainWindow, MainController]:
    window, controller = create_main_window(services)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(controller.ready, timeout=10_000):
        controller.start()
    return window, controller


def test_carte_vitale_inserted_then_comparison_then_qualification(
    qtbot: QtBot, make_services: ServicesFactory, tmp_path: Path
) -> None:
    services = make_services(QtTaskRunner())
    marie = MARIE
    gateway = FakeInsiGateway([])  # traits: nobody (01), so opening the file only shows a notice
    mother = VitaleBeneficiary(marie.matricule[:13], marie.matricule[13:], "DURAND-TEST", "MARIE", "1980-03-12", 1)
    gateway.vitale[marie.matricule] = marie
    services.qualification = services.qualification.with_lookup(_Lookup(gateway))
    file = services.patients.create_patient(
        PatientForm(
            birth_name="DURAND-TEST",
            birth_given_names="MARIE",
            sex="F",
            birth_date="12/03/1980",
            birth_place_code="51454",
            used_name="MARTIN",
        )
    )
    window, controller = _start(qtbot, services)
    qualification = controller.qualification

    # Opening a provisional file queries INSi in the background; 01 gives a discreet notice with advice.
    with qtbot.waitSignal(controller.file_shown, timeout=5000):
        controller.open_patient(file.id)
    notice = window.patient_file.insi_notice
    qtbot.waitUntil(lambda: notice.isVisible() and "Aucune identité" in notice.text(), timeout=5000)
    assert SEARCHING_TEXT not in notice.text() and "carte Vitale" in notice.text()
    assert qualification.dialog is None

    # The carte Vitale is inserted: the monitor's event reaches the controller, the card is read on the DEVICE
    # lane (two beneficiaries), the user picks one.
    monitor = _Monitor()
    services.cards = CardService(monitor, _VitaleReader([CHILD, mother]), _VitaleReader([]))  # type: ignore[arg-type]
    qualification.start_background()
    # The monitor thread's callback (here called directly) goes through the runner's post to the UI thread.
    monitor.callback(CardEvent(CARD_INSERTED, "Lecteur virtuel 0", CardKind.VITALE))  # type: ignore[operator]
    qtbot.waitUntil(lambda: qualification.beneficiary_dialog is not None, timeout=5000)
    chooser = qualification.beneficiary_dialog
    assert isinstance(chooser, BeneficiaryDialog) and chooser.list.count() == 2
    chooser.list.setCurrentRow(1)
    with qtbot.waitSignal(qualification.outcome_shown, timeout=5000):
        chooser.accept()
    dialog = qualification.dialog
    assert isinstance(dialog, ComparisonDialog)
    comparison = dialog.outcome.comparison
    assert comparison is not None and dialog.outcome.source is IdentitySource.INSI_VITALE
    assert comparison.row("nir").concordance is Concordance.EQUAL
    assert [r.key for r in comparison.divergences] == ["given_names"]
    texts = [dialog.table.item(r, 3).text() for r in range(dialog.table.rowCount())]  # type: ignore[union-attr]
    assert "✖ Différent" in texts and "✔ Identique" in texts  # a sign and a word, not colour alone
    assert dialog.retrieve_button.text().startswith("Valider")
    assert dialog.document_combo.findData(TRANSITIONAL_CODE) >= 0
    shot = Path(os.environ.get("LGC_QUALIF_SHOT", tmp_path / "comparaison-insi.png"))
    dialog.grab().save(str(shot))
    assert shot.stat().st_size > 0

    # One click validates (INSi's traits replace the local ones, the used name stays)…
    with qtbot.waitSignal(qualification.file_updated, timeout=5000) as updated:
        qtbot.mouseClick(dialog.retrieve_button, Qt.MouseButton.LeftButton)
    retrieved = updated.args[0]
    assert retrieved.status is IdentityStatus.RETRIEVED
    assert retrieved.patient.identity.traits.birth_given_names == ("MARIE", "CLAIRE")
    assert retrieved.patient.identity.traits.used_name == "MARTIN"
    assert dialog.notice.isVisible() and "récupérée" in dialog.notice.text()

    # …and one more qualifies it from the identity document shown.
    dialog.document_combo.setCurrentIndex(dialog.document_combo.findData("PASSEPORT"))
    with qtbot.waitSignal(qualification.file_updated, timeout=5000) as qualified:
        qtbot.mouseClick(dialog.qualify_button, Qt.MouseButton.LeftButton)
    final = qualified.args[0]
    assert final.status is IdentityStatus.QUALIFIED and final.document_type_label == "Passeport"
    assert "QUALIFIÉE" in window.patient_file.banner.visible_text()
    assert "INS :" in window.patient_file.banner.visible_text()
    assert not dialog.qualify_button.isEnabled()
    history = final.status_history
    assert [c.after for c in history][-2:] == [IdentityStatus.RETRIEVED, IdentityStatus.QUALIFIED]
    qtbot.wait(300)  # let the file view lay itself out before the picture
    qualification.stop_background()
    window_shot = Path(os.environ.get("LGC_QUALIF_WINDOW_SHOT", tmp_path / "dossier-qualifie.png"))
    window.grab().save(str(window_shot))
    assert window_shot.stat().st_size > 0


def test_automatic_retrieval_when_everything_concords(qtbot: QtBot, make_services: ServicesFactory) -> None:
    services = make_services(QtTaskRunner())
    marie = MARIE
    services.qualification = services.qualification.with_lookup(_Lookup(FakeInsiGateway([marie])))
    file = services.patients.create_patient(
        PatientForm(
            birth_name="DURAND-TEST",
            birth_given_names="MARIE CLAIRE",
            sex="F",
            birth_date="12/03/1980",
            birth_place_code="51454",
        )
    )
    _, controller = _start(qtbot, services)
    with qtbot.waitSignal(controller.qualification.file_updated, timeout=8000) as updated:
        controller.open_patient(file.id)
    assert updated.args[0].status is IdentityStatus.RETRIEVED
    dialog = controller.qualification.dialog
    assert dialog is not None and "automatiquement" in dialog.notice.text()
    assert not dialog.qualify_button.isEnabled()  # no piece chosen yet
    dialog.document_combo.setCurrentIndex(dialog.document_combo.findData("CNI"))
    assert dialog.qualify_button.isEnabled()


def test_document_types_need_an_administrator_and_the_demo_user_switch(
    qtbot: QtBot, make_services: ServicesFactory
) -> None:
    services = make_services(QtTaskRunner())
    window, controller = _start(qtbot, services)
    assert window.switch_user_action.isVisible()  # demo mode
    qualification = controller.qualification
    qualification.edit_document_types()
    qtbot.waitUntil(lambda: qualification.types_dialog is not None, timeout=5000)
    dialog = qualification.types_dialog
    assert dialog is not None
    dialog.new_code.setText("CARTE_RESIDENT")
    dialog.new_label.setText("Carte de résident")
    dialog.new_high.setChecked(True)
    dialog._add_clicked()
    assert [d.code for d in dialog.edited_types()] == ["CARTE_RESIDENT"]
    # The demo user "ide" is not an administrator: refused with a French message, nothing saved.
    refused: list[object] = []
    controller.presenter.present = lambda exc, **_kw: refused.append(exc)  # type: ignore[method-assign]
    dialog.save_button.click()
    qtbot.waitUntil(lambda: bool(refused), timeout=5000)
    assert "administrateur" in str(refused[0])
    # Act as the demo administrator, then save.
    services.practice.sign_in("admin")
    dialog.save_button.click()
    qtbot.waitUntil(lambda: qualification.types_dialog is None or not dialog.isVisible(), timeout=5000)
    codes = {d.code for d in services.patients.identity_document_types()}
    assert "CARTE_RESIDENT" in codes
    qualification.switch_user()
    qtbot.waitUntil(lambda: qualification.user_dialog is not None, timeout=5000)
    users = qualification.user_dialog
    assert users is not None and users.list.count() >= 2
    for row in range(users.list.count()):
        if users.list.item(row).data(Qt.ItemDataRole.UserRole) == "sf":
            users.list.setCurrentRow(row)
    users.accept()
    qtbot.waitUntil(lambda: services.current_user().login == "sf", timeout=5000)
