"""Text rules for identity traits (RNIV character set) and accent-insensitive search keys."""

from __future__ import annotations

import re
import unicodedata

MAX_NAME_LENGTH = 100
"""Longest name or first-name list accepted (the "INS à scanner" datamatrix carries at most 100)."""

MAX_FREE_TEXT_LENGTH = 2000
"""Longest free-text field (address line, e-mail...) kept; longer input is refused, not truncated."""

# Ligatures and letters that NFKD does not split into a base letter + combining mark.
_SPECIAL_LETTERS = {
    "Œ": "OE",
    "œ": "oe",
    "Æ": "AE",
    "æ": "ae",
    "ß": "ss",
    "Ø": "O",
    "ø": "o",
    "Đ": "D",
    "đ": "d",
    "Ł": "L",
    "ł": "l",
    "ı": "i",
}
_APOSTROPHES = "’ʼ`´‘"
_HYPHENS = "‐‑‒–—−"

_TRAIT_ALLOWED = re.compile(r"^[A-Z' -]+$")
_SEARCH_STRIP = re.compile(r"[^a-z0-9]+")
_SEARCH_SPLIT = re.compile(r"[^a-z0-9]+")


def strip_accents(text: str) -> str:
    """Return ``text`` without diacritics, ligatures unfolded (``Œ`` → ``OE``)."""
    text = "".join(_SPECIAL_LETTERS.get(ch, ch) for ch in text)
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def normalize_trait(raw: str, *, label: str) -> str:
    """Normalise a name trait to the RNIV form: upper case, no diacritics, single spaces.

    Allowed characters after normalisation: ``A``–``Z``, space, hyphen, apostrophe. Typographic
    apostrophes and dashes are folded to their ASCII form.

    Args:
        raw: what the user typed (or what a card or a service returned).
        label: the field name in French, used in the error message.

    Returns:
        The normalised trait ("" when ``raw`` is blank).

    Raises:
        ValueError: with a French message when a forbidden character remains or the value is too long.
    """
    text = raw.strip()
    if not text:
        return ""
    if len(text) > MAX_NAME_LENGTH:
        raise ValueError(f"{label} : {MAX_NAME_LENGTH} caractères au plus ({len(text)} saisis).")
    for ch in _APOSTROPHES:
        text = text.replace(ch, "'")
    for ch in _HYPHENS:
        text = text.replace(ch, "-")
    text = strip_accents(text).upper()
    text = re.sub(r"\s+", " ", text)
    if not _TRAIT_ALLOWED.match(text):
        bad = sorted({ch for ch in text if not _TRAIT_ALLOWED.match(ch)})
        shown = " ".join(repr(ch) for ch in bad[:5])
        raise ValueError(
            f"{label} : caractère(s) non autorisé(s) {shown}. Seuls les lettres, l'espace, "
            "le tiret et l'apostrophe sont admis (règles de l'INS)."
        )
    if text[0] in "-'" or text[-1] in "-'":
        raise ValueError(f"{label} : ne peut ni commencer ni finir par un tiret ou une apostrophe.")
    if "---" in text or "''" in text or " -" in text or "- " in text:
        raise ValueError(f"{label} : tirets, apostrophes ou espaces mal placés.")
    return text


def search_key(text: str) -> str:
    """Return the accent-, case- and punctuation-insensitive key of ``text`` (``"Jean-Pierre"`` → ``"jeanpierre"``)."""
    return _SEARCH_STRIP.sub("", strip_accents(text).lower())


def search_terms(text: str) -> set[str]:
    """Return every key under which a name is found: the whole name and each of its parts.

    ``"De La Fontaine-D'Arc"`` gives ``delafontainedarc``, ``de``, ``la``, ``fontaine``, ``darc``,
    ``arc``… so that typing the start of any part, with or without the punctuation, finds it.
    """
    folded = strip_accents(text).lower()
    terms: set[str] = set()
    whole = _SEARCH_STRIP.sub("", folded)
    if whole:
        terms.add(whole)
    # Words separated by spaces, then hyphen/apostrophe parts inside each word.
    for word in folded.split():
        key = _SEARCH_STRIP.sub("", word)
        if key:
            terms.add(key)
        for part in _SEARCH_SPLIT.split(word):
            if part:
                terms.add(part)
    return terms
