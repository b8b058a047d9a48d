"""Checking that the national services (or their local stand-ins) answer, without blocking the UI."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from domain.errors import RemoteServiceError
from domain.remote import RemoteStatus, StatusGateway

log = logging.getLogger("lgc.net")


@dataclass(frozen=True, slots=True)
class ServiceCheck:
    """The outcome of one check, ready to show."""

    name: str
    ok: bool
    message_fr: str
    status: RemoteStatus | None = None


class ConnectivityService:
    """Asks each configured service whether it answers."""

    def __init__(self, gateways: dict[str, StatusGateway]) -> None:
        self._gateways = dict(gateways)

    @property
    def names(self) -> list[str]:
        """The services that can be checked."""
        return sorted(self._gateways)

    def check(self, name: str) -> ServiceCheck:
        """Call one service (may take as long as its timeout: run it on the NET lane)."""
        gateway = self._gateways.get(name)
        if gateway is None:
            return ServiceCheck(name, False, f"Service « {name} » non configuré.")
        try:
            status = gateway.fetch_status()
        except RemoteServiceError as exc:
            log.warning("Service %s unavailable: %s", name, exc.message_fr)
            return ServiceCheck(name, False, exc.message_fr)
        return ServiceCheck(name, True, f"{status.service} {status.version} répond.", status)
