"""Agenda: week view of 5 practitioners with 400 appointments, drag-and-drop move UI time, 100-occurrence series."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from _common import emit, median, percentile, populated_data_dir
from _gui import wait_until

LOGINS = ("mk", "ortho", "sf", "podo", "ipa")
PER_PRACTITIONER = 80  # 5 × 80 = 400 appointments in the week


def main() -> None:
    """Print {week_view_ms, move_ui_ms, series_ms, baselines…}: medians over several runs, same process."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    from app.bootstrap import build, sign_in_configured_user
    from app.services.agenda import SeriesRequest
    from app.settings import load_settings
    from domain.agenda import Appointment, SeriesPlan, generate_series, local_datetime, parse_rhythm, week_start
    from ui.agenda_window import AgendaController, AgendaWindow
    from ui.app import ensure_application
    from ui.error_presenter import ErrorPresenter
    from ui.tasks_qt import QtTaskRunner

    source, _ = populated_data_dir(args.patients)
    with tempfile.TemporaryDirectory(prefix="lgc-bench-agenda-") as tmp:
        data_dir = Path(tmp)
        shutil.copy(source / "lgc.sqlite3", data_dir / "lgc.sqlite3")
        app = ensure_application(["lgc-bench"])
        services = build(load_settings(data_dir), tasks=QtTaskRunner())
        try:
            sign_in_configured_user(services)
            agenda = services.agenda
            practitioners = {p.login: p for p in agenda.practitioners()}
            ids = [practitioners[login].id for login in LOGINS]
            patients = [r.id for r in services.patients.search("", limit=400).rows]
            monday = week_start(dt.date.today() + dt.timedelta(days=70))
            setup_started = time.perf_counter()
            n = 0
            for pid in ids:
                for k in range(PER_PRACTITIONER):
                    day = monday + dt.timedelta(days=k // 16)
                    start = local_datetime(day, dt.time(8)) + dt.timedelta(minutes=30 * (k % 16))
                    agenda.book(
                        Appointment(
                            None,
                            pid,
                            patients[n % len(patients)],
                            start,
                            start + dt.timedelta(minutes=30),
                            "REEDUC",
                            care="Séance de rééducation",
                        ),
                        force=True,
                    )
                    n += 1
            setup_s = time.perf_counter() - setup_started

            window = AgendaWindow()
            window.resize(1600, 900)
            controller = AgendaController(window, services, ErrorPresenter(window))
            window.show()
            ready: list[bool] = []
            controller.ready.connect(lambda: ready.append(True))
            controller.start(ids[0])
            wait_until(app, lambda: bool(ready), 60)
            combo = window.practitioner
            combo.addItem("Banc d'essai : 5 praticiens", ids)
            loaded: list[bool] = []
            controller.loaded.connect(lambda: loaded.append(True))
            controller.anchor = monday
            combo.setCurrentIndex(combo.count() - 1)
            wait_until(app, lambda: bool(loaded), 60)

            # Week view: read the week (DB) and paint it, as "Semaine" does; baseline: an empty week.
            empty_monday = monday + dt.timedelta(days=21)

            def show_week(first: dt.date) -> tuple[float, int]:
                started = time.perf_counter()
                period = agenda.period(ids, first, first + dt.timedelta(days=6))
                controller.anchor = first
                controller.show_period(period)
                window.grid.repaint()
                return (time.perf_counter() - started) * 1000, len(period.appointments)

            show_week(monday)
            week_runs, empty_runs, shown = [], [], 0
            for _ in range(args.runs):
                ms, shown = show_week(monday)
                week_runs.append(ms)
                empty_runs.append(show_week(empty_monday)[0])
            controller.period = agenda.period(ids, monday, monday + dt.timedelta(days=6))
            controller.anchor = monday
            controller.show_period(controller.period)
            app.processEvents()

            # Drag and drop: UI time from press to release handled (local conflict check, optimistic display,
            # submission to the DB lane) and the repaint it asked for; the save is awaited outside the measure.
            # Baseline: a plain click (selection) on the same appointment.
            grid = window.grid

            def send(kind: QEvent.Type, pos: QPoint) -> None:
                buttons = (
                    Qt.MouseButton.NoButton if kind == QEvent.Type.MouseButtonRelease else Qt.MouseButton.LeftButton
                )
                event = QMouseEvent(
                    kind,
                    QPointF(pos),
                    QPointF(grid.mapToGlobal(pos)),
                    Qt.MouseButton.LeftButton,
                    buttons,
                    Qt.KeyboardModifier.NoModifier,
                )
                QApplication.sendEvent(grid, event)

            move_runs, click_runs = [], []
            profiler = None
            if os.environ.get("LGC_BENCH_PROFILE"):
                import cProfile

                profiler = cProfile.Profile()
            friday = monday + dt.timedelta(days=4)
            for run in range(args.runs):
                # The last appointment of Friday for one practitioner, moved to the evening (free), and back.
                pid = ids[run % len(ids)]
                mine = sorted(
                    (a for a in grid.appointments.values() if a.practitioner_id == pid), key=lambda a: a.start
                )
                appointment = mine[-1]
                rect = grid.block_rect(appointment.id or 0)
                column = grid.column_index(friday, pid)
                assert rect is not None and column is not None
                hour = 17 if run % 2 == 0 else 18
                target = grid.point_for(column, local_datetime(friday, dt.time(hour, 0)))
                press = QPoint(rect.center().x(), rect.top() + 3)
                started = time.perf_counter()
                send(QEvent.Type.MouseButtonPress, press)
                send(QEvent.Type.MouseButtonRelease, press)
                app.processEvents()  # the repaint the click asked for (only the blocks concerned)
                click_runs.append((time.perf_counter() - started) * 1000)
                if profiler is not None:
                    profiler.enable()
                started = time.perf_counter()
                send(QEvent.Type.MouseButtonPress, press)
                send(QEvent.Type.MouseMove, QPoint(press.x(), press.y() + 30))
                send(QEvent.Type.MouseButtonRelease, target)
                app.processEvents()  # the optimistic repaint of the two columns concerned
                move_runs.append((time.perf_counter() - started) * 1000)
                if profiler is not None:
                    profiler.disable()
                wait_until(app, lambda: controller.pending_moves == 0, 30)
            saved = agenda.get(appointment.id or 0)
            if profiler is not None:
                import pstats

                pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)

            # A 100-occurrence series: generated (domain) and planned (conflict check + one insert).
            request = SeriesRequest(
                patients[0],
                ids[0],
                "REEDUC",
                "Banc d'essai",
                SeriesPlan(
                    parse_rhythm("2 fois par jour pendant 50 jours"),
                    monday + dt.timedelta(days=200),
                    (dt.time(6, 0), dt.time(20, 0)),
                    frozenset(range(7)),
                    15,
                ),
            )
            generate_runs, series_runs, book_runs = [], [], []
            for run in range(max(3, args.runs // 3)):
                started = time.perf_counter()
                occurrences = generate_series(request.plan)
                generate_runs.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                summary = agenda.plan_series(request, force=True)
                series_runs.append((time.perf_counter() - started) * 1000)
                agenda.undo()
                start = local_datetime(monday + dt.timedelta(days=300 + run), dt.time(9))
                started = time.perf_counter()
                agenda.book(Appointment(None, ids[0], patients[0], start, start + dt.timedelta(minutes=30), "REEDUC"))
                book_runs.append((time.perf_counter() - started) * 1000)
            assert len(occurrences) == 100 and len(summary.occurrences) == 100
            window.close()
        finally:
            services.close()
    emit(
        {
            "week_view_ms": round(median(week_runs), 1),
            "week_view_p95_ms": round(percentile(week_runs, 95), 1),
            "week_view_appointments": shown,
            "week_view_practitioners": len(ids),
            "empty_week_view_ms": round(median(empty_runs), 1),
            "move_ui_ms": round(median(move_runs), 1),
            "move_ui_p95_ms": round(percentile(move_runs, 95), 1),
            "click_ui_ms": round(median(click_runs), 1),
            "move_saved": saved.start.hour in (16, 17),
            "series_ms": round(median(series_runs), 1),
            "series_generate_ms": round(median(generate_runs), 2),
            "series_occurrences": len(occurrences),
            "book_one_ms": round(median(book_runs), 1),
            "setup_s": round(setup_s, 1),
            "limits": {"week_view_ms": 150, "move_ui_ms": 50, "series_ms": 100},
        }
    )


if __name__ == "__main__":
    main()
