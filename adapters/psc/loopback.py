"""One-shot loopback HTTP listener receiving the authorization redirect of a native app (RFC 8252 §7.3)."""

from __future__ import annotations

import logging
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from domain.errors import RemoteServiceError
from domain.psc import PscCancelled

_log = logging.getLogger("lgc.psc")

LOOPBACK = "127.0.0.1"
REDIRECT_PATH = "/lgc/psc/callback"
"""Fixed path of the redirect URI (registered with PSC as ``http://127.0.0.1/lgc/psc/callback``, any port)."""
_POLL_S = 0.1
_MAX_QUERY = 16 * 1024

_DONE_PAGE = """<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>LGC — connexion</title></head>
<body style="font-family:sans-serif;margin:3em;max-width:40em">
<h1 style="font-size:1.4em">Réponse de Pro Santé Connect reçue</h1>
<p>Vous pouvez fermer cet onglet et revenir au logiciel LGC, qui termine la connexion.</p>
</body></html>"""


class _Server(HTTPServer):
    """Loopback HTTP server remembering the first request on the expected path."""

    def __init__(self, path: str) -> None:
        self.expected_path = path
        self.result: dict[str, str] | None = None
        super().__init__((LOOPBACK, 0), _Handler)

    def server_bind(self) -> None:
        # No FQDN lookup (HTTPServer.server_bind would resolve the host name).
        socketserver.TCPServer.server_bind(self)
        self.server_name = LOOPBACK
        self.server_port = self.server_address[1]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 5.0

    def do_GET(self) -> None:
        """Accept the redirect on the expected path; 404 anything else (favicon…)."""
        parts = urlsplit(self.path)
        if parts.path != self.server.expected_path or self.server.result is not None or len(parts.query) > _MAX_QUERY:
            self.send_error(404)
            return
        params = parse_qs(parts.query, keep_blank_values=True)
        self.server.result = {key: values[0] for key, values in params.items() if values}
        body = _DONE_PAGE.encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("PSC loopback: " + format, *args)


class LoopbackRedirectReceiver:
    """``RedirectReceiver`` on ``http://127.0.0.1:<ephemeral port>/lgc/psc/callback``, closed after one answer.

    The ``state`` parameter (checked by the client) ties the answer to the request; the port is new per attempt.
    """

    def __init__(self) -> None:
        """Bind an ephemeral port on 127.0.0.1 now (so the redirect URI is known before the browser opens)."""
        try:
            self._server = _Server(REDIRECT_PATH)
        except OSError as exc:
            _log.error("Cannot open the PSC loopback listener: %s", exc)
            raise RemoteServiceError(
                "Impossible d'ouvrir l'adresse de retour locale de la connexion Pro Santé Connect (127.0.0.1). "
                "Vérifiez le pare-feu de ce poste, puis réessayez.",
                retryable=True,
            ) from exc
        self._server.timeout = _POLL_S
        self._cancelled = threading.Event()
        self._closed = False

    @property
    def redirect_uri(self) -> str:
        """The loopback redirect URI."""
        return f"http://{LOOPBACK}:{self._server.server_port}{self._server.expected_path}"

    def wait(self, timeout_s: float, cancelled: threading.Event | None = None) -> dict[str, str]:
        """Serve until the redirect arrives; raise PscCancelled on timeout, cancel() or ``cancelled``."""
        deadline = time.monotonic() + timeout_s
        try:
            while self._server.result is None:
                if self._cancelled.is_set() or (cancelled is not None and cancelled.is_set()):
                    raise PscCancelled("Connexion Pro Santé Connect annulée.")
                if time.monotonic() > deadline:
                    raise PscCancelled(
                        "Aucune réponse de Pro Santé Connect dans le délai imparti : la connexion a été abandonnée."
                    )
                self._server.handle_request()
            return self._server.result
        finally:
            self.close()

    def cancel(self) -> None:
        """Make ``wait`` give up within a tenth of a second."""
        self._cancelled.set()

    def close(self) -> None:
        """Release the port (idempotent)."""
        if not self._closed:
            self._closed = True
            self._server.server_close()


def open_in_system_browser(url: str) -> None:
    """Fallback ``Browser.open`` for the command line: the standard library's ``webbrowser``."""
    import webbrowser

    if not webbrowser.open(url):
        _log.warning("No system browser could be started")


class SystemBrowser:
    """``Browser`` through ``webbrowser`` (the desktop UI supplies its own through QDesktopServices)."""

    def open(self, url: str) -> None:
        """Open ``url`` in the default browser."""
        open_in_system_browser(url)
