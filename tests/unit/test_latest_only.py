"""LatestOnly: a late answer of an older load is dropped, never shown over a newer one; errors always reported."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from app.tasks import Lane, LatestOnly


class HeldRunner:
    """Keeps the submitted work; the test decides when (and in which order) each answer arrives."""

    def __init__(self) -> None:
        self.held: list[
            tuple[Callable[[], Any], Callable[[Any], None] | None, Callable[[BaseException], None] | None]
        ] = []
        self.lanes: list[Lane] = []

    def submit(self, fn: Callable[[], Any], *, lane: Lane, on_success: Any = None, on_error: Any = None) -> Future[Any]:
        self.held.append((fn, on_success, on_error))
        self.lanes.append(lane)
        return Future()

    def answer(self, index: int) -> None:
        fn, on_success, on_error = self.held[index]
        try:
            result = fn()
        except Exception as exc:
            if on_error:
                on_error(exc)
            return
        if on_success:
            on_success(result)


def test_only_the_latest_answer_is_delivered_and_errors_always_are() -> None:
    runner = HeldRunner()
    loads = LatestOnly(runner)  # type: ignore[arg-type]
    shown: list[str] = []
    errors: list[str] = []
    loads.submit(lambda: "patient A", on_success=shown.append)
    loads.submit(lambda: "patient B", on_success=shown.append)
    runner.answer(1)
    runner.answer(0)  # late answer of the older load
    assert shown == ["patient B"] and runner.lanes == [Lane.DB, Lane.DB]

    def fail() -> str:
        raise ValueError("base verrouillée")

    loads.submit(fail, on_success=shown.append, on_error=lambda exc: errors.append(str(exc)))
    runner.answer(2)
    assert errors == ["base verrouillée"] and shown == ["patient B"]
