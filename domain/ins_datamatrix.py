"""The "INS à scanner" datamatrix payload (ANS format IS01): build it for a qualified identity, parse it back.

Layout (segur-reference §2.5, cross-checked in three implementations of the ANS format)::

    IS01 + 22 × "0"                      header, 26 characters
    S1 <matricule INS>                   15 characters, fixed
    S2 <OID> [GS]                        up to 20 characters; GS (0x1D) when shorter than 20
    S3 <prénoms de naissance> [GS]       up to 100 characters, space-separated; GS when shorter
    S4 <nom de naissance> [GS]           up to 100 characters; GS when shorter
    S5 <F|M>                             1 character (an indeterminate sex cannot be encoded)
    S6 <JJ-MM-AAAA>                      10 characters, day first
    S7 <COG du lieu de naissance>        5 characters, last

INS guide rule 32: the datamatrix is printed on paper documents of a *qualified* identity only.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from domain.errors import InvalidInput
from domain.identity import KNOWN_INS_OIDS, Identity, IdentityStatus, Sex, validate_matricule

GS = "\x1d"
"""ASCII group separator: ends a variable-length field shorter than its maximum."""

HEADER = "IS01" + "0" * 22
CAPTION = "INS à scanner"

OID_MAX = 20
NAMES_MAX = 100

_TRAIT_CHARS = re.compile(r"^[A-Z0-9' -]+$")
_BIRTH_PLACE = re.compile(r"^[0-9][0-9AB][0-9]{3}$")


@dataclass(frozen=True, slots=True)
class InsDatamatrix:
    """What the "INS à scanner" datamatrix carries (the identity block printed next to it shows the same)."""

    matricule: str
    oid: str
    birth_given_names: tuple[str, ...]
    birth_name: str
    sex: Sex
    birth_date: dt.date
    birth_place_code: str

    @property
    def nature(self) -> str:
        """NIR or NIA (with test/demo markers), as printed next to the matricule."""
        return KNOWN_INS_OIDS.get(self.oid, "")

    @property
    def first_given_name(self) -> str:
        """1er prénom de naissance."""
        return self.birth_given_names[0] if self.birth_given_names else ""


def datamatrix_for(identity: Identity) -> InsDatamatrix:
    """The datamatrix content of ``identity``.

    Raises:
        InvalidInput: the identity is not qualified (rule 32), has no INS, or a trait cannot be encoded
            (indeterminate sex, missing date or birth place), with a French message.
    """
    if identity.status is not IdentityStatus.QUALIFIED or identity.ins is None:
        raise InvalidInput(
            "L'INS à scanner n'est produit que pour une identité qualifiée (identité actuellement "
            f"{identity.status.label_fr})."
        )
    traits = identity.traits
    if traits.sex is None or traits.sex is Sex.INDETERMINATE:
        raise InvalidInput(
            "Sexe indéterminé : le datamatrix INS ne peut pas être produit (le format n'admet que F ou M)."
        )
    if traits.birth_date is None:
        raise InvalidInput("Date de naissance absente : le datamatrix INS ne peut pas être produit.")
    return InsDatamatrix(
        matricule=identity.ins.matricule,
        oid=identity.ins.oid,
        birth_given_names=tuple(traits.birth_given_names),
        birth_name=traits.birth_name,
        sex=traits.sex,
        birth_date=traits.birth_date,
        birth_place_code=traits.birth_place_code,
    )


def build_payload(content: InsDatamatrix) -> str:
    """The datamatrix text (ASCII, with GS separators) of ``content``.

    Raises:
        InvalidInput: a value does not fit the format (French message naming the field).
    """
    try:
        matricule = validate_matricule(content.matricule)
    except ValueError as exc:
        raise InvalidInput({"matricule": str(exc)}) from exc
    if content.oid not in KNOWN_INS_OIDS:
        raise InvalidInput({"oid": f"OID d'INS inconnu : {content.oid}"})
    if content.sex not in (Sex.FEMALE, Sex.MALE):
        raise InvalidInput(
            {"sex": "Sexe indéterminé : le datamatrix INS ne peut pas être produit (le format n'admet que F ou M)."}
        )
    given = " ".join(name.upper() for name in content.birth_given_names)
    birth_name = content.birth_name.upper()
    _check_trait(given, "birth_given_names", "Prénoms de naissance")
    _check_trait(birth_name, "birth_name", "Nom de naissance")
    if not _BIRTH_PLACE.match(content.birth_place_code):
        raise InvalidInput({"birth_place_code": "Lieu de naissance : code INSEE (COG) de 5 caractères attendu."})
    if content.birth_date.year < 1000:
        raise InvalidInput({"birth_date": "Date de naissance invraisemblable."})
    return "".join(
        (
            HEADER,
            "S1",
            matricule,
            "S2",
            _variable(content.oid, OID_MAX),
            "S3",
            _variable(given, NAMES_MAX),
            "S4",
            _variable(birth_name, NAMES_MAX),
            "S5",
            content.sex.value,
            "S6",
            content.birth_date.strftime("%d-%m-%Y"),
            "S7",
            content.birth_place_code,
        )
    )


def parse_payload(payload: str) -> InsDatamatrix:
    """Read a scanned "INS à scanner" datamatrix back (the scanner must keep the GS separators).

    Raises:
        InvalidInput: the text is not an IS01 datamatrix or a field is malformed (French message).
    """
    reader = _Reader(payload)
    if not payload.startswith(HEADER):
        raise InvalidInput("Ce code n'est pas un datamatrix « INS à scanner » (en-tête IS01 absent).")
    reader.pos = len(HEADER)
    matricule = reader.fixed("S1", 15)
    oid = reader.variable("S2", OID_MAX)
    given = reader.variable("S3", NAMES_MAX)
    birth_name = reader.variable("S4", NAMES_MAX)
    sex_text = reader.fixed("S5", 1)
    date_text = reader.fixed("S6", 10)
    place = reader.fixed("S7", 5)
    if reader.pos != len(payload):
        raise InvalidInput("Datamatrix INS : données inattendues après le lieu de naissance (S7).")
    try:
        matricule = validate_matricule(matricule)
    except ValueError as exc:
        raise InvalidInput(f"Datamatrix INS : {exc}") from exc
    if oid not in KNOWN_INS_OIDS:
        raise InvalidInput(f"Datamatrix INS : OID d'INS inconnu ({oid}).")
    if sex_text not in ("F", "M"):
        raise InvalidInput(f"Datamatrix INS : sexe « {sex_text} » invalide (F ou M attendu).")
    try:
        birth_date = dt.datetime.strptime(date_text, "%d-%m-%Y").date()
    except ValueError as exc:
        raise InvalidInput(f"Datamatrix INS : date de naissance « {date_text} » invalide (JJ-MM-AAAA).") from exc
    _check_trait(given, "birth_given_names", "Datamatrix INS, prénoms")
    _check_trait(birth_name, "birth_name", "Datamatrix INS, nom de naissance")
    if not _BIRTH_PLACE.match(place):
        raise InvalidInput(f"Datamatrix INS : lieu de naissance « {place} » invalide.")
    return InsDatamatrix(
        matricule=matricule,
        oid=oid,
        birth_given_names=tuple(given.split(" ")),
        birth_name=birth_name,
        sex=Sex(sex_text),
        birth_date=birth_date,
        birth_place_code=place,
    )


def _variable(value: str, maximum: int) -> str:
    return value if len(value) == maximum else value + GS


def _check_trait(value: str, field: str, label: str) -> None:
    if not value:
        raise InvalidInput({field: f"{label} : valeur vide."})
    if len(value) > NAMES_MAX:
        raise InvalidInput({field: f"{label} : {NAMES_MAX} caractères au plus."})
    if not _TRAIT_CHARS.match(value) or "  " in value or value != value.strip():
        raise InvalidInput({field: f"{label} : caractères non admis dans le datamatrix INS (« {value} »)."})


class _Reader:
    """Cursor over a payload: fixed fields, and variable fields ended by GS or by their maximum length."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def _tag(self, tag: str) -> None:
        if self.text[self.pos : self.pos + 2] != tag:
            raise InvalidInput(f"Datamatrix INS : champ {tag} attendu à la position {self.pos + 1}.")
        self.pos += 2

    def fixed(self, tag: str, length: int) -> str:
        self._tag(tag)
        value = self.text[self.pos : self.pos + length]
        if len(value) != length or GS in value:
            raise InvalidInput(f"Datamatrix INS : champ {tag} tronqué ({length} caractères attendus).")
        self.pos += length
        return value

    def variable(self, tag: str, maximum: int) -> str:
        self._tag(tag)
        end = self.text.find(GS, self.pos, self.pos + maximum + 1)
        if end == -1:
            value = self.text[self.pos : self.pos + maximum]
            if len(value) != maximum:
                raise InvalidInput(f"Datamatrix INS : champ {tag} tronqué (séparateur GS absent).")
            self.pos += maximum
            return value
        value = self.text[self.pos : end]
        self.pos = end + 1
        return value


@dataclass(frozen=True, slots=True)
class InsLabel:
    """An "étiquette INS": the identity block printed on paper documents (INS/va1.15) and its datamatrix."""

    content: InsDatamatrix
    payload: str
    birth_place_label: str = ""
    printed_by: str = ""


class DatamatrixRenderer(Protocol):
    """Draws a square ECC200 datamatrix with its quiet zone."""

    def png(self, payload: str, module_px: int = 4) -> bytes:
        """A PNG image of the datamatrix, ``module_px`` pixels per module."""
        ...

    def svg(self, payload: str) -> str:
        """The datamatrix as an SVG document."""
        ...


class InsLabelWriter(Protocol):
    """Writes the printable "étiquette INS" (PDF)."""

    def write_pdf(self, label: InsLabel, path: Path) -> None:
        """Write the label to ``path`` (replaced atomically). Raises InvalidInput when it cannot be written."""
        ...
