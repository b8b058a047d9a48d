"""Clinical record: open a file with 2,000 observations, macro expansion, dashboard over 100,000 patients (JSON)."""

from __future__ import annotations

import argparse
import datetime as dt
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit, median, percentile, populated_data_dir
from _gui import open_app, wait_until


def _copy_store(source: Path, target: Path) -> Path:
    """A private copy of a cached store (the bench adds record data; the cache stays as other benches expect)."""
    target.mkdir(parents=True, exist_ok=True)
    for name in ("lgc.sqlite3", "lgc.toml"):
        if (source / name).exists():
            shutil.copy2(source / name, target / name)
    return target


def _observations(patient_id: int, count: int, now: dt.datetime) -> list[Any]:
    """Five years of history for one patient: free text and wound, Braden and injection forms."""
    from domain.record import Observation, ObservationKind

    rng = random.Random(11)
    result = []
    for i in range(count):
        at = now - dt.timedelta(hours=22 * (count - i))
        if i % 3 == 0:
            values = {"plaie": "Talon gauche", "type": "ulcere_veineux", "longueur": 4.0, "largeur": 3.0}
            values["surface"] = 12.0
            result.append(
                Observation(
                    None,
                    patient_id,
                    at,
                    "ide",
                    "Camille DURAND (ide)",
                    "60",
                    ObservationKind.FORM,
                    "Suivi de plaie",
                    template_key="ide.plaie",
                    template_version=1,
                    values=values,
                    summary="Plaie : Talon gauche ; Surface (cm²) : 12",
                )
            )
        else:
            text = f"Passage n° {i}. Pansement refait, plaie propre. TA {rng.randint(110, 150)}/80. " * 4
            result.append(
                Observation(
                    None,
                    patient_id,
                    at,
                    "ide",
                    "Camille DURAND (ide)",
                    "60",
                    ObservationKind.TEXT,
                    "Observation",
                    text=text,
                    summary=text[:160],
                )
            )
    return result


def bench_open_record(rounds: int) -> dict[str, float]:
    """Open a patient file whose record has 2,000 observations, to the first paint of the timeline.

    Baseline: the same file opening for a patient with an empty record (identity, banner, other tabs).
    """
    data_dir, _ = populated_data_dir(2000)
    with tempfile.TemporaryDirectory(prefix="lgc-bench-record-") as tmp:
        copy = _copy_store(data_dir, Path(tmp) / "data")
        running = open_app(copy)
        try:
            services, window, controller = running.services, running.window, running.controller
            rows = services.patients.search("ma").rows
            heavy, light = rows[0].id, rows[1].id
            now = services.clock.now()
            with services.record._uow() as uow:
                uow.record.add_observations(_observations(heavy, 2000, now))
                uow.commit()
            window.patient_file.tabs.setCurrentWidget(window.patient_file.observations_tab)
            record = controller.record.controller
            tab = window.patient_file.observations_tab

            def open_once(pid: int, expected: int) -> float:
                loaded: list[int] = []
                record.loaded.connect(loaded.append)
                started = time.perf_counter()
                controller.open_patient(pid)
                wait_until(running.app, lambda: bool(loaded) and tab.model.observation_count == expected, 10)
                tab.timeline.repaint()
                window.patient_file.repaint()
                elapsed = (time.perf_counter() - started) * 1000
                record.loaded.disconnect(loaded.append)
                # Let the follow-up tasks (alerts, macros) finish before the next round.
                end = time.monotonic() + 0.3
                while time.monotonic() < end:
                    running.app.processEvents()
                return elapsed

            open_once(heavy, 2000)  # warm-up (first paint of the tab's widgets, page cache)
            heavy_ms, light_ms = [], []
            for _ in range(rounds):
                heavy_ms.append(open_once(heavy, 2000))
                light_ms.append(open_once(light, 0))
            return {
                "open_record_ms": round(median(heavy_ms), 1),
                "open_record_p95_ms": round(percentile(heavy_ms, 95), 1),
                "open_record_baseline_ms": round(median(light_ms), 1),
                "observations": 2000,
            }
        finally:
            running.close()


def bench_macro(rounds: int) -> dict[str, float]:
    """Expand ``@allergies`` at the end of a 60,000-character observation in the real editor widget.

    Baseline: typing a plain space at the same place.
    """
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QKeyEvent
    from PySide6.QtWidgets import QApplication

    from domain.macros import DEFAULT_MACROS, Macro, MacroSet
    from ui.record_view import MacroTextEdit

    app = QApplication.instance() or QApplication(["bench"])
    macros = MacroSet([*DEFAULT_MACROS, *(Macro(f".m{i}", f"M{i}", f"texte {i} " * 20) for i in range(200))])
    context = {"allergies": "Pénicilline (urticaire), iode (eczéma)", "patient": "DUPONT Marie"}
    editor = MacroTextEdit()
    editor.macros, editor.context = macros, context
    editor.resize(800, 600)
    editor.show()
    base = ("Pansement refait, plaie propre. " * 2000)[:60_000]
    space = QKeyEvent(QKeyEvent.Type.KeyPress, Qt.Key.Key_Space, Qt.KeyboardModifier.NoModifier, " ")
    macro_ms, plain_ms = [], []
    for _ in range(rounds):
        editor.setPlainText(base + "\n@allergies")
        editor.moveCursor(editor.textCursor().MoveOperation.End)
        app.processEvents()
        started = time.perf_counter()
        editor.keyPressEvent(space)
        macro_ms.append((time.perf_counter() - started) * 1000)
        assert editor.toPlainText().endswith("Allergies : Pénicilline (urticaire), iode (eczéma). ")
        editor.setPlainText(base + "\nmot")
        editor.moveCursor(editor.textCursor().MoveOperation.End)
        app.processEvents()
        started = time.perf_counter()
        editor.keyPressEvent(space)
        plain_ms.append((time.perf_counter() - started) * 1000)
    pure = []
    text = base + " @allergies"
    for _ in range(rounds * 10):
        started = time.perf_counter()
        macros.expand_before(text, len(text), context)
        pure.append((time.perf_counter() - started) * 1000)
    editor.close()
    return {
        "macro_ms": round(percentile(macro_ms, 95), 3),
        "macro_median_ms": round(median(macro_ms), 3),
        "macro_baseline_keypress_ms": round(percentile(plain_ms, 95), 3),
        "macro_domain_only_ms": round(percentile(pure, 95), 4),
    }


def bench_dashboard(patients: int, rounds: int) -> dict[str, float]:
    """The dashboard rules over the whole practice, run on the DB lane (background), as the window does.

    The store gets realistic record data first: vaccinations for 30 % of patients, wound and Braden follow-ups
    for 1,500 patients, pregnancy follow-ups for 300. Baseline: reading the practice overview (patient count).
    """
    from app.bootstrap import build
    from app.settings import load_settings
    from app.tasks import Lane, ThreadedTaskRunner
    from domain.record import EntryKind, Observation, ObservationKind, RecordEntry

    data_dir, built_s = populated_data_dir(patients)
    with tempfile.TemporaryDirectory(prefix="lgc-bench-dashboard-") as tmp:
        copy = _copy_store(data_dir, Path(tmp) / "data")
        services = build(load_settings(copy), tasks=ThreadedTaskRunner())
        try:
            services.practice.sign_in("ide")
            now = services.clock.now()
            today = services.clock.today()
            rng = random.Random(5)
            with services.record._uow() as uow:
                people = uow.record.demographics()
            ids = [p.patient_id for p in people]
            rows = []
            for pid in rng.sample(ids, len(ids) * 3 // 10):
                for code, years in (("dtp,coqueluche", 6), ("grippe", 1), ("ror", 20)):
                    day = today - dt.timedelta(days=rng.randint(30, 365 * years))
                    rows.append(
                        RecordEntry(None, pid, EntryKind.VACCINATION, code, code, "", day, None, True, now, "bench")
                    )
            observations = []
            for pid in rng.sample(ids, 1500):
                for week in range(4):
                    at = now - dt.timedelta(days=7 * (4 - week))
                    area = 12.0 - week * rng.choice((0.2, 1.5))
                    observations.append(
                        Observation(
                            None,
                            pid,
                            at,
                            "ide",
                            "bench",
                            "60",
                            ObservationKind.FORM,
                            "Suivi de plaie",
                            template_key="ide.plaie",
                            template_version=1,
                            values={"plaie": "Talon", "surface": area},
                            summary="",
                        )
                    )
                observations.append(
                    Observation(
                        None,
                        pid,
                        now - dt.timedelta(days=3),
                        "ide",
                        "bench",
                        "60",
                        ObservationKind.FORM,
                        "Braden",
                        template_key="ide.braden",
                        template_version=1,
                        values={"total": float(rng.randint(8, 22))},
                        summary="",
                    )
                )
            for pid in rng.sample(ids, 300):
                lmp = today - dt.timedelta(days=rng.randint(40, 260))
                observations.append(
                    Observation(
                        None,
                        pid,
                        now - dt.timedelta(days=10),
                        "sf",
                        "bench",
                        "50",
                        ObservationKind.FORM,
                        "Suivi de grossesse",
                        template_key="sf.suivi_grossesse",
                        template_version=1,
                        values={
                            "datation": "ddr",
                            "ddr": lmp.isoformat(),
                            "date_visite": today.isoformat(),
                            "etapes": ["declaration"],
                        },
                        summary="",
                    )
                )
            with services.record._uow() as uow:
                uow.record.add_observations(observations)
                uow.record.add_entries(rows)
                uow.commit()
            services.record.decision  # noqa: B018 - load the rule data once, as the first alert display would
            seconds, baseline = [], []
            sections: dict[str, int] = {}
            for _ in range(rounds):
                started = time.perf_counter()
                board = services.tasks.submit(services.record.dashboard, lane=Lane.DB).result(timeout=120)
                seconds.append(time.perf_counter() - started)
                sections = {s.key: s.total for s in board.sections}
                started = time.perf_counter()
                services.tasks.submit(services.practice.overview, lane=Lane.DB).result(timeout=120)
                baseline.append(time.perf_counter() - started)
            return {
                "dashboard_s": round(median(seconds), 3),
                "dashboard_max_s": round(max(seconds), 3),
                "dashboard_baseline_overview_s": round(median(baseline), 3),
                "dashboard_patients": len(ids),
                "dashboard_sections": sections,  # type: ignore[dict-item]
                "store_built_s": round(built_s, 1),
            }
        finally:
            services.close()


def main() -> None:
    """Run the three measures and print one JSON object."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--only", choices=("macro", "open", "dashboard"), default=None, help="run one measure (default: all three)"
    )
    args = parser.parse_args()
    result: dict[str, object] = {}
    if args.only in (None, "macro"):
        result.update(bench_macro(max(20, args.rounds * 4)))
    if args.only in (None, "open"):
        result.update(bench_open_record(args.rounds))
    if args.only in (None, "dashboard"):
        result.update(bench_dashboard(args.patients, max(3, args.rounds // 2)))
    result["targets"] = {"open_record_ms": 200, "macro_ms": 10, "dashboard_s": 2}
    emit(result)


if __name__ == "__main__":
    main()
