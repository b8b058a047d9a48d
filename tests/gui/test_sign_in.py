"""Sign-in dialog, password change, inactivity lock and sign-out on real services (production mode)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.bootstrap import Services, build
from app.settings import load_settings
from domain.audit import AuditAction
from domain.practice import UserRole
from ui import sign_in
from ui.app import create_main_window
from ui.main_window import MainController, MainWindow
from ui.tasks_qt import QtTaskRunner

PASSWORD = "Secretariat-2026!"


@pytest.fixture
def production(qapp: QApplication, tmp_path: Path) -> Iterator[Services]:
    data = tmp_path / "data"
    data.mkdir()
    (data / "lgc.toml").write_text('[general]\nmode = "production"\n', encoding="utf-8")
    services = build(load_settings(data), tasks=QtTaskRunner())
    services.demo.install_practice()
    services.accounts.create_account(
        "m.leroy", "Martine LEROY", UserRole.SECRETARY, PASSWORD, by="test", must_change=False
    )
    services.accounts.create_account("nouvelle", "Anne NOUVEL", UserRole.SECRETARY, "Provisoire-2026!", by="test")
    yield services
    services.close()


def _started(qtbot: QtBot, services: Services) -> tuple[MainWindow, MainController]:
    window, controller = create_main_window(services)
    qtbot.addWidget(window)
    window.show()
    controller.start()
    qtbot.waitUntil(lambda: controller.session.sign_in_dialog is not None, timeout=10_000)
    return window, controller


def _actions(services: Services) -> list[tuple[AuditAction, str]]:
    with services.traces._uow() as uow:
        return [(e.action, e.outcome) for e in reversed(uow.audit.list(limit=50))]


def test_production_start_asks_for_a_password_and_hides_the_practice(qtbot: QtBot, production: Services) -> None:
    window, controller = _started(qtbot, production)
    dialog = controller.session.sign_in_dialog
    assert dialog is not None and not production.current_user.is_set
    assert not window.centralWidget().isVisible() and not window.menuBar().isEnabled()
    assert not dialog.demo_hint.isVisible()
    dialog.login.setText("m.leroy")
    dialog.password.setText("mauvais")
    dialog.sign_in_button.click()
    qtbot.waitUntil(lambda: dialog.error.isVisible(), timeout=5000)
    assert "Identifiant ou mot de passe incorrect" in dialog.error.text()
    assert dialog.password.text() == ""
    dialog.password.setText(PASSWORD)
    with qtbot.waitSignal(controller.ready, timeout=10_000):
        dialog.sign_in_button.click()
    assert production.current_user().login == "m.leroy"
    assert window.centralWidget().isVisible() and "Martine LEROY" in window.windowTitle()
    assert (AuditAction.SIGN_IN, "echec_mot_de_passe") in _actions(production)


def test_empty_fields_are_explained_without_a_round_trip(qtbot: QtBot, production: Services) -> None:
    _window, controller = _started(qtbot, production)
    dialog = controller.session.sign_in_dialog
    assert dialog is not None
    dialog.sign_in_button.click()
    assert "identifiant" in dialog.error.text()


def test_password_set_by_an_admin_must_be_changed_with_the_policy_shown(qtbot: QtBot, production: Services) -> None:
    _window, controller = _started(qtbot, production)
    session = controller.session
    dialog = session.sign_in_dialog
    assert dialog is not None
    dialog.login.setText("nouvelle")
    dialog.password.setText("Provisoire-2026!")
    dialog.sign_in_button.click()
    qtbot.waitUntil(lambda: session.change_dialog is not None, timeout=5000)
    change = session.change_dialog
    assert change is not None and "12 caractères" in change.policy.text()
    change.new.setText("Provisoire-2026!")
    change.confirmation.setText("Provisoire-2026!")
    change.ok_button.click()
    qtbot.waitUntil(lambda: change.error.isVisible(), timeout=5000)
    assert "différent de l'actuel" in change.error.text()
    change.new.setText("Ma-Cle-Privee-2026")
    change.confirmation.setText("Ma-Cle-Privee-2026")
    with qtbot.waitSignal(controller.ready, timeout=10_000):
        change.ok_button.click()
    assert production.current_user().login == "nouvelle"


def test_inactivity_locks_and_the_password_unlocks(qtbot: QtBot, production: Services) -> None:
    production.accounts.sign_in("m.leroy", PASSWORD)
    window, controller = create_main_window(production)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(controller.ready, timeout=10_000):
        controller.start()
    session = controller.session
    session.set_inactivity_minutes(0.002)  # about 120 ms
    session.start_watching()
    qtbot.waitUntil(lambda: session.lock_screen is not None, timeout=5000)
    screen = session.lock_screen
    assert screen is not None and not window.centralWidget().isVisible()
    screen.password.setText("faux")
    screen.unlock_button.click()
    qtbot.waitUntil(lambda: screen.error.isVisible(), timeout=5000)
    assert screen.error.text().startswith("✖ Mot de passe incorrect")
    screen.reject()  # Escape does not unlock
    assert session.lock_screen is screen
    screen.password.setText(PASSWORD)
    # A long delay again, or the 120 ms one locks the session anew before the check below runs.
    session.set_inactivity_minutes(60)
    screen.unlock_button.click()
    qtbot.waitUntil(lambda: session.lock_screen is None, timeout=5000)
    assert window.centralWidget().isVisible()
    actions = _actions(production)
    assert (AuditAction.SESSION_LOCK, "ok") in actions and (AuditAction.SESSION_UNLOCK, "ok") in actions
    window.close()
    assert not session.timer.isActive()


def test_sign_out_returns_to_the_sign_in_dialog_with_extensions(qtbot: QtBot, production: Services) -> None:
    added: list[str] = []

    def psc(dialog: sign_in.SignInDialog, _session: sign_in.SessionController) -> None:
        dialog.add_alternative("Se connecter avec Pro Santé Connect")
        added.append("psc")

    sign_in.register_sign_in_extension(psc)
    try:
        production.accounts.sign_in("m.leroy", PASSWORD)
        window, controller = create_main_window(production)
        qtbot.addWidget(window)
        window.show()
        with qtbot.waitSignal(controller.ready, timeout=10_000):
            controller.start()
        window.sign_out_action.trigger()
        qtbot.waitUntil(lambda: controller.session.sign_in_dialog is not None, timeout=5000)
        assert not production.current_user.is_set and added == ["psc"]
        assert (AuditAction.SIGN_OUT, "ok") in _actions(production)
    finally:
        sign_in._EXTENSIONS.remove(psc)
