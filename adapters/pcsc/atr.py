"""Card kind from the ATR (answer to reset): carte Vitale, CPS, or another card."""

from __future__ import annotations

import re

from domain.insi import CardKind

_VITALE_PATTERNS = (
    # Carte Vitale 2 (pcsc-tools smartcard_list: 3B 75 13 00 00 43|44|45 09 EA 90 00).
    re.compile(r"^3B751300004[0-9A-F]09EA9000$"),
    # Carte Vitale 1 (inverse convention).
    re.compile(r"^3F6525..(2C|22)..(69|6C|F6)9000$"),
)
_CPS_PATTERNS = (
    # CPS3 (IAS-ECC): historical bytes 80 31 80 65 B0 85 03 00 EF …
    re.compile(r"^3B8F8001803180 65B0850300EF".replace(" ", "")),
    # CPS2ter.
    re.compile(r"^3B7D18000000318071 8E64 77E3".replace(" ", "")),
)


def atr_hex(atr: bytes | list[int]) -> str:
    """The ATR as upper-case hexadecimal without spaces."""
    return bytes(atr).hex().upper()


def classify_atr(atr: bytes | list[int]) -> CardKind:
    """Vitale, CPS or other, from the ATR alone (no APDU is sent)."""
    text = atr_hex(atr)
    if any(pattern.match(text) for pattern in _VITALE_PATTERNS):
        return CardKind.VITALE
    if any(pattern.match(text) for pattern in _CPS_PATTERNS):
        return CardKind.CPS
    return CardKind.OTHER
