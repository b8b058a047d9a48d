"""PasswordHasher over argon2-cffi: argon2id with the RFC 9106 second recommended parameters."""

from __future__ import annotations

from typing import Any


class Argon2PasswordHasher:
    """argon2id hashes (PHC strings carry the salt and parameters, so they can be strengthened later).

    Args:
        time_cost: iterations (RFC 9106 low-memory profile: 3).
        memory_kib: memory per hash (64 MiB).
        parallelism: lanes (4).
    """

    def __init__(self, *, time_cost: int = 3, memory_kib: int = 65536, parallelism: int = 4) -> None:
        self._params = (time_cost, memory_kib, parallelism)
        self._hasher: Any = None

    def _ph(self) -> Any:
        if self._hasher is None:
            from argon2 import PasswordHasher, Type

            time_cost, memory_kib, parallelism = self._params
            self._hasher = PasswordHasher(
                time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
            )
        return self._hasher

    def hash(self, password: str) -> str:
        """A salted argon2id hash of ``password``."""
        return str(self._ph().hash(password))

    def verify(self, password_hash: str, password: str) -> bool:
        """True when ``password`` matches ``password_hash``; False for a wrong password or a damaged hash."""
        from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

        try:
            return bool(self._ph().verify(password_hash, password))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash uses other parameters than today's."""
        from argon2.exceptions import InvalidHashError

        try:
            return bool(self._ph().check_needs_rehash(password_hash))
        except InvalidHashError:
            return True
