"""SQL storage of the local accounts' security state (argon2id hashes, lockout) and password history."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.db.models import UserRow
from adapters.db.models_security import AccountCredentialRow, PasswordHistoryRow
from domain.errors import NotFound
from domain.practice import Profession, UserAccount, UserRole
from domain.security import Credentials


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    # SQLite returns naive datetimes for timezone-aware columns; the store only ever writes UTC.
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


class SqlAccountRepository:
    """Credentials, password history and account attributes in the SQL store."""

    def __init__(self, session: Session) -> None:
        self._s = session

    def credentials(self, user_id: int) -> Credentials:
        """The account's security state (empty when none was stored)."""
        row = self._s.get(AccountCredentialRow, user_id)
        if row is None:
            return Credentials()
        return Credentials(
            password_hash=row.password_hash,
            password_changed_at=_aware(row.password_changed_at),
            must_change=row.must_change,
            failed_attempts=row.failed_attempts,
            locked_until=_aware(row.locked_until),
            disabled=row.disabled,
            last_sign_in_at=_aware(row.last_sign_in_at),
        )

    def save_credentials(self, user_id: int, credentials: Credentials) -> None:
        """Insert or update the account's security state."""
        row = self._s.get(AccountCredentialRow, user_id)
        if row is None:
            row = AccountCredentialRow(user_id=user_id)
            self._s.add(row)
        row.password_hash = credentials.password_hash
        row.password_changed_at = credentials.password_changed_at
        row.must_change = credentials.must_change
        row.failed_attempts = credentials.failed_attempts
        row.locked_until = credentials.locked_until
        row.disabled = credentials.disabled
        row.last_sign_in_at = credentials.last_sign_in_at
        self._s.flush()

    def password_history(self, user_id: int, limit: int | None) -> list[str]:
        """Previous password hashes, most recent first."""
        stmt = (
            select(PasswordHistoryRow.password_hash)
            .where(PasswordHistoryRow.user_id == user_id)
            .order_by(PasswordHistoryRow.id.desc())
        )
        if limit is not None:
            stmt = stmt.limit(limit)
        return list(self._s.scalars(stmt))

    def add_password_history(self, user_id: int, password_hash: str, at: dt.datetime) -> None:
        """Remember a replaced password hash."""
        self._s.add(PasswordHistoryRow(user_id=user_id, password_hash=password_hash, replaced_at=at))
        self._s.flush()

    def update_user(self, user: UserAccount) -> None:
        """Save the account's attributes."""
        row = self._s.get(UserRow, user.id) if user.id is not None else None
        if row is None:
            raise NotFound(f"Le compte « {user.login} » n'existe pas (ou plus).")
        row.display_name = user.display_name
        row.role = user.role.value
        row.is_admin = user.is_admin
        row.rpps = user.rpps
        row.profession = user.profession.value if user.profession else None
        row.structure_id = user.structure_id
        row.titulaire_id = user.titulaire_id
        self._s.flush()

    def user_by_id(self, user_id: int) -> UserAccount | None:
        """The account with this id."""
        row = self._s.get(UserRow, user_id)
        if row is None:
            return None
        return UserAccount(
            id=row.id,
            login=row.login,
            display_name=row.display_name,
            role=UserRole(row.role),
            structure_id=row.structure_id,
            profession=Profession(row.profession) if row.profession else None,
            rpps=row.rpps,
            is_admin=row.is_admin,
            titulaire_id=row.titulaire_id,
        )
