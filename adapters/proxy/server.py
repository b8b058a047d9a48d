"""HTTP API of the Proxy e-santé on 127.0.0.1: /connect, /disconnect, /send/<service>/<endpoint>, /traces."""

from __future__ import annotations

import datetime as dt
import json
import logging
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from adapters.proxy.engine import ProxyEngine
from domain.errors import AuthenticationRequired, DomainError, InvalidInput, NotFound, RemoteServiceError
from domain.psc import PscSignInRefused

_log = logging.getLogger("lgc.proxy")

LOOPBACK = "127.0.0.1"
SESSION_HEADER = "proxy_session_id"
_MAX_BODY = 64 * 1024 * 1024


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, engine: ProxyEngine, port: int) -> None:
        self.engine = engine
        super().__init__((LOOPBACK, port), _Handler)

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # no FQDN lookup
        self.server_name = LOOPBACK
        self.server_port = self.server_address[1]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "LGC-Proxy-eSante/1"
    sys_version = ""
    timeout = 60

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("Proxy API: " + format, *args)

    def do_GET(self) -> None:
        """Every method goes through the router."""
        self._route()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET  # noqa: N815 (http.server API names)

    def _route(self) -> None:
        parts = urlsplit(self.path)
        engine = self.server.engine
        try:
            body = self._body()
            if parts.path == "/connect" and self.command == "POST":
                self._json(201, self._connect(engine, body))
            elif parts.path == "/disconnect" and self.command == "DELETE":
                engine.disconnect(self._session())
                self._reply(204, {}, b"")
            elif parts.path == "/session" and self.command == "GET":
                self._json(200, engine.session_info(self._session()))
            elif parts.path.startswith("/send/"):
                service, _, endpoint = parts.path[len("/send/") :].partition("/")
                path = endpoint + (f"?{parts.query}" if parts.query else "")
                answer = engine.send(self._session(), service, self.command, path, dict(self.headers.items()), body)
                self._reply(answer.status, answer.headers, answer.body)
            elif parts.path == "/traces" and self.command == "GET":
                query = parse_qs(parts.query)
                start = _when(query.get("start", [""])[0])
                end = _when(query.get("end", [""])[0])
                traces = [{k: v for k, v in t.items() if not k.startswith("_")} for t in engine.traces(start, end)]
                self._json(200, {"traces": traces})
            else:
                self._json(404, {"erreur": "Ressource inconnue du proxy.", "chemin": parts.path[:200]})
        except DomainError as exc:
            self._json(_status_of(exc), {"erreur": exc.message_fr})
        except Exception:
            _log.exception("Proxy API failure on %s %s", self.command, parts.path)
            self._json(500, {"erreur": "Erreur interne du proxy."})

    def _connect(self, engine: ProxyEngine, body: bytes) -> dict[str, Any]:
        try:
            request = json.loads(body or b"{}")
        except ValueError as exc:
            raise InvalidInput("Corps JSON attendu pour /connect.") from exc
        if not isinstance(request, dict):
            raise InvalidInput("Corps JSON attendu pour /connect.")
        mode = request.get("mode", "ciba")
        if mode == "ciba":
            session = engine.connect_ciba(str(request.get("login_hint", "")), str(request.get("binding_message", "")))
        elif mode == "delegue":
            session = engine.connect_delegated(
                str(request.get("access_token", "")), str(request.get("refresh_token", ""))
            )
        else:
            raise InvalidInput("Mode de connexion inconnu : « ciba » ou « delegue ».")
        return {SESSION_HEADER: session, **engine.session_info(session)}

    def _session(self) -> str:
        value = self.headers.get(SESSION_HEADER, "")
        if not value:
            raise AuthenticationRequired(f"En-tête {SESSION_HEADER} manquant : connectez-vous d'abord (POST /connect).")
        return value

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length", "0") or 0)
        if length < 0 or length > _MAX_BODY:
            raise InvalidInput("Corps de requête trop volumineux ou mal formé.")
        return self.rfile.read(length) if length else b""

    def _json(self, status: int, payload: Any) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self._reply(status, {"Content-Type": "application/json; charset=utf-8"}, body)

    def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)


def _status_of(exc: DomainError) -> int:
    if isinstance(exc, InvalidInput):
        return 400
    if isinstance(exc, PscSignInRefused | AuthenticationRequired):
        return 401
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, RemoteServiceError):
        return 503 if exc.retryable else 502
    return 500


def _when(text: str) -> dt.datetime | None:
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput(f"Date invalide « {text[:40]} » (format ISO 8601 attendu).") from exc
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


class ProxyServer:
    """The proxy API served from a background thread on 127.0.0.1 (``lgc proxy`` runs it in the foreground)."""

    def __init__(self, engine: ProxyEngine, port: int = 0) -> None:
        """Bind the port now (0: ephemeral)."""
        self.engine = engine
        self._server = _Server(engine, port)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{LOOPBACK}:{self._server.server_port}"

    def start(self) -> None:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, name="lgc-proxy", daemon=True)
        self._thread.start()
        _log.info("Proxy e-santé listening on %s", self.url)

    def stop(self) -> None:
        """Stop serving, close connections and sessions."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
        self._server.server_close()
        self.engine.close()
