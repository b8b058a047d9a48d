"""Task runner protocol (Qt-free): run work off the UI thread in lanes and report back on the UI thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from enum import StrEnum
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

log = logging.getLogger("lgc.tasks")


class Lane(StrEnum):
    """Where a task runs. DB has one worker (SQLite has one writer); NET a few; DEVICE one."""

    DB = "db"
    NET = "net"
    DEVICE = "device"


LANE_WORKERS = {Lane.DB: 1, Lane.NET: 4, Lane.DEVICE: 1}

SuccessCallback = Callable[[Any], None]
ErrorCallback = Callable[[BaseException], None]


class TaskRunner(Protocol):
    """Runs callables in lanes; callbacks come back on the UI thread (or inline in tests)."""

    def submit(
        self,
        fn: Callable[[], T],
        *,
        lane: Lane,
        on_success: Callable[[T], None] | None = None,
        on_error: ErrorCallback | None = None,
    ) -> Future[T]:
        """Run ``fn`` in ``lane``; call ``on_success(result)`` or ``on_error(exc)`` on the UI thread."""
        ...

    def post(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the UI thread (from any thread: device monitors use this)."""
        ...

    def shutdown(self) -> None:
        """Stop accepting work and wait for running tasks."""
        ...


class LatestOnly:
    """Loads whose answer only counts while no newer load was asked for (patient switched, list reloaded).

    Each ``submit`` supersedes the previous ones: an older answer arriving late is dropped, never shown over a
    newer one. Errors are always reported.
    """

    def __init__(self, tasks: TaskRunner, lane: Lane = Lane.DB) -> None:
        self._tasks = tasks
        self._lane = lane
        self._latest = 0

    def submit(
        self, fn: Callable[[], T], *, on_success: Callable[[T], None], on_error: ErrorCallback | None = None
    ) -> Future[T]:
        """Run ``fn``; call ``on_success`` only if no later ``submit`` happened in the meantime."""
        self._latest += 1
        request = self._latest

        def deliver(result: T) -> None:
            if request == self._latest:
                on_success(result)

        return self._tasks.submit(fn, lane=self._lane, on_success=deliver, on_error=on_error)


class InlineTaskRunner:
    """Runs everything synchronously in the caller's thread: for unit tests and the command line."""

    def submit(
        self,
        fn: Callable[[], T],
        *,
        lane: Lane,
        on_success: Callable[[T], None] | None = None,
        on_error: ErrorCallback | None = None,
    ) -> Future[T]:
        """Run ``fn`` now and call the callbacks now."""
        future: Future[T] = Future()
        try:
            result = fn()
        except BaseException as exc:
            future.set_exception(exc)
            if on_error is None:
                raise
            on_error(exc)
            return future
        future.set_result(result)
        if on_success is not None:
            on_success(result)
        return future

    def post(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` now."""
        fn()

    def shutdown(self) -> None:
        """Nothing to stop."""


class LaneExecutors:
    """The thread pools behind the lanes, shared by the Qt runner and the threaded runner."""

    def __init__(self) -> None:
        self._executors = {
            lane: ThreadPoolExecutor(max_workers=n, thread_name_prefix=f"lgc-{lane.value}")
            for lane, n in LANE_WORKERS.items()
        }

    def run(
        self,
        fn: Callable[[], T],
        lane: Lane,
        deliver: Callable[[Callable[[], None]], None],
        on_success: Callable[[T], None] | None,
        on_error: ErrorCallback | None,
    ) -> Future[T]:
        """Submit ``fn``; hand the callback to ``deliver`` (which moves it to the UI thread)."""

        def done(future: Future[T]) -> None:
            if future.cancelled():
                return
            exc = future.exception()
            if exc is not None:
                if on_error is not None:
                    deliver(lambda: on_error(exc))
                else:
                    log.error("Unhandled task error", exc_info=exc)
            elif on_success is not None:
                result = future.result()
                deliver(lambda: on_success(result))

        future = self._executors[lane].submit(fn)
        future.add_done_callback(done)
        return future

    def shutdown(self) -> None:
        """Wait for running tasks, drop queued ones."""
        for executor in self._executors.values():
            executor.shutdown(wait=True, cancel_futures=True)


class ThreadedTaskRunner:
    """Lanes on thread pools; callbacks run in the worker thread. For the command line and benches."""

    def __init__(self) -> None:
        self._lanes = LaneExecutors()
        self._lock = threading.Lock()

    def submit(
        self,
        fn: Callable[[], T],
        *,
        lane: Lane,
        on_success: Callable[[T], None] | None = None,
        on_error: ErrorCallback | None = None,
    ) -> Future[T]:
        """Run ``fn`` in its lane."""
        return self._lanes.run(fn, lane, self._deliver, on_success, on_error)

    def _deliver(self, callback: Callable[[], None]) -> None:
        with self._lock:
            callback()

    def post(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` under the runner's lock."""
        self._deliver(fn)

    def shutdown(self) -> None:
        """Wait for running tasks."""
        self._lanes.shutdown()
