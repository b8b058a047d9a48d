"""The INSi teleservice as the domain sees it: queries, answers, and the ports of the gateway and the card."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from domain.identity import KNOWN_INS_OIDS, Sex, validate_matricule
from domain.identity import IdentitySource as IdentitySource  # re-export: defined with the identity status


class InsiCode(StrEnum):
    """Return codes (CR) of the INSi teleservice."""

    FOUND = "00"
    NOT_FOUND = "01"
    SEVERAL = "02"

    @property
    def label_fr(self) -> str:
        """French explanation shown to the user."""
        return {
            "00": "Une identité trouvée.",
            "01": "Aucune identité trouvée.",
            "02": "Plusieurs identités correspondent.",
        }[self.value]


class InsiQueryKind(StrEnum):
    """How INSi was queried."""

    TRAITS = "traits"
    VITALE = "carte_vitale"


@dataclass(frozen=True, slots=True)
class InsiTraitsQuery:
    """A search by identity traits (operation rechercherInsAvecTraitsIdentite).

    ``given_name`` is the one first name sent in this query (the strategy sends one query per birth first
    name when there are several); ``birth_place_code`` is None on the first attempt ("sans le COG").
    """

    birth_name: str
    given_name: str
    sex: Sex
    birth_date: dt.date
    birth_place_code: str | None = None


@dataclass(frozen=True, slots=True)
class VitaleBeneficiary:
    """A beneficiary read from a carte Vitale (what rechercherInsAvecCarteVitale needs).

    ``birth_date`` is the "date lunaire" text ``AAAA-MM-JJ`` as written on the card: it may hold 00 for an
    unknown day or month, so it is not a ``datetime.date``.
    """

    nir: str
    nir_key: str
    birth_name: str
    given_name: str
    birth_date: str
    birth_rank: int
    used_name: str = ""
    holder_nir: str = ""
    holder_nir_key: str = ""


@dataclass(frozen=True, slots=True)
class InsHistoryEntry:
    """A previous (or the active) matricule INS with its validity."""

    matricule: str
    oid: str
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None


@dataclass(frozen=True, slots=True)
class InsiIdentity:
    """The identity INSi returned (code 00): active INS, its history, and the traits (TIQ)."""

    matricule: str
    oid: str
    birth_name: str
    given_names: tuple[str, ...]
    first_given_name: str
    sex: str
    birth_date: str
    birth_place_code: str
    history: tuple[InsHistoryEntry, ...] = ()

    @property
    def import_problem(self) -> str | None:
        """Why this answer must not be imported into a local identity (INS rules 11/12), else None.

        A birth date with ``00`` as day or month, or an empty nom de naissance, prénoms or sexe: the answer is
        shown and traced, but neither the INS nor the traits may be stored. A matricule whose key is wrong or an
        unknown OID is refused the same way (``domain.identity.Ins`` could not hold it).
        """
        problems: list[str] = []
        parts = self.birth_date.split("-")
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            problems.append("date de naissance illisible")
        elif parts[1] == "00" or parts[2] == "00":
            problems.append("date de naissance incomplète (jour ou mois « 00 »)")
        if not self.birth_name.strip():
            problems.append("nom de naissance vide")
        if not any(name.strip() for name in self.given_names) and not self.first_given_name.strip():
            problems.append("prénoms de naissance vides")
        if not self.sex.strip():
            problems.append("sexe vide")
        try:
            validate_matricule(self.matricule)
        except ValueError:
            problems.append("matricule INS invalide (forme ou clé)")
        if self.oid not in KNOWN_INS_OIDS:
            problems.append(f"OID d'INS inconnu ({self.oid})")
        if not problems:
            return None
        return (
            "Identité renvoyée par INSi non importable (" + ", ".join(problems) + ") : l'INS ne peut pas être "
            "enregistré. Conservez l'identité locale et vérifiez-la sur une pièce d'identité."
        )

    @property
    def importable(self) -> bool:
        """True when the INS and traits may be stored (INS rules 11/12)."""
        return self.import_problem is None


@dataclass(frozen=True, slots=True)
class InsiAnswer:
    """One answer of the teleservice."""

    code: InsiCode
    label: str
    identity: InsiIdentity | None
    message_id: str
    kind: InsiQueryKind


@dataclass(frozen=True, slots=True)
class InsiCallContext:
    """Who calls and on whose behalf (headers of the SOAP request, and the trace).

    ``practitioner_id`` is the identifier carried by the CPS/e-CPS (``8`` + RPPS, or ADELI for older cards),
    ``profession_code`` the profession code (TRE_G15), ``activity_sector`` the secteur d'activité (TRE_R02,
    ``SA07`` cabinet libéral…): they go into the SAML "assertion PS" of the CPx/PSC mode. ``patient_id`` is the
    local file the call is made for, if any: it only goes into the trace, never on the wire.
    """

    actor: str
    structure_id: str = ""
    practitioner_id: str = ""
    practitioner_name: str = ""
    profession_code: str = ""
    activity_sector: str = ""
    patient_id: int | None = None


class InsiGateway(Protocol):
    """The INSi teleservice (SOAP 1.2 in production, its stand-in here).

    Every method raises ``RemoteServiceError`` (retryable or not, French message) for timeouts, SOAP faults
    and unreadable answers, ``AuthenticationRequired`` when the CPS/PSC assertion or the certificate is refused.
    """

    def search_by_traits(self, query: InsiTraitsQuery, context: InsiCallContext) -> InsiAnswer:
        """rechercherInsAvecTraitsIdentite."""
        ...

    def search_by_vitale(self, beneficiary: VitaleBeneficiary, context: InsiCallContext) -> InsiAnswer:
        """rechercherInsAvecCarteVitale."""
        ...


class CardKind(StrEnum):
    """What the ATR says a card is."""

    VITALE = "vitale"
    CPS = "cps"
    OTHER = "autre"


@dataclass(frozen=True, slots=True)
class CardEvent:
    """A change seen by the card monitor."""

    kind: str  # "reader_added", "reader_removed", "card_inserted", "card_removed"
    reader: str
    card: CardKind | None = None
    atr: str = ""


class VitaleCardReader(Protocol):
    """Reads the beneficiaries of the carte Vitale in a reader.

    In production the GIE SESAM-Vitale reading library provides them; here a virtual card on PC/SC.
    Raises ``DeviceUnavailable`` (no reader, card removed mid-read) or ``InvalidInput`` (unreadable card).
    """

    def read_beneficiaries(self, reader: str | None = None) -> list[VitaleBeneficiary]:
        """Every beneficiary on the card."""
        ...
