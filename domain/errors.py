"""Errors the domain and its ports declare; adapters translate library exceptions into these."""

from __future__ import annotations

from collections.abc import Mapping


class DomainError(Exception):
    """Base class of every error the domain and the ports declare."""

    message_fr: str = "Une erreur est survenue."

    def __init__(self, message_fr: str | None = None) -> None:
        if message_fr is not None:
            self.message_fr = message_fr
        super().__init__(self.message_fr)


class InvalidInput(DomainError):
    """Bad input from a user, a file, a card or the network.

    ``field_errors`` maps a field name to the French message to show next to that field.
    """

    def __init__(self, field_errors: Mapping[str, str] | str) -> None:
        if isinstance(field_errors, str):
            self.field_errors: dict[str, str] = {"": field_errors}
        else:
            self.field_errors = dict(field_errors)
        super().__init__(" ; ".join(self.field_errors.values()))


class NotFound(DomainError):
    """The requested record does not exist (or no longer exists)."""


class PermissionDenied(DomainError):
    """The user may not do this (for instance edit a strict trait of a qualified identity)."""


class ConflictError(DomainError):
    """The record changed since it was read (another workstation saved it first)."""


class StorageError(DomainError):
    """The local store cannot be used: corrupt, locked, read-only, or from a newer version."""

    def __init__(self, message_fr: str, *, retryable: bool = False) -> None:
        self.retryable = retryable
        super().__init__(message_fr)


class RemoteServiceError(DomainError):
    """A national service (or its stand-in) did not answer as expected."""

    def __init__(self, message_fr: str, *, retryable: bool) -> None:
        self.retryable = retryable
        super().__init__(message_fr)


class AuthenticationRequired(DomainError):
    """The remote service needs the user to sign in (again)."""


class DeviceUnavailable(DomainError):
    """A card reader or camera is missing, busy or unplugged."""


class SecretStoreUnavailable(DomainError):
    """No secure credential store exists on this machine."""
