"""The patient record: identity, contact details and the professionals taking care of the patient."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import StrEnum

from domain.errors import InvalidInput
from domain.identity import Identity
from domain.text import MAX_FREE_TEXT_LENGTH, search_terms


class CareRole(StrEnum):
    """Role of a professional in the patient's care (ANN/val.02)."""

    ATTENDING_DOCTOR = "medecin_traitant"
    PRESCRIBER = "prescripteur"
    CORRESPONDENT = "correspondant"

    @property
    def label_fr(self) -> str:
        """French label."""
        return {
            "medecin_traitant": "Médecin traitant",
            "prescripteur": "Prescripteur",
            "correspondant": "Correspondant",
        }[self.value]


@dataclass(frozen=True, slots=True)
class CareTeamMember:
    """A professional taking care of the patient (from the Annuaire Santé later, typed by hand now)."""

    role: CareRole
    display_name: str
    profession: str = ""
    rpps: str = ""
    mssante_address: str = ""


@dataclass(frozen=True, slots=True)
class Contact:
    """Administrative contact details; none of them is mandatory."""

    address_lines: tuple[str, ...] = ()
    postal_code: str = ""
    city: str = ""
    phones: tuple[str, ...] = ()
    email: str = ""


@dataclass(frozen=True, slots=True)
class Patient:
    """A patient record as the domain sees it."""

    id: int | None
    identity: Identity
    contact: Contact
    care_team: tuple[CareTeamMember, ...] = ()
    version: int = 0

    @property
    def attending_doctor(self) -> CareTeamMember | None:
        """The médecin traitant, when one is recorded."""
        for member in self.care_team:
            if member.role is CareRole.ATTENDING_DOCTOR:
                return member
        return None

    def search_terms(self) -> set[str]:
        """Keys under which anteriority search finds this patient (rule 17).

        Birth name, used name, every birth first name and the used first name are searched alike.
        """
        traits = self.identity.traits
        terms: set[str] = set()
        for text in (traits.birth_name, traits.used_name, traits.used_given_name, *traits.birth_given_names):
            if text:
                terms |= search_terms(text)
        return terms

    def with_identity(self, identity: Identity) -> Patient:
        """Return a copy with another identity."""
        return replace(self, identity=identity)


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9 .()-]{6,20}$")
_POSTAL = re.compile(r"^[0-9]{5}$|^$")


def validate_contact(contact: Contact) -> Contact:
    """Check contact details and return them trimmed.

    Raises:
        InvalidInput: keyed by field, French messages.
    """
    errors: dict[str, str] = {}
    lines = tuple(line.strip() for line in contact.address_lines if line.strip())
    for text, field_name, label in (
        ("\n".join(lines), "address_lines", "Adresse"),
        (contact.city, "city", "Ville"),
        (contact.email, "email", "Courriel"),
    ):
        if len(text) > MAX_FREE_TEXT_LENGTH:
            errors[field_name] = f"{label} : {MAX_FREE_TEXT_LENGTH} caractères au plus."
        elif _has_control_chars(text.replace("\n", "")):
            errors[field_name] = f"{label} : caractères de contrôle non admis."
    email = contact.email.strip()
    if email and "email" not in errors and not _EMAIL.match(email):
        errors["email"] = "Courriel : adresse invalide (forme attendue : nom@domaine.fr)."
    phones = tuple(p.strip() for p in contact.phones if p.strip())
    for phone in phones:
        if not _PHONE.match(phone):
            errors["phones"] = f"Téléphone invalide : « {phone[:30]} » (chiffres, espaces, +, points, tirets)."
            break
    postal = contact.postal_code.strip()
    if not _POSTAL.match(postal):
        errors["postal_code"] = "Code postal : 5 chiffres."
    if errors:
        raise InvalidInput(errors)
    return Contact(
        address_lines=lines,
        postal_code=postal,
        city=contact.city.strip(),
        phones=phones,
        email=email,
    )


def validate_care_team(members: tuple[CareTeamMember, ...]) -> tuple[CareTeamMember, ...]:
    """Check the care team: names present, RPPS of 11 digits, one médecin traitant at most."""
    errors: dict[str, str] = {}
    cleaned: list[CareTeamMember] = []
    doctors = 0
    for member in members:
        name = member.display_name.strip()
        if not name:
            errors["care_team"] = "Chaque professionnel doit avoir un nom."
            continue
        if len(name) > 200 or _has_control_chars(name):
            errors["care_team"] = "Nom de professionnel trop long ou invalide."
            continue
        rpps = member.rpps.strip()
        if rpps and not re.fullmatch(r"[0-9]{11}", rpps):
            errors["care_team"] = f"RPPS de {name} : 11 chiffres attendus."
        mss = member.mssante_address.strip()
        if mss and not _EMAIL.match(mss):
            errors["care_team"] = f"Adresse MSSanté de {name} invalide."
        if member.role is CareRole.ATTENDING_DOCTOR:
            doctors += 1
        cleaned.append(
            replace(member, display_name=name, rpps=rpps, mssante_address=mss, profession=member.profession.strip())
        )
    if doctors > 1:
        errors["care_team"] = "Un seul médecin traitant peut être déclaré."
    if errors:
        raise InvalidInput(errors)
    return tuple(cleaned)


def _has_control_chars(text: str) -> bool:
    return any(ord(ch) < 32 or ord(ch) == 127 for ch in text)
