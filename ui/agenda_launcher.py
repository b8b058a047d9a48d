"""Opens the agenda window from the main window and feeds the patient file's Agenda tab (imports lazily)."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QWidget

from app.services.agenda import PatientAgenda
from app.tasks import Lane
from ui.error_presenter import ErrorPresenter, describe_error
from ui.patient_agenda_tab import PatientAgendaTab

if TYPE_CHECKING:  # types only: the agenda window is imported on first use (start-up stays quick)
    from app.bootstrap import Services
    from app.dto import PatientFile
    from ui.agenda_window import AgendaController, AgendaWindow

log = logging.getLogger("lgc.ui.agenda")


class AgendaLauncher(QObject):
    """Opens the agenda window once and brings it back; feeds the open patient's Agenda tab.

    Signals:
        changed: an appointment changed (the open patient file refreshes its Agenda tab).
        opened(object): the agenda window's controller, once created.
    """

    changed = Signal()
    opened = Signal(object)

    def __init__(self, services: Services, presenter: ErrorPresenter, parent: QWidget) -> None:
        super().__init__(parent)
        self._services = services
        self._presenter = presenter
        self.window: AgendaWindow | None = None
        self.controller: AgendaController | None = None
        self.tab: PatientAgendaTab | None = None
        self._file: PatientFile | None = None
        self._requests = itertools.count(1)
        self._latest = 0
        self.changed.connect(self.refresh_tab)

    def open(self, practitioner_id: int | None = None) -> AgendaController:
        """Show the agenda window (created on first use)."""
        if self.window is None or self.controller is None:
            from ui.agenda_window import AgendaController, AgendaWindow

            window = AgendaWindow()
            window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            controller = AgendaController(window, self._services, ErrorPresenter(window))
            controller.changed.connect(self.changed)
            window.closing.connect(self._closed)
            self.window, self.controller = window, controller
            window.show()
            controller.start(practitioner_id)
            self.opened.emit(controller)
        else:
            self.window.showNormal()
            self.window.raise_()
            self.window.activateWindow()
        return self.controller

    def _closed(self) -> None:
        self.window = None
        self.controller = None

    # -- the patient file's Agenda tab -----------------------------------------------------------------------
    def bind_tab(self, tab: PatientAgendaTab) -> None:
        """Wire the patient file's Agenda tab buttons."""
        self.tab = tab
        tab.book_requested.connect(self._book_for_patient)
        tab.series_requested.connect(self._series_for_patient)
        tab.open_agenda_requested.connect(lambda: self.open())

    def show_file(self, file: PatientFile) -> None:
        """A patient file is displayed: load its appointments."""
        self._file = file
        self.refresh_tab()

    def refresh_tab(self) -> None:
        """Re-read the open patient's appointments (DB lane; a later request wins)."""
        tab, file = self.tab, self._file
        if tab is None or file is None:
            return
        request = next(self._requests)
        self._latest = request
        agenda = self._services.agenda
        patient_id = file.id
        tab.set_loading()

        def shown(result: PatientAgenda) -> None:
            if request == self._latest and result.patient_id == patient_id:
                tab.set_agenda(result)

        def failed(exc: BaseException) -> None:
            if request == self._latest:
                tab.set_error(describe_error(exc).text)

        self._services.tasks.submit(
            lambda: agenda.patient_agenda(patient_id), lane=Lane.DB, on_success=shown, on_error=failed
        )

    def _patient(self) -> tuple[int, str] | None:
        file = self._file
        if file is None:
            return None
        traits = file.patient.identity.traits
        given = (traits.used_given_name or traits.first_birth_given_name).title()
        name = f"{traits.used_name or traits.birth_name} {given}"
        return file.id, name

    def _book_for_patient(self) -> None:
        patient = self._patient()
        if patient is not None:
            controller = self.open()
            self._when_ready(controller, lambda: controller.new_appointment(patient=patient))

    def _series_for_patient(self) -> None:
        patient = self._patient()
        if patient is not None:
            controller = self.open()
            self._when_ready(controller, lambda: controller.new_series(patient=patient))

    @staticmethod
    def _when_ready(controller: AgendaController, action: Callable[[], object]) -> None:
        if controller.is_ready:
            action()
            return

        def once() -> None:
            controller.ready.disconnect(once)
            action()

        controller.ready.connect(once)
