"""Starts pcscd (with vsmartcard's vpcd virtual readers) when nothing runs it, and stops it if it started it.

pcscd is one per machine (its socket is always ``/run/pcscd/pcscd.comm``) and the vpcd ports are fixed, so
everything that drives the virtual readers — the PC/SC tests, ``lgc sandbox``, the demo mode — takes the
machine-wide lock :func:`pcsc_lock` first and runs one at a time.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

_log = logging.getLogger("lgc.sandbox.pcscd")

VIRTUAL_READER_PREFIX = "Virtual PCD"
"""Name of vpcd's readers (``Virtual PCD 00 00``, ``Virtual PCD 00 01``)."""

LOCK_FILE = Path(tempfile.gettempdir()) / "lgc-pcsc.lock"
STARTED_FILE = Path(tempfile.gettempdir()) / "lgc-pcscd.pid"
"""Pid of the pcscd an LGC helper started (so that another LGC process may stop it while holding the lock)."""
PCSCD_PID_FILE = Path("/run/pcscd/pcscd.pid")


class PcscUnavailable(RuntimeError):
    """pcscd cannot be started, or shows no virtual reader (French message)."""


def list_readers() -> list[str] | None:
    """The PC/SC readers, or None when no PC/SC service answers."""
    from smartcard import scard

    hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hresult != scard.SCARD_S_SUCCESS:
        return None
    try:
        hresult, readers = scard.SCardListReaders(context, [])
        if hresult == scard.SCARD_S_SUCCESS:
            return list(readers)
        if hresult == scard.SCARD_E_NO_READERS_AVAILABLE:
            return []
        return None
    finally:
        scard.SCardReleaseContext(context)


def virtual_readers() -> list[str]:
    """vpcd's readers, slot order (empty without pcscd)."""
    return sorted(name for name in (list_readers() or []) if name.startswith(VIRTUAL_READER_PREFIX))


class PcscDaemon:
    """pcscd for the virtual readers: reuse the running one, or start ``pcscd -f`` and own it.

    Args:
        binary: the pcscd executable (found on PATH, then in /usr/sbin).
        log_path: where the started daemon's output goes (discarded when None).
    """

    def __init__(self, binary: str = "pcscd", log_path: Path | None = None) -> None:
        self.binary = binary
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    @property
    def owned(self) -> bool:
        """True when this object started the running pcscd (and will stop it)."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The pid of the pcscd this object started."""
        return self._process.pid if self._process is not None else None

    def ensure(self, timeout_s: float = 15.0) -> list[str]:
        """Make sure pcscd runs and shows the virtual readers; return their names.

        Raises:
            PcscUnavailable: pcscd is missing, cannot start, or shows no vpcd reader.
        """
        readers = list_readers()
        if readers is None:
            self._start()
        deadline = time.monotonic() + timeout_s
        while True:
            found = virtual_readers()
            if found:
                return found
            if self._process is not None and self._process.poll() is not None:
                if list_readers() is not None:
                    # Another pcscd won the race (it owns the socket): use it.
                    self._process = None
                    continue
                raise PcscUnavailable(
                    f"pcscd s'est arrêté au démarrage (code {self._process.returncode}) : "
                    "lancez « pcscd -f » pour voir pourquoi (droits root nécessaires)."
                )
            if time.monotonic() >= deadline:
                raise PcscUnavailable(
                    "Aucun lecteur virtuel « Virtual PCD » : installez le paquet vsmartcard-vpcd "
                    "(./lgc install) puis redémarrez pcscd."
                )
            time.sleep(0.1)

    def _start(self) -> None:
        executable = shutil.which(self.binary) or shutil.which(self.binary, path="/usr/sbin:/sbin")
        if executable is None:
            raise PcscUnavailable("pcscd est introuvable : installez les paquets pcscd et vsmartcard-vpcd.")
        # A pcscd killed without cleaning up leaves its socket and pid file behind; pcscd then refuses to start.
        stale = Path("/run/pcscd/pcscd.comm")
        if stale.exists() and list_readers() is None:
            with contextlib.suppress(OSError):
                stale.unlink()
                Path("/run/pcscd/pcscd.pid").unlink(missing_ok=True)
        if self.log_path is not None:
            self._log_file = self.log_path.open("ab")
        output = self._log_file if self._log_file is not None else subprocess.DEVNULL
        try:
            self._process = subprocess.Popen(
                [executable, "-f"], stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        except OSError as exc:
            raise PcscUnavailable(f"pcscd ne démarre pas : {exc}") from exc
        STARTED_FILE.write_text(str(self._process.pid), encoding="ascii")
        _log.info("Started pcscd (pid %d)", self._process.pid)

    def stop(self) -> None:
        """Stop pcscd if this object started it (the running one of someone else is left alone)."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
            _log.info("Stopped pcscd (pid %d)", process.pid)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def stop_any_started_by_lgc(self) -> bool:
        """Stop the running pcscd if this object or another LGC helper started it (call with the lock held).

        A pcscd started by anything else (systemd on a desktop) is left alone. Returns True when stopped.
        """
        if self.owned:
            self.stop()
            return True
        try:
            ours = int(STARTED_FILE.read_text(encoding="ascii").strip())
            running = int(PCSCD_PID_FILE.read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            return False
        if ours != running:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(running, signal.SIGTERM)
        self.wait_stopped()
        _log.info("Stopped pcscd (pid %d) started by another LGC process", running)
        return list_readers() is None

    def wait_stopped(self, timeout_s: float = 10.0) -> None:
        """Wait until no PC/SC service answers."""
        deadline = time.monotonic() + timeout_s
        while list_readers() is not None and time.monotonic() < deadline:
            time.sleep(0.05)


@contextlib.contextmanager
def pcsc_lock(timeout_s: float = 600.0, *, blocking: bool = True) -> Iterator[None]:
    """Hold the machine-wide lock of the virtual readers (one user of vpcd at a time).

    Raises:
        PcscUnavailable: the lock is still taken after ``timeout_s`` (or at once when not ``blocking``).
    """
    import fcntl

    handle = LOCK_FILE.open("a+")
    deadline = time.monotonic() + (timeout_s if blocking else 0.0)
    try:
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = handle.read().strip() if handle.seek(0) == 0 else ""
                    raise PcscUnavailable(
                        "Les lecteurs virtuels sont déjà utilisés par un autre processus"
                        + (f" (pid {holder})" if holder else "")
                        + " : tests ou bac à sable en cours."
                    ) from None
                time.sleep(0.2)
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        handle.close()


def wait_for_card(reader: str, present: bool, timeout_s: float = 10.0) -> bool:
    """Wait until pcscd sees a card in (``present``) or no card in ``reader``; False on timeout."""
    from smartcard import scard

    hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hresult != scard.SCARD_S_SUCCESS:
        return False
    try:
        deadline = time.monotonic() + timeout_s
        state = scard.SCARD_STATE_UNAWARE
        while True:
            hresult, states = scard.SCardGetStatusChange(context, 100, [(reader, state)])
            if hresult == scard.SCARD_S_SUCCESS:
                state = states[0][1] & ~scard.SCARD_STATE_CHANGED
            elif hresult != scard.SCARD_E_TIMEOUT:
                return False
            if bool(state & scard.SCARD_STATE_PRESENT) == present:
                return True
            if time.monotonic() >= deadline:
                return False
    finally:
        scard.SCardReleaseContext(context)


class DemoCardStack:
    """The virtual readers of the demo mode and of ``lgc sandbox``: pcscd, the card deck, its control socket.

    ``start`` takes the machine-wide lock without waiting (the tests may be using the readers), starts pcscd
    when needed, serves the deck's control socket (``lgc carte insert|remove``) and inserts the initial cards.
    It never raises: what went wrong is in ``problem`` (French) and in the log, and the rest of the sandbox
    runs without virtual cards.

    Args:
        data_dir: where the control port file (``sandbox-cartes.json``) goes.
        cards: initial cards as (slot, spec), e.g. ``[(0, "vitale:famille")]``.
    """

    def __init__(self, data_dir: Path, cards: list[tuple[int, str]] | None = None) -> None:
        from sandbox.vitale_card import VirtualCardDeck

        self.data_dir = data_dir
        self.cards = list(cards or [])
        self.deck = VirtualCardDeck()
        self.daemon = PcscDaemon(log_path=data_dir / "logs" / "pcscd.log" if (data_dir / "logs").is_dir() else None)
        self.problem = ""
        self.control_port: int | None = None
        self._stack = contextlib.ExitStack()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._cancel = threading.Event()

    def start(self, *, background: bool = False, delay_s: float = 0.0) -> DemoCardStack:
        """Start, in a thread when ``background`` (pcscd may take a second to show its readers), after
        ``delay_s`` (the application starts first; ``stop`` during the delay cancels the start)."""
        if background:

            def run() -> None:
                if not self._cancel.wait(delay_s):
                    self._start()
                else:
                    self._ready.set()

            self._thread = threading.Thread(target=run, name="lgc-cartes-demo", daemon=True)
            self._thread.start()
        else:
            self._start()
        return self

    def wait_ready(self, timeout_s: float = 20.0) -> bool:
        """Wait for a background start; True when the readers are usable."""
        self._ready.wait(timeout_s)
        return self._ready.is_set() and not self.problem

    def _start(self) -> None:
        try:
            self._stack.enter_context(pcsc_lock(blocking=False))
            self.daemon.ensure()
            self._stack.callback(self.daemon.stop)
            self.control_port = self.deck.serve(self.data_dir)
            self._stack.callback(self.deck.close)
            for slot, spec in self.cards:
                self.deck.insert(spec, slot)
        except (PcscUnavailable, OSError, ValueError) as exc:
            self.problem = str(exc)
            _log.warning("Virtual card readers unavailable: %s", exc)
        finally:
            self._ready.set()

    def stop(self) -> None:
        """Pull the cards out, stop the control socket, stop pcscd if started here, release the lock."""
        self._cancel.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._stack.close()
