"""Immutable data handed to the UI and the command line, and the forms they send back."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from domain.identity import IdentityStatus, StatusChange
from domain.patient import CareTeamMember, Patient
from domain.ports import PatientRow
from domain.practice import IdentityDocumentType, UserAccount


@dataclass(frozen=True, slots=True)
class SearchResult:
    """The answer to a type-ahead search.

    Attributes:
        request_id: echoes the caller's id so a view can drop stale answers.
        rows: matching patients, sorted by name, at most ``limit``.
        truncated: more patients match than were returned.
        hint: a French remark for the user (incomplete date, matricule too short…), or "".
    """

    request_id: int
    rows: tuple[PatientRow, ...]
    truncated: bool
    hint: str = ""


@dataclass(frozen=True, slots=True)
class PatientFile:
    """A patient file as the UI shows it."""

    patient: Patient
    status: IdentityStatus
    status_history: tuple[StatusChange, ...]
    birth_place_label: str
    strict_traits_editable: bool
    document_type_label: str

    @property
    def id(self) -> int:
        """The patient's id (always set for a stored patient)."""
        assert self.patient.id is not None
        return self.patient.id


@dataclass(frozen=True, slots=True)
class PatientForm:
    """What the create/edit dialog sends: raw text, checked by the service.

    ``birth_given_names`` is the ordered list as typed, space-separated ("MARIE CLAIRE" = two first names,
    "JEAN-PIERRE" = one composite first name). ``birth_date`` is typed JJ/MM/AAAA.
    """

    birth_name: str = ""
    birth_given_names: str = ""
    used_name: str = ""
    used_given_name: str = ""
    sex: str = ""
    birth_date: str = ""
    birth_place_code: str = ""
    high_trust_document: str = ""
    doubtful: bool = False
    fictitious: bool = False
    homonym: bool = False
    address_lines: tuple[str, ...] = ()
    postal_code: str = ""
    city: str = ""
    phones: tuple[str, ...] = ()
    email: str = ""
    care_team: tuple[CareTeamMember, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class PracticeOverview:
    """The practice shown in the title bar and the "À propos" box."""

    name: str
    current_user: UserAccount
    users: tuple[UserAccount, ...]
    document_types: tuple[IdentityDocumentType, ...]
    patient_count: int
    demo: bool


@dataclass(frozen=True, slots=True)
class MaintenanceReport:
    """What a start-up or a backup did, for the log and the user."""

    backup_path: str | None
    migrated_from: str | None
    migrated_to: str | None
    at: dt.datetime | None = None
