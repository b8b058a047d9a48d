"""RNIV identity: strict traits, the four INS statuses, attributes, and the rules that change them."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from domain.errors import InvalidInput, PermissionDenied
from domain.text import normalize_trait

OID_INS_NIR = "1.2.250.1.213.1.4.8"
OID_INS_NIA = "1.2.250.1.213.1.4.9"
OID_INS_NIR_TEST = "1.2.250.1.213.1.4.10"
OID_INS_NIR_DEMO = "1.2.250.1.213.1.4.11"
KNOWN_INS_OIDS = {
    OID_INS_NIR: "NIR",
    OID_INS_NIA: "NIA",
    OID_INS_NIR_TEST: "NIR de test",
    OID_INS_NIR_DEMO: "NIR de démonstration",
}

UNKNOWN_BIRTH_PLACE = "99999"
"""COG code to use when the birth place is not known (RNIV, INS rule 5). Never pre-filled."""

EARLIEST_BIRTH_DATE = dt.date(1880, 1, 1)

STRICT_TRAITS = ("birth_name", "birth_given_names", "birth_date", "sex", "birth_place_code")
"""The five INS strict traits (the first birth first name is derived from the list)."""

STRICT_TRAIT_LABELS = {
    "birth_name": "Nom de naissance",
    "birth_given_names": "Prénoms de naissance",
    "birth_date": "Date de naissance",
    "sex": "Sexe",
    "birth_place_code": "Lieu de naissance",
}


class Sex(StrEnum):
    """Administrative sex as the INS carries it."""

    FEMALE = "F"
    MALE = "M"
    INDETERMINATE = "I"

    @property
    def label_fr(self) -> str:
        """French label shown to the user."""
        return {"F": "Féminin", "M": "Masculin", "I": "Indéterminé"}[self.value]


class IdentitySource(StrEnum):
    """Where the INS of a local identity came from (the ApCV makes an identity qualified on arrival)."""

    INSI_TRAITS = "insi_traits"
    INSI_VITALE = "insi_carte_vitale"
    APCV = "appli_carte_vitale"
    RECEIVED = "recu_autre_domaine"

    @property
    def label_fr(self) -> str:
        """French label shown to the user."""
        return {
            "insi_traits": "téléservice INSi (recherche par traits)",
            "insi_carte_vitale": "téléservice INSi (carte Vitale)",
            "appli_carte_vitale": "appli carte Vitale",
            "recu_autre_domaine": "reçue d'un autre domaine d'identification",
        }[self.value]


class QualificationMode(StrEnum):
    """How the identity was checked against the person (what makes "validée"/"qualifiée" possible)."""

    DOCUMENT = "piece"
    TRANSITIONAL = "transitoire"
    APCV = "apcv"

    @property
    def label_fr(self) -> str:
        """French label shown to the user."""
        return {
            "piece": "pièce d'identité à haut niveau de confiance",
            "transitoire": "procédure spécifique transitoire",
            "apcv": "appli carte Vitale",
        }[self.value]


class IdentityStatus(StrEnum):
    """The four identity statuses of the RNIV (HL7v2 PID-32 codes)."""

    PROVISIONAL = "PROV"
    RETRIEVED = "RECUP"
    VALIDATED = "VALI"
    QUALIFIED = "QUAL"

    @property
    def label_fr(self) -> str:
        """Short French label ("provisoire"…)."""
        return _STATUS_LABELS[self][0]

    @property
    def advice_fr(self) -> str:
        """What to do to move towards a qualified identity, in French."""
        return _STATUS_LABELS[self][1]

    @property
    def protects_strict_traits(self) -> bool:
        """True when the strict traits come from INSi and may only be changed by an administrator."""
        return self in (IdentityStatus.RETRIEVED, IdentityStatus.QUALIFIED)


_STATUS_LABELS = {
    IdentityStatus.PROVISIONAL: (
        "provisoire",
        "Identité provisoire : vérifiez l'identité sur une pièce d'identité à haut niveau de confiance "
        "(carte d'identité, passeport, titre de séjour) et récupérez l'INS par le téléservice INSi "
        "(carte Vitale ou traits) pour la qualifier.",
    ),
    IdentityStatus.RETRIEVED: (
        "récupérée",
        "Identité récupérée par le téléservice INSi : contrôlez-la sur une pièce d'identité à haut "
        "niveau de confiance pour la qualifier.",
    ),
    IdentityStatus.VALIDATED: (
        "validée",
        "Identité validée sur pièce d'identité : récupérez l'INS par le téléservice INSi "
        "(carte Vitale ou traits) pour la qualifier.",
    ),
    IdentityStatus.QUALIFIED: (
        "qualifiée",
        "Identité qualifiée : l'INS peut être utilisé dans les échanges et les documents de santé.",
    ),
}


def compute_status(
    *, from_insi: bool, checked_on_high_trust_document: bool, doubtful: bool, fictitious: bool
) -> IdentityStatus:
    """Compute the identity status (INS guide rule 20; douteuse/fictive ⇒ provisoire)."""
    if doubtful or fictitious:
        return IdentityStatus.PROVISIONAL
    if from_insi and checked_on_high_trust_document:
        return IdentityStatus.QUALIFIED
    if from_insi:
        return IdentityStatus.RETRIEVED
    if checked_on_high_trust_document:
        return IdentityStatus.VALIDATED
    return IdentityStatus.PROVISIONAL


_MATRICULE_SHAPE = re.compile(r"^[1-478][0-9]{4}(?:[0-9]{2}|2A|2B)[0-9]{6}[0-9]{2}$")


def clean_matricule(raw: str) -> str:
    """Remove spaces and dots a user may type inside a matricule, upper-case Corsican letters."""
    return re.sub(r"[\s.]", "", raw).upper()


def validate_matricule(raw: str) -> str:
    """Validate a 15-character matricule INS (NIR or NIA, key included) and return it cleaned.

    Raises:
        ValueError: with a French message (length, characters, or key).
    """
    value = clean_matricule(raw)
    if len(value) != 15:
        raise ValueError(
            f"Le matricule INS doit comporter 15 caractères (13 + clé de 2 chiffres) ; {len(value)} saisis."
        )
    if not _MATRICULE_SHAPE.match(value):
        raise ValueError("Le matricule INS n'a pas la forme d'un NIR ou d'un NIA.")
    # Imported here: python-stdnum costs ~20 ms to import and start-up needs no key check.
    from stdnum.exceptions import ValidationError as StdnumValidationError
    from stdnum.fr import nir

    try:
        nir.validate(value)
    except StdnumValidationError as exc:
        raise ValueError("La clé du matricule INS est fausse : vérifiez la saisie.") from exc
    return value


def looks_like_matricule(text: str) -> bool:
    """True when ``text`` is 13 to 15 characters of NIR shape (what a user types to search by INS)."""
    value = clean_matricule(text)
    return 13 <= len(value) <= 15 and bool(re.match(r"^[1-478][0-9]{4}(?:[0-9]{2}|2A|2B)[0-9]+$", value))


@dataclass(frozen=True, slots=True)
class Ins:
    """The INS: matricule (15 characters, key included) and its OID."""

    matricule: str
    oid: str

    def __post_init__(self) -> None:
        validate_matricule(self.matricule)
        if self.oid not in KNOWN_INS_OIDS:
            raise ValueError(f"OID d'INS inconnu : {self.oid}")

    @property
    def nature(self) -> str:
        """NIR or NIA (with test/demo markers), for display."""
        return KNOWN_INS_OIDS[self.oid]


@dataclass(frozen=True, slots=True)
class IdentityTraits:
    """What a user types for an identity: the strict traits plus the used name and first name."""

    birth_name: str
    birth_given_names: tuple[str, ...]
    birth_date: dt.date | None
    sex: Sex | None
    birth_place_code: str
    used_name: str = ""
    used_given_name: str = ""

    @property
    def first_birth_given_name(self) -> str:
        """1er prénom de naissance, derived from the ordered list."""
        return self.birth_given_names[0] if self.birth_given_names else ""

    def strict_values(self) -> dict[str, object]:
        """The strict traits as a dict (for comparisons and traces)."""
        return {name: getattr(self, name) for name in STRICT_TRAITS}


@dataclass(frozen=True, slots=True)
class StatusChange:
    """One entry of the identity status history (INS guide rule 21)."""

    before: IdentityStatus | None
    after: IdentityStatus
    at: dt.datetime
    actor: str
    reason: str
    qualification: QualificationMode | None = None
    """How a "qualifiée" status was reached (piece, procédure transitoire, ApCV); None otherwise."""


@dataclass(frozen=True, slots=True)
class Identity:
    """A patient's RNIV identity with what its status is derived from."""

    traits: IdentityTraits
    ins: Ins | None = None
    from_insi: bool = False
    high_trust_document: str | None = None
    doubtful: bool = False
    fictitious: bool = False
    homonym: bool = False
    source: IdentitySource | None = None
    """Where the INS came from (INSi by traits or carte Vitale, appli carte Vitale…); None without INS."""
    transitional_qualification: bool = False
    """Qualified by the "procédure spécifique transitoire" rather than by an identity document."""

    @property
    def identity_checked(self) -> bool:
        """The person was identified by a high-trust means: a document, the transitional procedure, or the ApCV."""
        return (
            self.high_trust_document is not None
            or self.transitional_qualification
            or (self.from_insi and self.source is IdentitySource.APCV)
        )

    @property
    def qualification_mode(self) -> QualificationMode | None:
        """How the identity check was made (None when it was not)."""
        if self.from_insi and self.source is IdentitySource.APCV:
            return QualificationMode.APCV
        if self.transitional_qualification:
            return QualificationMode.TRANSITIONAL
        if self.high_trust_document is not None:
            return QualificationMode.DOCUMENT
        return None

    @property
    def status(self) -> IdentityStatus:
        """The status, always derived, never stored independently of its causes."""
        return compute_status(
            from_insi=self.from_insi,
            checked_on_high_trust_document=self.identity_checked,
            doubtful=self.doubtful,
            fictitious=self.fictitious,
        )

    @property
    def may_call_insi(self) -> bool:
        """INSi must not be called for a doubtful or fictitious identity (rule 25)."""
        return not (self.doubtful or self.fictitious)

    @property
    def transmittable_ins(self) -> Ins | None:
        """The INS may only leave the software for a qualified identity (rule 28)."""
        return self.ins if self.status is IdentityStatus.QUALIFIED else None


CogValidator = Callable[[str, dt.date], str | None]
"""Returns None when the COG code is valid at the date, else a French message."""


def parse_given_names(raw: str | Sequence[str]) -> tuple[str, ...]:
    """Split a space-separated list of birth first names, or take an already split list.

    A composite first name keeps its hyphen ("JEAN-PIERRE"); separate first names are separated by spaces.
    """
    items = raw.split(" ") if isinstance(raw, str) else list(raw)
    names: list[str] = []
    for item in items:
        names.extend(part for part in item.split(" ") if part.strip())
    return tuple(names)


def validate_traits(traits: IdentityTraits, *, today: dt.date, cog_validator: CogValidator) -> IdentityTraits:
    """Check and normalise traits typed by a user; return the normalised traits.

    Mandatory (INS rule 5): nom de naissance, 1er prénom de naissance, date de naissance, sexe, lieu de
    naissance, and nothing else.

    Raises:
        InvalidInput: every problem at once, keyed by field name, in French.
    """
    errors: dict[str, str] = {}

    def norm(value: str, field_name: str, label: str) -> str:
        try:
            return normalize_trait(value, label=label)
        except ValueError as exc:
            errors[field_name] = str(exc)
            return value

    birth_name = norm(traits.birth_name, "birth_name", "Nom de naissance")
    given: list[str] = []
    for raw in traits.birth_given_names:
        value = norm(raw, "birth_given_names", "Prénoms de naissance")
        given.extend(value.split(" ") if value else [])
    if len(" ".join(given)) > 100 and "birth_given_names" not in errors:
        errors["birth_given_names"] = "Prénoms de naissance : 100 caractères au plus pour la liste."
    used_name = norm(traits.used_name, "used_name", "Nom utilisé")
    used_given_name = norm(traits.used_given_name, "used_given_name", "Prénom utilisé")

    if not birth_name and "birth_name" not in errors:
        errors["birth_name"] = "Le nom de naissance est obligatoire."
    if not given and "birth_given_names" not in errors:
        errors["birth_given_names"] = "Le premier prénom de naissance est obligatoire."
    if traits.sex is None:
        errors["sex"] = "Le sexe est obligatoire."
    if traits.birth_date is None:
        errors["birth_date"] = "La date de naissance est obligatoire."
    elif traits.birth_date > today:
        errors["birth_date"] = "La date de naissance ne peut pas être dans le futur."
    elif traits.birth_date < EARLIEST_BIRTH_DATE:
        errors["birth_date"] = "Date de naissance invraisemblable (avant 1880)."

    code = traits.birth_place_code.strip().upper()
    if not code:
        errors["birth_place_code"] = "Le lieu de naissance est obligatoire (code INSEE ; 99999 s'il est inconnu)."
    elif not re.fullmatch(r"[0-9][0-9AB][0-9]{3}", code):
        errors["birth_place_code"] = "Le lieu de naissance doit être un code INSEE (COG) de 5 caractères."
    elif code != UNKNOWN_BIRTH_PLACE and traits.birth_date is not None and "birth_date" not in errors:
        problem = cog_validator(code, traits.birth_date)
        if problem:
            errors["birth_place_code"] = problem

    if errors:
        raise InvalidInput(errors)
    return replace(
        traits,
        birth_name=birth_name,
        birth_given_names=tuple(given),
        birth_place_code=code,
        used_name=used_name,
        used_given_name=used_given_name,
    )


@dataclass(frozen=True, slots=True)
class IdentityUpdate:
    """The result of applying a change to an identity: the new identity and what happened."""

    identity: Identity
    changed_strict_traits: tuple[str, ...]
    status_change: StatusChange | None
    ins_invalidated: bool = False
    notes: tuple[str, ...] = field(default=())


def change_identity(
    current: Identity,
    *,
    traits: IdentityTraits,
    high_trust_document: str | None,
    doubtful: bool,
    fictitious: bool,
    homonym: bool,
    actor: str,
    actor_is_admin: bool,
    at: dt.datetime,
) -> IdentityUpdate:
    """Apply a user's edit to an identity (rules 26 and 27).

    Strict traits of a récupérée/qualifiée identity are read-only except for an administrator; when one
    changes anyway, the INS (matricule + OID) is invalidated and the "from INSi" origin is dropped, which
    demotes RECUP → PROV and QUAL → VALI.

    Raises:
        PermissionDenied: a non-administrator tried to change a protected strict trait.
    """
    before = current.status
    changed = tuple(name for name in STRICT_TRAITS if getattr(current.traits, name) != getattr(traits, name))
    if changed and before.protects_strict_traits and not actor_is_admin:
        labels = ", ".join(STRICT_TRAIT_LABELS[n] for n in changed)
        raise PermissionDenied(
            f"Identité {before.label_fr} : les traits stricts ({labels}) ne sont modifiables que par un administrateur."
        )
    ins = current.ins
    from_insi = current.from_insi
    source = current.source
    transitional = current.transitional_qualification
    invalidated = False
    notes: list[str] = []
    if changed and (current.ins is not None or current.from_insi):
        ins = None
        from_insi = False
        # What rested on the INS (its source, the transitional procedure) goes with it.
        source = None
        transitional = False
        invalidated = True
        notes.append("Matricule INS et OID invalidés : un trait strict a été modifié.")
    updated = replace(
        current,
        traits=traits,
        ins=ins,
        from_insi=from_insi,
        source=source,
        transitional_qualification=transitional,
        high_trust_document=high_trust_document,
        doubtful=doubtful,
        fictitious=fictitious,
        homonym=homonym,
    )
    after = updated.status
    change = None
    if after is not before:
        reason = _reason(current, updated, changed)
        change = StatusChange(
            before=before,
            after=after,
            at=at,
            actor=actor,
            reason=reason,
            qualification=updated.qualification_mode if after is IdentityStatus.QUALIFIED else None,
        )
    return IdentityUpdate(
        identity=updated,
        changed_strict_traits=changed,
        status_change=change,
        ins_invalidated=invalidated,
        notes=tuple(notes),
    )


def _reason(before: Identity, after: Identity, changed: Sequence[str]) -> str:
    if changed and before.status.protects_strict_traits:
        return "Modification d'un trait strict : " + ", ".join(STRICT_TRAIT_LABELS[n] for n in changed)
    if after.doubtful and not before.doubtful:
        return "Identité signalée douteuse"
    if after.fictitious and not before.fictitious:
        return "Identité signalée fictive"
    if before.doubtful and not after.doubtful:
        return "Attribut « douteuse » retiré"
    if before.fictitious and not after.fictitious:
        return "Attribut « fictive » retiré"
    if after.high_trust_document and not before.high_trust_document:
        return f"Identité contrôlée sur pièce à haut niveau de confiance : {after.high_trust_document}"
    if before.high_trust_document and not after.high_trust_document:
        return "Contrôle sur pièce d'identité retiré"
    return "Modification de l'identité"


def new_identity(
    traits: IdentityTraits,
    *,
    high_trust_document: str | None = None,
    doubtful: bool = False,
    fictitious: bool = False,
    homonym: bool = False,
    actor: str,
    at: dt.datetime,
) -> tuple[Identity, StatusChange]:
    """Create a local identity (never from INSi: that is the INSi workflow's job) and its first history entry."""
    identity = Identity(
        traits=traits,
        high_trust_document=high_trust_document,
        doubtful=doubtful,
        fictitious=fictitious,
        homonym=homonym,
    )
    return identity, StatusChange(
        before=None, after=identity.status, at=at, actor=actor, reason="Création de l'identité"
    )
