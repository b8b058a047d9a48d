"""Anteriority search (INS rule 17): parse what the user typed into search criteria."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from domain.errors import InvalidInput
from domain.identity import clean_matricule, looks_like_matricule, validate_matricule
from domain.text import search_key

MAX_QUERY_LENGTH = 120
MAX_NAME_TOKENS = 4

_FULL_DATE = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_PARTIAL_DATE = re.compile(r"^\d{1,2}([/.-]\d{0,2}([/.-]\d{0,3})?)?$")
_YEAR = re.compile(r"^(18|19|20)\d{2}$")


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """Criteria of an anteriority search.

    Attributes:
        name_prefixes: normalised prefixes; each must start one of the patient's name keys (birth name,
            used name, any birth first name, used first name), whatever the order typed.
        birth_date: exact birth date, when typed in full.
        birth_year: birth year, when a 4-digit year was typed alone.
        matricule: a full, key-checked 15-character matricule INS.
        incomplete: a part of the text is not finished yet (a date being typed) and was not used.
    """

    name_prefixes: tuple[str, ...] = ()
    birth_date: dt.date | None = None
    birth_year: int | None = None
    matricule: str | None = None
    incomplete: bool = False

    @property
    def is_empty(self) -> bool:
        """True when nothing restricts the search."""
        return not (self.name_prefixes or self.birth_date or self.birth_year or self.matricule)


def parse_query(text: str) -> SearchQuery:
    """Turn the search box's text into a SearchQuery.

    Case, accents, apostrophes and hyphens are ignored. A matricule is only searched with all 15 characters
    and a valid key.

    Raises:
        InvalidInput: with a French message (pasted file, impossible date, wrong matricule).
    """
    if "\n" in text.strip() or "\t" in text or len(text) > MAX_QUERY_LENGTH:
        raise InvalidInput(
            {
                "query": "Texte collé trop long ou sur plusieurs lignes : cherchez un nom, un prénom, "
                "une date JJ/MM/AAAA ou un matricule INS."
            }
        )
    compact = clean_matricule(text)
    if re.fullmatch(r"[0-9][0-9 .]*[0-9AB][0-9 .]*", text.strip().upper()) and 13 <= len(compact) <= 15:
        # A matricule typed with spaces, as printed on a carte Vitale ("2 79 03 51 215 189 89").
        if len(compact) < 15:
            return SearchQuery(incomplete=True)
        try:
            return SearchQuery(matricule=validate_matricule(compact))
        except ValueError as exc:
            raise InvalidInput({"query": str(exc)}) from exc
    names: list[str] = []
    birth_date: dt.date | None = None
    birth_year: int | None = None
    matricule: str | None = None
    incomplete = False
    for token in re.split(r"[\s,;|]+", text.strip()):
        if not token:
            continue
        full = _FULL_DATE.match(token)
        iso = _ISO_DATE.match(token)
        if full or iso:
            if full:
                day, month, year = (int(g) for g in full.groups())
            else:
                assert iso is not None
                year, month, day = (int(g) for g in iso.groups())
            try:
                birth_date = dt.date(year, month, day)
            except ValueError as exc:
                raise InvalidInput({"query": f"Date impossible : {token}."}) from exc
            continue
        if _PARTIAL_DATE.match(token) and not token.isdigit():
            incomplete = True
            continue
        if _YEAR.match(token):
            birth_year = int(token)
            continue
        if looks_like_matricule(token) or (token.isdigit() and len(token) > 4):
            if len(clean_matricule(token)) < 15:
                incomplete = True
                continue
            try:
                matricule = validate_matricule(token)
            except ValueError as exc:
                raise InvalidInput({"query": str(exc)}) from exc
            continue
        if token.isdigit():
            incomplete = True
            continue
        key = search_key(token)
        if key and len(names) < MAX_NAME_TOKENS:
            names.append(key)
    return SearchQuery(
        name_prefixes=tuple(names),
        birth_date=birth_date,
        birth_year=birth_year,
        matricule=matricule,
        incomplete=incomplete,
    )


def criteria_query(
    *, birth_date: dt.date | None = None, name_start: str = "", given_name_start: str = ""
) -> SearchQuery:
    """Build an anteriority search from separate criteria (date of birth and/or first letters of names)."""
    names = tuple(k for k in (search_key(name_start), search_key(given_name_start)) if k)
    return SearchQuery(name_prefixes=names, birth_date=birth_date)
