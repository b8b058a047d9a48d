"""Pro Santé Connect in the main window: menu, waiting dialog, situation choice, title and status bar, sign-out."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PySide6.QtWidgets import QApplication, QMessageBox, QPushButton
from pytestqt.qtbot import QtBot

from app.bootstrap import Services, build, prepare_demo
from app.settings import ServiceEndpoint, load_settings
from domain.audit import AuditAction
from sandbox.ca import TestPki
from sandbox.harness import SandboxHarness
from sandbox.services.psc import PscService, scripted_login
from ui.app import create_main_window
from ui.main_window import MainController, MainWindow
from ui.psc_signin import PSC_BUTTON_TEXT, make_psc_button
from ui.tasks_qt import QtTaskRunner


class ScriptedBrowser:
    """Plays the practitioner in the stand-in's page instead of opening a real browser."""

    def __init__(self, pki: TestPki, who: str) -> None:
        self.pki, self.who, self.last_url = pki, who, ""

    def open(self, url: str) -> None:
        self.last_url = url

        def run() -> None:
            with httpx.Client(verify=ssl.create_default_context(cafile=str(self.pki.ca_cert_path))) as client:
                scripted_login(client, url, self.who)

        threading.Thread(target=run, daemon=True).start()

    def reopen(self) -> None:
        self.open(self.last_url)


@pytest.fixture
def psc_app(
    qapp: QApplication, qtbot: QtBot, tmp_path: Path
) -> Iterator[tuple[MainWindow, MainController, Services, TestPki, PscService]]:
    pki = TestPki.ensure(tmp_path / "pki")
    psc = PscService()
    with SandboxHarness([psc], pki) as harness:
        endpoint = ServiceEndpoint(url=harness.url("psc"), ca_cert=str(pki.ca_cert_path), timeout_s=10)
        services = build(load_settings(tmp_path / "data"), tasks=QtTaskRunner(), endpoints={"psc": endpoint})
        prepare_demo(services, 50)
        window, controller = create_main_window(services)
        qtbot.addWidget(window)
        window.show()
        with qtbot.waitSignal(controller.ready, timeout=10_000):
            controller.start()
        yield window, controller, services, pki, psc
        services.close()


def test_sign_in_with_a_situation_choice_then_sign_out(psc_app: tuple, qtbot: QtBot) -> None:
    window, controller, services, pki, _psc = psc_app
    assert window.psc_sign_in_action.isEnabled() and not window.psc_sign_out_action.isEnabled()
    controller.psc.browser = ScriptedBrowser(pki, "810101010108")  # Paul MERCIER: cabinet and centre de santé
    window.psc_sign_in_action.trigger()
    assert controller.psc.wait_dialog is not None and controller.psc.wait_dialog.isVisible()
    qtbot.waitUntil(lambda: controller.psc.situation_dialog is not None, timeout=10_000)
    dialog = controller.psc.situation_dialog
    assert dialog.list.count() == 2 and "Centre de santé infirmier Saint-Roch" in dialog.list.item(0).text()
    dialog.list.setCurrentRow(1)
    with qtbot.waitSignal(controller.psc.signed_in, timeout=10_000) as signal:
        dialog.ok_button.click()
    result = signal.args[0]
    assert result.user.login == "csi-ide1" and result.situation.structure_name == "Cabinet paramédical des Tilleuls"
    qtbot.waitUntil(lambda: "Paul MERCIER" in window.windowTitle(), timeout=5000)
    assert window.psc_label.text() == "Pro Santé Connect : Paul MERCIER — Cabinet paramédical des Tilleuls"
    assert window.psc_sign_out_action.isEnabled()
    assert services.current_user().login == "csi-ide1"

    with qtbot.waitSignal(controller.psc.signed_out, timeout=10_000):
        window.psc_sign_out_action.trigger()
    assert not services.current_user.is_set and "aucun utilisateur connecté" in window.windowTitle()
    with services.psc._uow() as uow:  # the traces of the whole story
        actions = [e.action for e in uow.audit.list(limit=20)]
    assert AuditAction.SIGN_OUT in actions and AuditAction.SIGN_IN in actions


def test_a_refused_sign_in_is_explained_and_the_dialog_closes(psc_app: tuple, qtbot: QtBot) -> None:
    _window, controller, _services, pki, psc = psc_app
    psc.tamper_id_token = "wrong_key"
    controller.psc.browser = ScriptedBrowser(pki, "810101010101")
    with qtbot.waitSignal(controller.psc.failed, timeout=10_000):
        controller.psc.start()
    assert controller.psc.wait_dialog is None and not controller.psc.busy
    box = controller.presenter.last_box
    assert isinstance(box, QMessageBox) and "signature" in box.informativeText()
    box.close()


def test_cancelling_the_wait_dialog_stops_waiting(psc_app: tuple, qtbot: QtBot) -> None:
    _window, controller, _services, pki, _psc = psc_app

    class Silent(ScriptedBrowser):
        def open(self, url: str) -> None:  # the user never finishes in the browser
            self.last_url = url

    controller.psc.browser = Silent(pki, "")
    controller.psc.start()
    wait = controller.psc.wait_dialog
    with qtbot.waitSignal(controller.psc.failed, timeout=10_000):
        wait.cancel_button.click()
    assert not controller.psc.busy


def test_the_psc_button_for_other_sign_in_dialogs(qtbot: QtBot) -> None:
    button = make_psc_button()
    qtbot.addWidget(button)
    assert button.text() == PSC_BUTTON_TEXT and "e-CPS" in button.toolTip()


def test_the_sign_in_dialog_offers_psc_and_a_psc_sign_in_completes_the_session(psc_app: tuple, qtbot: QtBot) -> None:
    window, controller, services, pki, _psc = psc_app
    controller.session.sign_out()  # local sign-out: the sign-in dialog comes back
    qtbot.waitUntil(lambda: controller.session.sign_in_dialog is not None, timeout=10_000)
    dialog = controller.session.sign_in_dialog
    buttons = [b for b in dialog.findChildren(QPushButton) if b.text() == PSC_BUTTON_TEXT]
    assert len(buttons) == 1
    controller.psc.browser = ScriptedBrowser(pki, "810101010103")  # Léa MOREAU, one situation
    with qtbot.waitSignal(controller.session.signed_in, timeout=10_000):
        buttons[0].click()
    assert controller.session.sign_in_dialog is None and services.current_user().login == "sf"
    assert window.centralWidget().isVisible()
    # Signing out locally ends the PSC session too.
    with qtbot.waitSignal(controller.psc.signed_out, timeout=10_000):
        controller.session.sign_out()
    assert not services.psc.signed_in
