"""The "INS à scanner" datamatrix in the patient file, and the printed INS label (PDF), decoded back."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import zxingcpp
from PIL import Image
from PySide6.QtGui import QImage
from pytestqt.qtbot import QtBot

from app.bootstrap import Services
from app.dto import PatientFile
from domain.identity import IdentityStatus, Sex
from domain.ins_datamatrix import build_payload, datamatrix_for, parse_payload
from tests.gui.conftest import ServicesFactory
from ui.app import create_main_window
from ui.ins_label import NOT_QUALIFIED
from ui.main_window import MainController, MainWindow
from ui.tasks_qt import QtTaskRunner


def _start(qtbot: QtBot, services: Services) -> tuple[MainWindow, MainController]:
    window, controller = create_main_window(services)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(controller.ready, timeout=10_000):
        controller.start()
    return window, controller


def _first(services: Services, qualified: bool) -> PatientFile:
    for patient_id in range(1, 300):
        file = services.patients.open_patient(patient_id)
        sex_ok = file.patient.identity.traits.sex in (Sex.FEMALE, Sex.MALE)
        if (file.status is IdentityStatus.QUALIFIED) == qualified and sex_ok:
            return file
    raise AssertionError("no such demo patient")


def _decode(image: np.ndarray) -> str:
    found = zxingcpp.read_barcode(image, formats=zxingcpp.BarcodeFormat.DataMatrix, text_mode=zxingcpp.TextMode.Plain)
    assert found is not None, "no datamatrix found"
    return str(found.text)


def test_qualified_file_shows_the_datamatrix_and_prints_the_label(
    qtbot: QtBot, make_services: ServicesFactory, tmp_path: Path
) -> None:
    services = make_services(QtTaskRunner())
    window, controller = _start(qtbot, services)
    qualified = _first(services, qualified=True)
    plain = _first(services, qualified=False)
    box = window.patient_file.identity_tab.ins_box
    assert qualified.patient.id is not None and plain.patient.id is not None

    with qtbot.waitSignal(controller.file_shown, timeout=5000):
        controller.open_patient(plain.patient.id)
    assert box.note.text() == NOT_QUALIFIED
    assert not box.print_button.isEnabled()

    with qtbot.waitSignal(controller.file_shown, timeout=5000):
        controller.open_patient(qualified.patient.id)
    qtbot.waitUntil(box.print_button.isEnabled, timeout=5000)
    assert box.caption.text() == "<b>INS à scanner</b>"
    expected = build_payload(datamatrix_for(qualified.patient.identity))

    # What the screen shows decodes back to the payload, GS separators included.
    shown = box.picture.pixmap().toImage().convertToFormat(QImage.Format.Format_Grayscale8)
    pixels = np.array(shown.constBits(), dtype=np.uint8).reshape(shown.height(), shown.bytesPerLine())
    assert _decode(pixels[:, : shown.width()].copy()) == expected
    window.grab().save(os.environ.get("LGC_SHOT_INS_LABEL", str(tmp_path / "fichier-qualifie.png")))

    controller.ins_label.open_after_save = False
    target = tmp_path / "etiquette.pdf"
    with qtbot.waitSignal(controller.ins_label.label_written, timeout=10_000):
        controller.ins_label.write(target)
    subprocess.run(["pdftoppm", "-png", "-r", "300", str(target), str(tmp_path / "page")], check=True)
    page = np.array(Image.open(tmp_path / "page-1.png").convert("L"))
    decoded = _decode(page)
    assert decoded == expected
    assert parse_payload(decoded).matricule == qualified.patient.identity.ins.matricule  # type: ignore[union-attr]
    text = subprocess.run(["pdftotext", str(target), "-"], check=True, capture_output=True, text=True).stdout
    traits = qualified.patient.identity.traits
    assert traits.birth_name in text and traits.first_birth_given_name in text and "INS à scanner" in text
    exported = tmp_path / "traces.csv"
    services.traces.export_csv(exported, patient_id=qualified.patient.id)
    assert "ins.etiquette" in exported.read_text(encoding="utf-8")
