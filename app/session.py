"""Who is using the software on this workstation right now."""

from __future__ import annotations

import threading

from domain.errors import AuthenticationRequired
from domain.practice import UserAccount


class CurrentUser:
    """Holds the signed-in user; services call it to know who acts (traces, permissions)."""

    def __init__(self, user: UserAccount | None = None) -> None:
        self._user = user
        self._lock = threading.Lock()

    def __call__(self) -> UserAccount:
        """The signed-in user.

        Raises:
            AuthenticationRequired: nobody is signed in.
        """
        with self._lock:
            if self._user is None:
                raise AuthenticationRequired("Aucun utilisateur connecté sur ce poste.")
            return self._user

    def set(self, user: UserAccount | None) -> None:
        """Change the signed-in user."""
        with self._lock:
            self._user = user

    @property
    def is_set(self) -> bool:
        """True when someone is signed in."""
        with self._lock:
            return self._user is not None
