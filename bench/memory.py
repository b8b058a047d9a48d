"""Resident memory with 100,000 patients and the main window open, against a bare PySide6 window."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, emit, populated_data_dir

BARE_QT = """
import os, psutil
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow
app = QApplication([])
window = QMainWindow(); window.setCentralWidget(QLabel("LGC")); window.resize(1200, 800); window.show()
app.processEvents()
print(psutil.Process().memory_info().rss)
"""


def main() -> None:
    """Print {rss_mb, bare_qt_rss_mb, ...} after the list is populated and a patient file is open."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=100_000)
    args = parser.parse_args()
    data_dir, _ = populated_data_dir(args.patients)

    import psutil
    from _gui import open_app, wait_until

    opened = open_app(data_dir)
    try:
        controller = opened.controller
        shown: list[object] = []
        controller.file_shown.connect(shown.append)
        first = controller.list_controller.model.row_at(0)
        controller.open_patient(first.id)
        wait_until(opened.app, lambda: bool(shown), 30)
        box = controller.window.patient_list.search_box
        results: list[int] = []
        controller.list_controller.results_shown.connect(results.append)
        for text in ("ma", "dupont", "12/03/1952", ""):
            before = len(results)
            box.setText(text)

            def answered(b: int = before) -> bool:
                return len(results) > b

            wait_until(opened.app, answered, 30)
        for _ in range(50):
            opened.app.processEvents()
        rss = psutil.Process().memory_info().rss
    finally:
        opened.close()
    bare = int(
        subprocess.run([sys.executable, "-c", BARE_QT], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    )
    emit(
        {
            "bench": "memory",
            "patients": args.patients,
            "rss_mb": round(rss / 2**20, 1),
            "bare_qt_rss_mb": round(bare / 2**20, 1),
            "target_mb": 250,
        }
    )


if __name__ == "__main__":
    main()
