"""The agenda window on real services: create, drag-move, keyboard, cancel one occurrence of a series, undo, round."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget
from pytestqt.qtbot import QtBot

from app.bootstrap import Services
from app.services.agenda import SeriesRequest
from app.tasks import InlineTaskRunner
from domain.agenda import Appointment, AppointmentStatus, SeriesPlan, local_datetime, parse_rhythm, to_local, week_start
from tests.gui.conftest import ServicesFactory
from ui.agenda_window import AgendaController
from ui.app import create_main_window
from ui.main_window import MainController


def _open(qtbot: QtBot, services: Services) -> tuple[MainController, AgendaController]:
    window, controller = create_main_window(services)
    qtbot.addWidget(window)
    window.show()
    controller.start()
    mk = next(p for p in services.agenda.practitioners() if p.login == "mk")
    agenda = controller.agenda.open(mk.id)
    assert agenda.window is not None
    qtbot.addWidget(agenda.window)
    agenda.window.resize(1300, 850)
    return controller, agenda


def _go_to(agenda: AgendaController, day: dt.date) -> None:
    agenda.anchor = day
    agenda.reload()
    QApplication.processEvents()


def _mouse(widget: QWidget, kind: QEvent.Type, pos: QPoint) -> None:
    buttons = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseButtonRelease else Qt.MouseButton.LeftButton
    event = QMouseEvent(
        kind,
        QPointF(pos),
        QPointF(widget.mapToGlobal(pos)),
        Qt.MouseButton.LeftButton,
        buttons,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(widget, event)


FUTURE = week_start(dt.date.today() + dt.timedelta(days=120))  # a Monday, beyond the demo week and its series


def test_create_then_drag_move_then_undo(qtbot: QtBot, make_services: ServicesFactory) -> None:
    services = make_services(InlineTaskRunner())
    main, agenda = _open(qtbot, services)
    window = agenda.window
    mk = agenda.selected_ids()[0]
    assert window.grid.columns and window.period_label.text().startswith("Semaine du")
    patient = services.patients.search("a", limit=1).rows[0]

    # Create: double-click a free slot opens the dialog at that time; conflicts are shown before saving.
    _go_to(agenda, FUTURE)
    tuesday = FUTURE + dt.timedelta(days=1)
    column = window.grid.column_index(tuesday, mk)
    assert column is not None
    point = window.grid.point_for(column, local_datetime(tuesday, dt.time(9, 0)))
    qtbot.mouseDClick(window.grid, Qt.MouseButton.LeftButton, pos=point)
    dialog = agenda.dialog
    assert dialog is not None and dialog.windowTitle() == "Nouveau rendez-vous"
    assert to_local(dialog.draft().start).time() == dt.time(9, 0)
    assert "Créneau libre" in dialog.conflicts.text()
    dialog.picker.set_patient(patient.id, patient.birth_name)
    dialog.dmp_informed.setChecked(True)
    dialog.save_button.click()
    assert agenda.dialog is None
    booked = [
        a for a in services.agenda.patient_agenda(patient.id).future if a.start == local_datetime(tuesday, dt.time(9))
    ]
    assert len(booked) == 1 and booked[0].dmp.informed
    appointment = booked[0]
    assert window.grid.block_rect(appointment.id or 0) is not None

    # Drag and drop to Wednesday 14:00.
    rect = window.grid.block_rect(appointment.id or 0)
    assert rect is not None
    wednesday = FUTURE + dt.timedelta(days=2)
    target_column = window.grid.column_index(wednesday, mk)
    assert target_column is not None
    start_point = QPoint(rect.center().x(), rect.top() + 3)
    target = window.grid.point_for(target_column, local_datetime(wednesday, dt.time(14, 0)))
    _mouse(window.grid, QEvent.Type.MouseButtonPress, start_point)
    _mouse(window.grid, QEvent.Type.MouseMove, QPoint(start_point.x() + 20, start_point.y() + 20))
    _mouse(window.grid, QEvent.Type.MouseMove, target)
    _mouse(window.grid, QEvent.Type.MouseButtonRelease, target)
    moved = services.agenda.get(appointment.id or 0)
    assert moved.start == local_datetime(wednesday, dt.time(14, 0)) and moved.duration == appointment.duration
    assert "Déplacé" in window.message.text()

    # Keyboard: Down moves by 15 minutes, Shift+Down lengthens by 15 minutes.
    window.grid.select(appointment.id)
    window.grid.setFocus()
    qtbot.keyClick(window.grid, Qt.Key.Key_Down)
    qtbot.keyClick(window.grid, Qt.Key.Key_Down, Qt.KeyboardModifier.ShiftModifier)
    after_keys = services.agenda.get(appointment.id or 0)
    assert after_keys.start == local_datetime(wednesday, dt.time(14, 15))
    assert after_keys.duration == appointment.duration + dt.timedelta(minutes=15)

    # Undo (Ctrl+Z action) three times: back to Tuesday 09:00.
    for _ in range(3):
        window.undo_action.trigger()
    assert services.agenda.get(appointment.id or 0).start == local_datetime(tuesday, dt.time(9, 0))

    # The patient file shows it in its Agenda tab.
    main.open_patient(patient.id)
    tab = main.window.patient_file.agenda_tab
    assert any(tab.future.item(r, 0).text() == f"{tuesday:%d/%m/%Y}" for r in range(tab.future.rowCount()))


def test_dropping_on_a_busy_slot_asks_first(qtbot: QtBot, make_services: ServicesFactory) -> None:
    services = make_services(InlineTaskRunner())
    _main, agenda = _open(qtbot, services)
    mk = agenda.selected_ids()[0]
    rows = services.patients.search("a", limit=2).rows
    day = FUTURE + dt.timedelta(days=3)
    first = services.agenda.book(
        Appointment(
            None, mk, rows[0].id, local_datetime(day, dt.time(10)), local_datetime(day, dt.time(10, 30)), "REEDUC"
        )
    ).appointment
    second = services.agenda.book(
        Appointment(
            None, mk, rows[1].id, local_datetime(day, dt.time(11)), local_datetime(day, dt.time(11, 30)), "REEDUC"
        )
    ).appointment
    _go_to(agenda, day)
    agenda.move(second, first.start, first.end, mk)
    box = agenda.confirm_box
    assert isinstance(box, QMessageBox) and "chevauche" in box.informativeText()
    assert services.agenda.get(second.id or 0).start == second.start  # nothing saved before the answer
    next(b for b in box.buttons() if b.text() == "Déplacer quand même").click()
    assert services.agenda.get(second.id or 0).start == first.start


def test_cancel_one_occurrence_of_a_series(qtbot: QtBot, make_services: ServicesFactory, tmp_path: Path) -> None:
    services = make_services(InlineTaskRunner())
    _main, agenda = _open(qtbot, services)
    window = agenda.window
    mk = agenda.selected_ids()[0]
    patient = services.patients.search("b", limit=1).rows[0]
    summary = services.agenda.plan_series(
        SeriesRequest(
            patient.id,
            mk,
            "REEDUC",
            "Rééducation de l'épaule",
            SeriesPlan(
                parse_rhythm("2 séances par semaine pendant 6 semaines"),
                FUTURE,
                (dt.time(7, 0),),
                frozenset({1, 4}),
                30,
            ),
        ),
        force=True,
    )
    target = summary.occurrences[3]
    _go_to(agenda, to_local(target.start).date())
    window.grid.setFocus()
    window.grid.select(target.id)
    qtbot.keyClick(window.grid, Qt.Key.Key_Delete)
    dialog = agenda.cancel_dialog
    assert (
        dialog is not None and "Seule cette séance est annulée" in dialog.findChildren(type(window.message))[0].text()
    )
    dialog.ok.click()
    assert "motif" in dialog.error.text()  # a reason is required
    dialog.reason.setCurrentText("Patient malade")
    dialog.ok.click()
    after = services.agenda.series_summary(summary.series.id or 0)
    statuses = [o.status for o in after.occurrences]
    assert statuses[3] is AppointmentStatus.CANCELLED and statuses.count(AppointmentStatus.CANCELLED) == 1
    assert [o.start for o in after.occurrences] == [o.start for o in summary.occurrences]
    assert after.occurrences[3].status_reason == "Patient malade"
    assert window.grid.block_rect(target.id or 0) is None  # cancelled ones are hidden by default
    window.show_cancelled.setChecked(True)
    assert window.grid.block_rect(target.id or 0) is not None


def test_round_tab_reorder_and_sheet(qtbot: QtBot, make_services: ServicesFactory) -> None:
    services = make_services(InlineTaskRunner())
    _main, agenda = _open(qtbot, services)
    window = agenda.window
    window.tabs.setCurrentWidget(window.round)
    ide = next(p for p in agenda.practitioners if p.login == "ide")
    window.round.practitioner.setCurrentIndex(window.round.practitioner.findData(ide.id))
    today = services.clock.today()
    window.round.day.setDate(window.round.day.date().fromString(f"{today:%d/%m/%Y}", "dd/MM/yyyy"))
    ids = window.round.ordered_ids()
    assert len(ids) >= 5
    window.round.list.setCurrentRow(0)
    qtbot.keyClick(window.round.list, Qt.Key.Key_Down, Qt.KeyboardModifier.AltModifier)
    assert window.round.ordered_ids() == [ids[1], ids[0], *ids[2:]]
    window.round.save.click()
    view = services.agenda.round_of_day(ide.id, today)
    assert [s.appointment_id for s in view.stops] == [ids[1], ids[0], *ids[2:]]
    window.round.suggest.click()
    assert "Ordre suggéré" in window.round.summary.text()
    window.round.print_sheet.click()
    assert agenda.last_sheet is not None and agenda.last_sheet.read_bytes().startswith(b"%PDF")
