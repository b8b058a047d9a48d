"""The "INS à scanner" datamatrix in the patient file, and the "Imprimer l'étiquette INS" action (PDF label)."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QPixmap
from PySide6.QtWidgets import QFileDialog, QGroupBox, QLabel, QPushButton, QVBoxLayout, QWidget

from app.dto import PatientFile
from app.services.ins_label import DatamatrixImage
from app.tasks import Lane
from domain.identity import IdentityStatus, Sex
from domain.ins_datamatrix import CAPTION

if TYPE_CHECKING:
    from ui.main_window import MainController

log = logging.getLogger("lgc.ui")

NOT_QUALIFIED = "Le datamatrix « INS à scanner » n'est produit que pour une identité qualifiée."
SEX_UNKNOWN = "Sexe indéterminé : le datamatrix INS ne peut pas être produit (le format n'admet que F ou M)."


class InsDatamatrixBox(QGroupBox):
    """A small group: the datamatrix, its caption, and the print action (or why there is none).

    Signals:
        print_requested: the user clicked "Imprimer l'étiquette INS…".
    """

    print_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("INS à scanner", parent)
        layout = QVBoxLayout(self)
        self.picture = QLabel()
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setToolTip(
            "Datamatrix de l'INS (format ANS IS01) : matricule, OID et traits d'identité, pour les documents papier."
        )
        self.caption = QLabel(f"<b>{CAPTION}</b>")
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #555;")
        self.print_button = QPushButton("Imprimer l'étiquette INS…")
        self.print_button.setToolTip("Enregistre une étiquette PDF (identité + datamatrix) à imprimer")
        self.print_button.clicked.connect(self.print_requested)
        for widget in (self.picture, self.caption, self.note, self.print_button):
            layout.addWidget(widget)
        self.show_unavailable(NOT_QUALIFIED)

    def show_image(self, png: bytes) -> None:
        """Show the datamatrix and enable printing."""
        pixmap = QPixmap()
        pixmap.loadFromData(png)
        self.picture.setPixmap(pixmap)
        self.picture.show()
        self.caption.show()
        self.note.hide()
        self.print_button.setEnabled(True)

    def show_unavailable(self, reason: str) -> None:
        """No datamatrix: say why; printing disabled."""
        self.picture.clear()
        self.picture.hide()
        self.caption.hide()
        self.note.setText(reason)
        self.note.show()
        self.print_button.setEnabled(False)


class InsLabelController(QObject):
    """Fills the datamatrix box when a file is shown, and writes the label PDF on request (through the tasks).

    ``open_after_save``: open the written PDF with the system viewer (to print it); tests turn it off.
    """

    label_written = Signal(object)

    def __init__(self, main: MainController) -> None:
        super().__init__(main)
        self._main = main
        self._service = main._s.ins_label
        self._tasks = main._s.tasks
        self._box: InsDatamatrixBox = main.window.patient_file.identity_tab.ins_box
        self._file: PatientFile | None = None
        self._request = 0
        self.dialog: QFileDialog | None = None
        self.open_after_save = True
        main.file_shown.connect(self.file_shown)
        self._box.print_requested.connect(self.ask_path)

    def file_shown(self, file: PatientFile) -> None:
        """Render the datamatrix of a qualified identity off the UI thread."""
        self._file = file
        self._request += 1
        request = self._request
        identity = file.patient.identity
        if file.status is not IdentityStatus.QUALIFIED or identity.ins is None:
            self._box.show_unavailable(NOT_QUALIFIED)
            return
        if identity.traits.sex is Sex.INDETERMINATE:
            self._box.show_unavailable(SEX_UNKNOWN)
            return
        service = self._service

        def shown(image: DatamatrixImage) -> None:
            if request == self._request:
                self._box.show_image(image.png)

        def failed(exc: BaseException) -> None:
            if request == self._request:
                self._box.show_unavailable(getattr(exc, "message_fr", "Datamatrix INS indisponible."))
                log.warning("Datamatrix not rendered: %s", type(exc).__name__)

        self._tasks.submit(lambda: service.image(identity), lane=Lane.NET, on_success=shown, on_error=failed)

    def ask_path(self) -> None:
        """Ask where to save the label (non-blocking dialog)."""
        file = self._file
        if file is None or file.patient.id is None:
            return
        traits = file.patient.identity.traits
        name = re.sub(r"[^A-Za-z0-9-]+", "-", f"{traits.birth_name}-{traits.first_birth_given_name}").strip("-")
        dialog = QFileDialog(
            self._main.window, "Enregistrer l'étiquette INS", str(Path.home() / f"etiquette-INS-{name}.pdf")
        )
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setNameFilter("PDF (*.pdf)")
        dialog.setDefaultSuffix("pdf")
        dialog.fileSelected.connect(lambda path: self.write(Path(path)))
        self.dialog = dialog
        dialog.open()

    def write(self, path: Path) -> None:
        """Write the label PDF for the displayed file (DB lane: the print is traced)."""
        file = self._file
        if file is None or file.patient.id is None:
            return
        patient_id = file.patient.id
        service = self._service
        place = file.birth_place_label

        def done(written: Path) -> None:
            self._main.window.statusBar().showMessage(f"Étiquette INS enregistrée : {written}", 10000)
            self.label_written.emit(written)
            if self.open_after_save:
                QDesktopServices.openUrl(QUrl.fromLocalFile(str(written)))

        self._tasks.submit(
            lambda: service.write_label(patient_id, path, place),
            lane=Lane.DB,
            on_success=done,
            on_error=self._write_failed,
        )

    def _write_failed(self, exc: BaseException) -> None:
        self._main.presenter.present(exc, context="Étiquette INS")
