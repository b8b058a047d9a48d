"""Remote-service health: the status a national service (or its stand-in) reports, and its port."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class RemoteStatus:
    """What a remote service says about itself.

    Attributes:
        service: The name the service gives itself.
        version: Its version string.
        time: Its clock, timezone-aware (useful to spot a skewed workstation clock).
    """

    service: str
    version: str
    time: dt.datetime


class StatusGateway(Protocol):
    """Asks a remote service whether it is up."""

    def fetch_status(self) -> RemoteStatus:
        """Return the service's status.

        Raises:
            RemoteServiceError: The service is unreachable, slow, or answered something unexpected;
                ``retryable`` says whether trying again later may help.
        """
        ...
