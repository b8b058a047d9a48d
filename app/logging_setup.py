"""Technical logs: rotating files per area under the data directory, with identifiers masked."""

from __future__ import annotations

import logging
import re
from logging.handlers import RotatingFileHandler
from pathlib import Path

MAX_BYTES = 2 * 1024 * 1024
BACKUP_COUNT = 4
"""Five files of 2 MB per log: the current one and four rotated copies."""

MAIN_LOG = "lgc.log"
NETWORK_LOG = "reseau.log"
NETWORK_LOGGER = "lgc.net"

_FORMAT = "%(asctime)s %(levelname)-7s %(name)s [%(threadName)s] %(message)s"

# A NIR/NIA (matricule INS, 13 to 15 characters, optionally spaced) is health-related personal data:
# it must never reach a technical log, whatever the message or traceback carries.
_MATRICULE = re.compile(r"\b[1-478](?:[ .]?[0-9AB]){12}(?:[ .]?[0-9]{2})?\b")


class RedactIdentifiers(logging.Filter):
    """Replace anything shaped like a matricule INS by a placeholder in messages and tracebacks."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drops it."""
        message = record.getMessage()
        redacted = _MATRICULE.sub("[matricule masqué]", message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        return True


class _RedactingFormatter(logging.Formatter):
    """Formatter that also masks identifiers inside formatted tracebacks."""

    def formatException(self, ei: object) -> str:  # noqa: N802 (logging API name)
        return _MATRICULE.sub("[matricule masqué]", super().formatException(ei))  # type: ignore[arg-type]


def configure_logging(log_dir: Path, level: str = "INFO", *, console: bool = False) -> list[logging.Handler]:
    """Send the ``lgc`` loggers to ``lgc.log`` and the network area (``lgc.net``) also to ``reseau.log``.

    Every area has its named logger (``lgc.db``, ``lgc.net``, ``lgc.ui``, ``lgc.ins``…); all of them reach
    ``lgc.log``. Messages never carry health data: callers log ids and outcomes, and a filter masks any
    matricule INS that slips through.

    Args:
        log_dir: Directory of the log files (created if needed).
        level: Level name for the ``lgc`` loggers ("INFO", "DEBUG"…).
        console: Also write to stderr (developer runs).

    Returns:
        The handlers installed, so a caller (tests) can remove them.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    formatter = _RedactingFormatter(_FORMAT)
    redact = RedactIdentifiers()

    main = RotatingFileHandler(
        log_dir / MAIN_LOG, maxBytes=MAX_BYTES, backupCount=BACKUP_COUNT, encoding="utf-8", delay=True
    )
    network = RotatingFileHandler(
        log_dir / NETWORK_LOG, maxBytes=MAX_BYTES, backupCount=BACKUP_COUNT, encoding="utf-8", delay=True
    )
    handlers: list[logging.Handler] = [main, network]
    if console:
        handlers.append(logging.StreamHandler())
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(redact)

    root = logging.getLogger("lgc")
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    root.addHandler(main)
    if console:
        root.addHandler(handlers[2])
    logging.getLogger(NETWORK_LOGGER).addHandler(network)
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").addHandler(main)
    return handlers


def remove_handlers(handlers: list[logging.Handler]) -> None:
    """Detach and close handlers installed by ``configure_logging``."""
    for name in ("lgc", NETWORK_LOGGER, "py.warnings"):
        logger = logging.getLogger(name)
        for handler in handlers:
            logger.removeHandler(handler)
    for handler in handlers:
        handler.close()
