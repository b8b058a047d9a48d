"""The practice: who works here, who is signed in, and the lists the practice configures."""

from __future__ import annotations

import logging

from app.dto import PracticeOverview
from app.session import CurrentUser
from domain.audit import AuditAction, AuditEvent
from domain.errors import InvalidInput, NotFound
from domain.ports import Clock, UnitOfWorkFactory
from domain.practice import DEFAULT_IDENTITY_DOCUMENT_TYPES, IdentityDocumentType, UserAccount
from domain.security import Permission, require

log = logging.getLogger("lgc.practice")


class PracticeService:
    """Users, the signed-in user, and configurable identity document types."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, current_user: CurrentUser, demo: bool) -> None:
        self._uow = uow
        self._clock = clock
        self._current = current_user
        self._demo = demo

    def ensure_reference_lists(self) -> None:
        """Install the default identity document types on a new store."""
        with self._uow() as uow:
            if uow.practice.identity_document_types():
                return
            for doc_type in DEFAULT_IDENTITY_DOCUMENT_TYPES:
                uow.practice.save_identity_document_type(doc_type)
            uow.commit()

    def users(self) -> list[UserAccount]:
        """Every user account."""
        with self._uow() as uow:
            return uow.practice.users()

    def sign_in(self, login: str) -> UserAccount:
        """Make ``login`` the user of this workstation (local sign-in; Pro Santé Connect comes later).

        Raises:
            NotFound: no such account.
        """
        with self._uow() as uow:
            user = uow.practice.user_by_login(login)
        if user is None:
            raise NotFound(f"Aucun compte « {login} » dans ce cabinet.")
        self._current.set(user)
        log.info("User %s signed in", login)
        return user

    def overview(self) -> PracticeOverview:
        """The practice as shown in the title bar and the "À propos" box."""
        with self._uow() as uow:
            structures = uow.practice.structures()
            users = tuple(uow.practice.users())
            types = tuple(uow.practice.identity_document_types())
            count = uow.patients.count()
        name = structures[0].name if structures else "Cabinet"
        return PracticeOverview(
            name=name,
            current_user=self._current(),
            users=users,
            document_types=types,
            patient_count=count,
            demo=self._demo,
        )

    def save_document_type(self, doc_type: IdentityDocumentType) -> None:
        """Add or change an identity document type (administrators only)."""
        user = self._current()
        require(user, Permission.CONFIGURE_LISTS)  # administrators only (issue 7 permission table)
        code = doc_type.code.strip().upper()
        if not code or not doc_type.label.strip():
            raise InvalidInput({"code": "Code et libellé de la pièce sont obligatoires."})
        with self._uow() as uow:
            uow.practice.save_identity_document_type(doc_type)
            uow.audit.append(
                AuditEvent(
                    at=self._clock.now(),
                    actor=user.actor,
                    action=AuditAction.SETTINGS_CHANGE,
                    detail={"piece_identite": code, "haut_niveau": doc_type.high_trust, "active": doc_type.active},
                )
            )
            uow.commit()
