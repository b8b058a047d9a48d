"""Harness running sandbox services as TLS HTTP servers on 127.0.0.1, with run-time fault injection."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import socketserver
import ssl
import struct
import sys
import threading
import time
import uuid
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape, quoteattr

from cryptography import x509

from sandbox.ca import TestPki

_log = logging.getLogger("lgc.sandbox")

LOOPBACK = "127.0.0.1"
"""The only address the harness ever binds."""

CONTROL_PREFIX = "/_sandbox/"
"""Paths under this prefix drive the harness (faults, latency) and never reach the service."""

SOAP12_ENV_NS = "http://www.w3.org/2003/05/soap-envelope"
SIRAM_NS = "urn:siram"

_MAX_BODY = 64 * 1024 * 1024  # DMP submissions carry documents; nothing legitimate is larger
_IDLE_TIMEOUT_S = 30.0  # idle keep-alive connections; stop() does not wait for it
_POLL_INTERVAL_S = 0.05  # how fast serve_forever notices shutdown()
_STOP_BUDGET_S = 0.8


# -- requests, responses, the service protocol -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SandboxRequest:
    """One HTTP request as a sandbox service sees it.

    Attributes:
        method: HTTP method, upper case.
        path: Path and query string as received (``/status?x=1``).
        headers: Header names in lower case; repeated headers joined with ``", "``.
        body: The request body, de-chunked.
        client_subject: RFC 4514 subject of the verified client certificate (mutual TLS), else None.
        client_cert_der: The verified client certificate (DER), else None.
        stopping: Set when the harness stops; a service that waits should use ``stopping.wait(s)``.
    """

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes = b""
    client_subject: str | None = None
    client_cert_der: bytes | None = field(default=None, repr=False)
    stopping: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)

    @property
    def route(self) -> str:
        """The path without its query string."""
        return urlsplit(self.path).path or "/"

    @property
    def query(self) -> dict[str, list[str]]:
        """The decoded query string parameters."""
        return parse_qs(urlsplit(self.path).query, keep_blank_values=True)

    def header(self, name: str, default: str | None = None) -> str | None:
        """Return a header value by case-insensitive name."""
        return self.headers.get(name.lower(), default)


@dataclass(frozen=True, slots=True)
class SandboxResponse:
    """What a sandbox service answers. ``Content-Length`` is computed by the harness."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    @classmethod
    def json(cls, payload: Any, status: int = 200) -> SandboxResponse:
        """A JSON response (UTF-8, non-ASCII kept as is)."""
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        return cls(status, {"Content-Type": "application/json; charset=utf-8"}, body)

    @classmethod
    def text(cls, text: str, status: int = 200) -> SandboxResponse:
        """A plain-text response."""
        return cls(status, {"Content-Type": "text/plain; charset=utf-8"}, text.encode("utf-8"))

    @classmethod
    def xml(
        cls,
        document: str | bytes,
        status: int = 200,
        content_type: str = "application/soap+xml; charset=utf-8",
    ) -> SandboxResponse:
        """An XML response, SOAP 1.2 content type unless told otherwise."""
        body = document.encode("utf-8") if isinstance(document, str) else document
        return cls(status, {"Content-Type": content_type}, body)


class SandboxService(Protocol):
    """A stand-in of one national service, served by :class:`SandboxHarness`.

    ``handle`` is called from one thread per connection, possibly concurrently: keep state behind a
    lock. An exception becomes an HTTP 500 (and a log line), never a dead server.
    """

    @property
    def name(self) -> str:
        """Short unique name (``status``, ``insi``, ``dmp``…), used in URLs maps, logs and the CLI."""
        ...

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        """Answer one request."""
        ...


# -- faults ----------------------------------------------------------------------------------------


class FaultKind(StrEnum):
    """What goes wrong on a service."""

    NONE = "none"
    DELAY = "delay"
    HTTP_5XX = "http_5xx"
    SOAP_FAULT = "soap_fault"
    CONNECTION_RESET = "connection_reset"
    HANG = "hang"


_KIND_ALIASES = {
    "": FaultKind.NONE,
    "ok": FaultKind.NONE,
    "5xx": FaultKind.HTTP_5XX,
    "http": FaultKind.HTTP_5XX,
    "soap": FaultKind.SOAP_FAULT,
    "reset": FaultKind.CONNECTION_RESET,
}


@dataclass(frozen=True, slots=True)
class Fault:
    """A fault to inject on every request to a service (or on the next ``times`` requests).

    Build one with the class methods (``Fault.delay(2)``, ``Fault.http_5xx(503)``…) or parse a CLI
    spec with :meth:`parse`.
    """

    kind: FaultKind = FaultKind.NONE
    delay_s: float = 0.0
    status: int = 503
    soap_code: str = "SIRAM_100"
    soap_severity: str = "fatale"
    soap_message: str = "Service momentanément indisponible (panne simulée par le bac à sable)."
    soap_sender: bool = False
    times: int | None = None

    def __post_init__(self) -> None:
        if self.delay_s < 0:
            raise ValueError("delay_s must be >= 0")
        if self.kind is FaultKind.HTTP_5XX and not 500 <= self.status <= 599:
            raise ValueError("an HTTP_5XX fault needs a status between 500 and 599")
        if self.times is not None and self.times < 1:
            raise ValueError("times must be >= 1 (None: every request)")
        if self.soap_severity not in {"information", "avertissement", "erreur", "fatale"}:
            raise ValueError("soap_severity must be one of information, avertissement, erreur, fatale")

    @classmethod
    def none(cls) -> Fault:
        """No fault: the service answers normally."""
        return cls()

    @classmethod
    def delay(cls, seconds: float, *, times: int | None = None) -> Fault:
        """Wait ``seconds`` then answer normally."""
        return cls(FaultKind.DELAY, delay_s=seconds, times=times)

    @classmethod
    def http_5xx(cls, status: int = 503, *, times: int | None = None) -> Fault:
        """Answer with an HTTP 5xx status and a short plain-text body."""
        return cls(FaultKind.HTTP_5XX, status=status, times=times)

    @classmethod
    def soap_fault(
        cls,
        code: str = "SIRAM_100",
        *,
        message: str = "Service momentanément indisponible (panne simulée par le bac à sable).",
        severity: str = "fatale",
        sender: bool = False,
        times: int | None = None,
    ) -> Fault:
        """Answer HTTP 500 with a SOAP 1.2 Fault whose detail is a ``siram:Erreur``.

        Args:
            code: ``siram:Erreur/@code`` (``SIRAM_100``, ``DESIR_500``, ``DESIR_560``…).
            message: Text of the ``siram:Erreur`` and of the fault reason.
            severity: ``information``, ``avertissement``, ``erreur`` or ``fatale``.
            sender: ``soap:Sender`` (the request is at fault) instead of ``soap:Receiver``.
            times: Only for the next ``times`` requests; None for all.
        """
        return cls(
            FaultKind.SOAP_FAULT,
            status=500,
            soap_code=code,
            soap_message=message,
            soap_severity=severity,
            soap_sender=sender,
            times=times,
        )

    @classmethod
    def connection_reset(cls, *, times: int | None = None) -> Fault:
        """Read the request, then close the socket abruptly (TCP RST) without answering."""
        return cls(FaultKind.CONNECTION_RESET, times=times)

    @classmethod
    def hang(cls, *, times: int | None = None) -> Fault:
        """Read the request and never answer (until the harness stops)."""
        return cls(FaultKind.HANG, times=times)

    @classmethod
    def parse(cls, spec: str) -> Fault:
        """Parse a CLI fault spec: ``KIND[:ARG][,times=N]``.

        Kinds: ``none``, ``delay:SECONDS``, ``http_5xx[:STATUS]`` (alias ``5xx``), ``soap_fault[:CODE]``
        (alias ``soap``), ``connection_reset`` (alias ``reset``), ``hang``. Example: ``http_5xx:502,times=2``.

        Raises:
            ValueError: The spec cannot be understood.
        """
        head, *options = [part.strip() for part in spec.strip().split(",")]
        times: int | None = None
        for option in options:
            key, _, value = option.partition("=")
            if key.strip() != "times":
                raise ValueError(f"unknown fault option {option!r}")
            times = int(value)
        word, _, arg = head.partition(":")
        word = word.strip().lower()
        kind = _KIND_ALIASES.get(word) or FaultKind(word)
        arg = arg.strip()
        if kind is FaultKind.NONE:
            return cls()
        if kind is FaultKind.DELAY:
            if not arg:
                raise ValueError("delay needs seconds, e.g. delay:2.5")
            return cls.delay(float(arg), times=times)
        if kind is FaultKind.HTTP_5XX:
            return cls.http_5xx(int(arg) if arg else 503, times=times)
        if kind is FaultKind.SOAP_FAULT:
            return cls.soap_fault(arg or "SIRAM_100", times=times)
        if kind is FaultKind.CONNECTION_RESET:
            return cls.connection_reset(times=times)
        return cls.hang(times=times)

    def spec(self) -> str:
        """The CLI spec of this fault (inverse of :meth:`parse`, SOAP message and severity aside)."""
        match self.kind:
            case FaultKind.DELAY:
                text = f"delay:{self.delay_s:g}"
            case FaultKind.HTTP_5XX:
                text = f"http_5xx:{self.status}"
            case FaultKind.SOAP_FAULT:
                text = f"soap_fault:{self.soap_code}"
            case _:
                text = self.kind.value
        return text if self.times is None else f"{text},times={self.times}"


def soap_fault_envelope(
    code: str,
    message: str,
    *,
    severity: str = "erreur",
    message_id: str | None = None,
    sender: bool = False,
) -> bytes:
    """Build a SOAP 1.2 Fault envelope with a ``siram:Erreur`` detail, as the CNAM teleservices send.

    Args:
        code: ``siram:Erreur/@code``.
        message: The error text (also the fault reason).
        severity: ``siram:Erreur/@severite``.
        message_id: ``siram:Erreur/@messageID``; a fresh ``uuid:…`` when None.
        sender: ``soap:Sender`` instead of ``soap:Receiver`` as the fault code.

    Returns:
        The UTF-8 encoded envelope.
    """
    fault_code = "soap:Sender" if sender else "soap:Receiver"
    mid = message_id if message_id is not None else f"uuid:{uuid.uuid4()}"
    envelope = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<soap:Envelope xmlns:soap="{SOAP12_ENV_NS}">'
        "<soap:Body><soap:Fault>"
        f"<soap:Code><soap:Value>{fault_code}</soap:Value></soap:Code>"
        f'<soap:Reason><soap:Text xml:lang="fr">{escape(message)}</soap:Text></soap:Reason>'
        "<soap:Detail>"
        f'<siram:Erreur xmlns:siram="{SIRAM_NS}" code={quoteattr(code)} messageID={quoteattr(mid)}'
        f" severite={quoteattr(severity)}>{escape(message)}</siram:Erreur>"
        "</soap:Detail>"
        "</soap:Fault></soap:Body></soap:Envelope>"
    )
    return envelope.encode("utf-8")


# -- per-service state -------------------------------------------------------------------------------


class _ServiceSlot:
    """One service, its configuration and its live fault state (shared with handler threads)."""

    def __init__(self, service: SandboxService, port: int, require_client_cert: bool) -> None:
        self.service = service
        self.name = service.name
        self.requested_port = port
        self.require_client_cert = require_client_cert
        self._lock = threading.Lock()
        self._fault = Fault()
        self._remaining: int | None = None
        self._latency_s = 0.0
        self._requests = 0
        self.server: _ServiceServer | None = None
        self.thread: threading.Thread | None = None

    def set_fault(self, fault: Fault) -> None:
        with self._lock:
            self._fault = fault
            self._remaining = fault.times
        _log.info("Sandbox %s: fault set to %s", self.name, fault.spec())

    def set_latency(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("latency must be >= 0")
        with self._lock:
            self._latency_s = seconds
        _log.info("Sandbox %s: latency set to %gs", self.name, seconds)

    def fault(self) -> Fault:
        with self._lock:
            return self._fault

    def latency(self) -> float:
        with self._lock:
            return self._latency_s

    def request_count(self) -> int:
        with self._lock:
            return self._requests

    def take(self) -> tuple[Fault, float]:
        """The fault to apply to the request being served (consuming one of ``times``) and the latency."""
        with self._lock:
            self._requests += 1
            fault, latency = self._fault, self._latency_s
            if self._remaining is not None:
                self._remaining -= 1
                if self._remaining <= 0:
                    self._fault, self._remaining = Fault(), None
            return fault, latency

    def control(self, request: SandboxRequest) -> SandboxResponse:
        """Serve ``/_sandbox/fault`` and ``/_sandbox/latency`` (GET to read, PUT/POST to change)."""
        what = request.route[len(CONTROL_PREFIX) :].strip("/")
        if what not in {"fault", "latency"}:
            return SandboxResponse.json({"error": "inconnu", "path": request.route}, status=404)
        if request.method in {"PUT", "POST"}:
            text = request.body.decode("utf-8", errors="replace").strip()
            try:
                if what == "fault":
                    self.set_fault(Fault.parse(text))
                else:
                    self.set_latency(float(text))
            except ValueError as exc:
                return SandboxResponse.json({"error": str(exc)}, status=400)
        elif request.method != "GET":
            return SandboxResponse.json({"error": "méthode non prise en charge"}, status=405)
        with self._lock:
            state = {
                "service": self.name,
                "fault": self._fault.spec(),
                "remaining": self._remaining,
                "latency_s": self._latency_s,
            }
        return SandboxResponse.json(state)


# -- HTTP plumbing -----------------------------------------------------------------------------------


class _ServiceServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that speaks TLS, tracks its connections and can drop them all at stop."""

    daemon_threads = True
    # stop() joins the handler threads itself, with a time budget, after unblocking them.
    block_on_close = False

    def __init__(self, slot: _ServiceSlot, context: ssl.SSLContext, stopping: threading.Event) -> None:
        self.slot = slot
        self.stopping = stopping
        self._context = context
        self._track_lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._handler_threads: list[threading.Thread] = []
        super().__init__((LOOPBACK, slot.requested_port), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the FQDN of the address, which can stall on a bad resolver.
        socketserver.TCPServer.server_bind(self)
        self.server_name = "localhost"
        self.server_port = self.server_address[1]

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        # Headers and body go out in separate writes: without TCP_NODELAY, Nagle holds the body back until the
        # client's delayed ACK (~40 ms per exchange on Linux), which no real service does.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            # The handshake happens in the connection's thread so a silent client cannot stall accept().
            tls = self._context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        except (OSError, ValueError):
            sock.close()
            raise
        with self._track_lock:
            self._connections.add(tls)
        return tls, address

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f"sandbox-{self.slot.name}-conn",
            daemon=True,
        )
        with self._track_lock:
            self._handler_threads = [t for t in self._handler_threads if t.is_alive()]
            self._handler_threads.append(thread)
        thread.start()

    def shutdown_request(self, request: Any) -> None:
        with self._track_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that vanish mid-request are routine in fault tests: no traceback on stderr.
        _log.debug(
            "Sandbox %s: connection from %s ended with an error",
            self.slot.name,
            client_address,
            exc_info=True,
        )

    def drop_connections(self) -> None:
        """Unblock every handler thread by shutting down its socket under the TLS layer."""
        with self._track_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                # Bypass SSLSocket.shutdown, which would tear the SSL object from under a reading thread.
                socket.socket.shutdown(conn, socket.SHUT_RDWR)

    def join_handlers(self, deadline: float) -> list[threading.Thread]:
        """Join handler threads until ``deadline`` (monotonic); return those still alive."""
        with self._track_lock:
            threads = list(self._handler_threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return [t for t in threads if t.is_alive()]


class _Handler(BaseHTTPRequestHandler):
    """Turns HTTP/1.1 requests into SandboxRequest, applies the slot's fault, writes the response."""

    server: _ServiceServer
    connection: ssl.SSLSocket
    protocol_version = "HTTP/1.1"
    server_version = "LGC-Sandbox/1"
    sys_version = ""
    timeout = _IDLE_TIMEOUT_S

    def setup(self) -> None:
        super().setup()
        self._tls_ok = False
        try:
            self.connection.do_handshake()
        except (ssl.SSLError, OSError) as exc:
            # Expected in tests: clients without the CA, without a client certificate…
            _log.debug("Sandbox %s: TLS handshake failed: %s", self.server.slot.name, exc)
            return
        self._tls_ok = True

    def handle(self) -> None:
        if self._tls_ok:
            super().handle()

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("Sandbox %s: " + format, self.server.slot.name, *args)

    def do_GET(self) -> None:
        """Serve GET."""
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET  # noqa: N815 (http.server API names)

    def _dispatch(self) -> None:
        slot = self.server.slot
        body = self._read_body()
        if body is None:
            return
        request = SandboxRequest(
            method=self.command,
            path=self.path,
            headers=self._header_map(),
            body=body,
            client_subject=None,
            stopping=self.server.stopping,
        )
        der = self.connection.getpeercert(binary_form=True) if slot.require_client_cert else None
        if der:
            subject = x509.load_der_x509_certificate(der).subject.rfc4514_string()
            request = replace(request, client_subject=subject, client_cert_der=der)

        if request.route.startswith(CONTROL_PREFIX):
            self._send(slot.control(request))
            return

        fault, latency = slot.take()
        if latency > 0 and self.server.stopping.wait(latency):
            self._reset()
            return
        match fault.kind:
            case FaultKind.DELAY:
                if self.server.stopping.wait(fault.delay_s):
                    self._reset()
                    return
            case FaultKind.HTTP_5XX:
                self._send(SandboxResponse.text(f"Erreur {fault.status} (panne simulée)", status=fault.status))
                return
            case FaultKind.SOAP_FAULT:
                envelope = soap_fault_envelope(
                    fault.soap_code,
                    fault.soap_message,
                    severity=fault.soap_severity,
                    sender=fault.soap_sender,
                )
                self._send(SandboxResponse.xml(envelope, status=500))
                return
            case FaultKind.CONNECTION_RESET:
                self._reset()
                return
            case FaultKind.HANG:
                self.server.stopping.wait()
                self._reset()
                return
            case FaultKind.NONE:
                pass

        try:
            response = slot.service.handle(request)
        except Exception:
            _log.exception("Sandbox %s: service failed on %s %s", slot.name, request.method, request.route)
            response = SandboxResponse.json({"error": "erreur interne du bac à sable"}, status=500)
        self._send(response)

    def _header_map(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        return headers

    def _read_body(self) -> bytes | None:
        """Read the body (Content-Length or chunked); None after answering 400/413 to a bad one."""
        try:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                return self._read_chunked()
            length = int(self.headers.get("Content-Length", "0"))
            if length < 0:
                raise ValueError("negative length")
            if length > _MAX_BODY:
                self.close_connection = True
                self._send(SandboxResponse.json({"error": "corps trop volumineux"}, status=413))
                return None
            return self.rfile.read(length)
        except ValueError:
            self.close_connection = True
            self._send(SandboxResponse.json({"error": "requête mal formée"}, status=400))
            return None

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            size_line = self.rfile.readline(1024)
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers: ignored
                return b"".join(chunks)
            total += size
            if total > _MAX_BODY:
                raise ValueError("chunked body too large")
            chunks.append(self.rfile.read(size))
            self.rfile.readline(16)  # CRLF after the chunk

    def _send(self, response: SandboxResponse) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            if name.lower() not in {"content-length", "transfer-encoding", "connection"}:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def _reset(self) -> None:
        """Close the connection with a TCP RST (SO_LINGER 0), no TLS close_notify, no answer."""
        self.close_connection = True
        linger = struct.pack("HH" if sys.platform == "win32" else "ii", 1, 0)
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        # rfile holds a reference on the socket: the descriptor is only really closed once both are.
        with contextlib.suppress(OSError):
            self.rfile.close()
        with contextlib.suppress(OSError):
            self.connection.close()


# -- the harness -------------------------------------------------------------------------------------


class SandboxHarness:
    """Runs sandbox services, each a TLS HTTP/1.1 server on 127.0.0.1 in its own thread.

    Example::

        pki = TestPki.ensure(tmp_path / "sandbox-pki")
        with SandboxHarness([StatusService()], pki) as harness:
            harness.set_fault("status", Fault.http_5xx(503))
            httpx.get(harness.url("status", "/status"), verify=ssl_context_trusting(pki.ca_cert_path))
    """

    def __init__(
        self,
        services: Iterable[SandboxService],
        pki: TestPki,
        *,
        ports: Mapping[str, int] | None = None,
        require_client_cert: bool | Collection[str] = False,
        faults: Mapping[str, Fault] | None = None,
        latencies: Mapping[str, float] | None = None,
    ) -> None:
        """Configure the harness; nothing is bound until :meth:`start`.

        Args:
            services: The services to serve; their names must be unique.
            pki: The test PKI whose server certificate the servers present.
            ports: Fixed port per service name; the others get an ephemeral port.
            require_client_cert: True for mutual TLS on every service, or the names of the services
                that require a client certificate signed by the test CA.
            faults: Initial fault per service name.
            latencies: Initial latency (seconds, added before every answer) per service name.

        Raises:
            ValueError: Duplicate service names, or a mapping naming an unknown service.
        """
        self._pki = pki
        services = list(services)
        names = [s.name for s in services]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate service names: {names}")
        for label, mapping in (("ports", ports), ("faults", faults), ("latencies", latencies)):
            unknown = set(mapping or {}) - set(names)
            if unknown:
                raise ValueError(f"{label} name unknown services: {sorted(unknown)}")
        if isinstance(require_client_cert, bool):
            mtls = set(names) if require_client_cert else set()
        else:
            mtls = set(require_client_cert)
            if mtls - set(names):
                raise ValueError(f"require_client_cert names unknown services: {sorted(mtls - set(names))}")
        self._slots: dict[str, _ServiceSlot] = {
            s.name: _ServiceSlot(s, (ports or {}).get(s.name, 0), s.name in mtls) for s in services
        }
        for name, fault in (faults or {}).items():
            self._slots[name].set_fault(fault)
        for name, seconds in (latencies or {}).items():
            self._slots[name].set_latency(seconds)
        self._stopping = threading.Event()
        self._running = False
        self._lifecycle = threading.Lock()

    # lifecycle

    def start(self) -> Self:
        """Bind every service on 127.0.0.1 and serve each from its own thread.

        Returns:
            The harness itself.

        Raises:
            OSError: A port could not be bound (already in use…); nothing is left running.
            RuntimeError: Already started.
        """
        with self._lifecycle:
            if self._running:
                raise RuntimeError("sandbox harness already started")
            self._stopping = threading.Event()
            try:
                for slot in self._slots.values():
                    server = _ServiceServer(slot, self._server_context(slot.require_client_cert), self._stopping)
                    slot.server = server
                    thread = threading.Thread(
                        target=server.serve_forever,
                        kwargs={"poll_interval": _POLL_INTERVAL_S},
                        name=f"sandbox-{slot.name}",
                        daemon=True,
                    )
                    thread.start()
                    slot.thread = thread  # only a started loop may be shut down (shutdown() waits for it)
                    _log.info("Sandbox %s listening on https://%s:%d", slot.name, LOOPBACK, server.server_port)
            except BaseException:
                self._stop_servers()
                raise
            self._running = True
        return self

    def stop(self) -> None:
        """Stop every service: close listeners, drop open connections (HANG included), join threads.

        Idempotent; returns within about a second even with hanging requests.
        """
        with self._lifecycle:
            if not self._running:
                return
            self._stop_servers()
            self._running = False

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._running

    # addresses

    @property
    def pki(self) -> TestPki:
        """The test PKI the servers use."""
        return self._pki

    @property
    def ca_cert_path(self) -> Path:
        """PEM file of the test CA: what a client must trust."""
        return self._pki.ca_cert_path

    @property
    def service_names(self) -> list[str]:
        """Names of the services, in the order given."""
        return list(self._slots)

    def port(self, service_name: str) -> int:
        """The TCP port a running service listens on."""
        server = self._slot(service_name).server
        if server is None or not self._running:
            raise RuntimeError("sandbox harness not started")
        return int(server.server_port)

    def address(self, service_name: str) -> tuple[str, int]:
        """The ``(host, port)`` the listening socket is actually bound to."""
        server = self._slot(service_name).server
        if server is None or not self._running:
            raise RuntimeError("sandbox harness not started")
        host, port = server.socket.getsockname()[:2]
        return str(host), int(port)

    def url(self, service_name: str, path: str = "") -> str:
        """Base URL of a running service, ``https://127.0.0.1:PORT`` followed by ``path`` if given."""
        if path and not path.startswith("/"):
            path = "/" + path
        return f"https://{LOOPBACK}:{self.port(service_name)}{path}"

    def requires_client_cert(self, service_name: str) -> bool:
        """True when the service is configured for mutual TLS."""
        return self._slot(service_name).require_client_cert

    # faults

    def set_fault(self, service_name: str, fault: Fault) -> None:
        """Apply ``fault`` to the next requests to ``service_name`` (takes effect immediately)."""
        self._slot(service_name).set_fault(fault)

    def fault(self, service_name: str) -> Fault:
        """The fault currently applied to ``service_name``."""
        return self._slot(service_name).fault()

    def set_latency(self, service_name: str, seconds: float) -> None:
        """Add ``seconds`` before every answer of ``service_name`` (0 to remove)."""
        self._slot(service_name).set_latency(seconds)

    def latency(self, service_name: str) -> float:
        """The latency currently added to ``service_name``."""
        return self._slot(service_name).latency()

    def request_count(self, service_name: str) -> int:
        """How many requests ``service_name`` received since the harness was created.

        Counted when the request has been read, before any fault applies (control requests excluded):
        tests use it to know that a request reached the stand-in, or how often an adapter retried.
        """
        return self._slot(service_name).request_count()

    def clear_faults(self) -> None:
        """Remove every fault and latency."""
        for slot in self._slots.values():
            slot.set_fault(Fault())
            slot.set_latency(0.0)

    # internals

    def _slot(self, service_name: str) -> _ServiceSlot:
        try:
            return self._slots[service_name]
        except KeyError:
            raise KeyError(f"no sandbox service named {service_name!r}") from None

    def _server_context(self, require_client_cert: bool) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self._pki.server_cert_path, self._pki.server_key_path)
        if require_client_cert:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(cafile=self._pki.ca_cert_path)
        return context

    def _stop_servers(self) -> None:
        self._stopping.set()  # wakes DELAY, HANG and latency waits, and services using request.stopping
        servers = [(slot, slot.server) for slot in self._slots.values() if slot.server is not None]
        for slot, server in servers:
            if slot.thread is not None:
                server.shutdown()  # returns once serve_forever has left its loop (≤ poll interval)
            server.server_close()
            server.drop_connections()
        deadline = time.monotonic() + _STOP_BUDGET_S
        for slot, server in servers:
            if slot.thread is not None:
                slot.thread.join(max(0.0, deadline - time.monotonic()))
            lingering = server.join_handlers(deadline)
            if lingering:
                _log.warning("Sandbox %s: %d connection thread(s) still busy at stop", slot.name, len(lingering))
            slot.server = None
            slot.thread = None
