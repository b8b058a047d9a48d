"""The practice: its structure, practitioners with their DSR profile, users, and configurable lists."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Profession(StrEnum):
    """DSR profiles of the "Sages-femmes et Paramédicaux" corridor (TRE_G15 profession codes)."""

    NURSE = "60"  # Infirmier (IDE)
    ADVANCED_PRACTICE_NURSE = "60-IPA"  # Infirmier en pratique avancée
    MIDWIFE = "50"  # Sage-femme
    PHYSIOTHERAPIST = "70"  # Masseur-kinésithérapeute
    SPEECH_THERAPIST = "91"  # Orthophoniste
    ORTHOPTIST = "92"  # Orthoptiste
    PODIATRIST = "80"  # Pédicure-podologue

    @property
    def label_fr(self) -> str:
        """French label of the profession."""
        return _PROFESSION_LABELS[self]


_PROFESSION_LABELS = {
    Profession.NURSE: "Infirmier(ère) diplômé(e) d'État (IDE)",
    Profession.ADVANCED_PRACTICE_NURSE: "Infirmier(ère) en pratique avancée (IPA)",
    Profession.MIDWIFE: "Sage-femme",
    Profession.PHYSIOTHERAPIST: "Masseur-kinésithérapeute",
    Profession.SPEECH_THERAPIST: "Orthophoniste",
    Profession.ORTHOPTIST: "Orthoptiste",
    Profession.PODIATRIST: "Pédicure-podologue",
}


class UserRole(StrEnum):
    """What a user account may do."""

    ADMINISTRATOR = "admin"
    PRACTITIONER = "praticien"
    SECRETARY = "secretaire"
    REPLACEMENT = "remplacant"  # works on behalf of a titulaire (issue 7)

    @property
    def label_fr(self) -> str:
        """French label."""
        return {
            "admin": "Administrateur",
            "praticien": "Praticien",
            "secretaire": "Secrétaire",
            "remplacant": "Remplaçant",
        }[self.value]


class StructureKind(StrEnum):
    """Kind of structure the practitioners work in."""

    INDIVIDUAL_PRACTICE = "cabinet"
    NURSING_HEALTH_CENTRE = "centre_sante_infirmier"


@dataclass(frozen=True, slots=True)
class Structure:
    """A cabinet or a centre de santé infirmier."""

    id: int | None
    name: str
    kind: StructureKind
    finess: str = ""
    address: str = ""


@dataclass(frozen=True, slots=True)
class UserAccount:
    """Someone who uses the software: a practitioner (with RPPS and profession) or a secretary."""

    id: int | None
    login: str
    display_name: str
    role: UserRole
    structure_id: int | None
    profession: Profession | None = None
    rpps: str = ""
    is_admin: bool = False
    titulaire_id: int | None = None
    """For a remplaçant: the account of the practitioner replaced (issue 7)."""
    on_behalf_of: UserAccount | None = None
    """Set at sign-in for a remplaçant: the titulaire the session works for (both appear in traces)."""

    @property
    def actor(self) -> str:
        """How the user is named in traces and histories (a remplaçant with the titulaire replaced)."""
        own = f"{self.display_name} ({self.login})"
        if self.on_behalf_of is not None:
            return f"{own} pour le compte de {self.on_behalf_of.display_name} ({self.on_behalf_of.login})"
        return own


@dataclass(frozen=True, slots=True)
class IdentityDocumentType:
    """A kind of identity document the practice accepts, with its trust level (INS rule 19)."""

    code: str
    label: str
    high_trust: bool
    active: bool = True


DEFAULT_IDENTITY_DOCUMENT_TYPES = (
    IdentityDocumentType("CNI", "Carte nationale d'identité", True),
    IdentityDocumentType("PASSEPORT", "Passeport", True),
    IdentityDocumentType("TITRE_SEJOUR", "Titre de séjour permanent", True),
    IdentityDocumentType("CNI_UE", "Carte d'identité d'un pays de l'UE / EEE / Suisse", True),
    IdentityDocumentType("LIVRET_FAMILLE", "Livret de famille (mineur, avec pièce du parent)", True),
    IdentityDocumentType("EXTRAIT_NAISSANCE", "Extrait d'acte de naissance (mineur)", True),
    IdentityDocumentType("PERMIS", "Permis de conduire (faible niveau de confiance)", False),
    IdentityDocumentType("CARTE_VITALE", "Carte Vitale (faible niveau de confiance)", False),
)
"""Default list; the practice can deactivate entries and add its own."""
