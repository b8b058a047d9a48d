"""Reads a carte Vitale's beneficiaries and a CPS holder over PC/SC APDUs (pyscard), per the LGC card layout.

The layout (applications, records, BER-TLV tags) is documented in docs/lecteur-cartes.md and in
sandbox/vitale_card.py, the test card that implements it. Real Vitale and CPS cards are read in production
through the GIE SESAM-Vitale library (adapters/sesam_vitale.py); this adapter is the PC/SC path, exercised
end to end through pcscd.

Every PC/SC failure becomes a domain error with a French message: ``DeviceUnavailable`` (no service, no
reader, no card, card pulled out or reader unplugged mid-read, card busy) or ``InvalidInput`` (two cards,
wrong card, unreadable record). Nothing is kept from a read that failed.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from adapters.pcsc.atr import atr_hex, classify_atr
from domain.cards import PractitionerCard
from domain.errors import DeviceUnavailable, InvalidInput
from domain.identity import validate_matricule
from domain.insi import CardKind, VitaleBeneficiary

log = logging.getLogger("lgc.cards")

AID_VITALE = bytes.fromhex("D2504C4743564954414C45")
AID_CPS = bytes.fromhex("D2504C4743435053")

MAX_BENEFICIARIES = 16
"""More beneficiaries than this in a card header means the header is unreadable."""

PROFESSIONS = {
    "10": "Médecin",
    "21": "Pharmacien",
    "40": "Chirurgien-dentiste",
    "50": "Sage-femme",
    "60": "Infirmier",
    "69": "Infirmier en pratique avancée",
    "70": "Masseur-kinésithérapeute",
    "80": "Pédicure-podologue",
    "91": "Orthophoniste",
    "92": "Orthoptiste",
}
"""Profession codes of the CPS (nomenclature G15 of the ANS), for display."""

_KIND_WORDS = {CardKind.VITALE: "carte Vitale", CardKind.CPS: "carte CPS", CardKind.OTHER: "carte inconnue"}
_KIND_PLURALS = {CardKind.VITALE: "cartes Vitale", CardKind.CPS: "cartes CPS", CardKind.OTHER: "cartes inconnues"}
_NIR13 = re.compile(r"^[1-478][0-9]{4}(?:[0-9]{2}|2A|2B)[0-9]{6}$")
_NAME = re.compile(r"^[A-Z][A-Z' -]{0,99}$")
_LUNAR = re.compile(r"^([0-9]{4})([0-9]{2})([0-9]{2})$")

T = TypeVar("T")


class _Unreadable(Exception):
    """A record's content does not follow the layout (becomes InvalidInput with the context)."""


@dataclass(frozen=True, slots=True)
class _Slot:
    reader: str
    kind: CardKind
    atr: str


class PcscCardReader:
    """``VitaleCardReader`` and ``PractitionerCardReader`` over PC/SC.

    Args:
        max_beneficiaries: refuse a card header announcing more beneficiaries than this.
    """

    def __init__(self, *, max_beneficiaries: int = MAX_BENEFICIARIES) -> None:
        self._max_beneficiaries = max_beneficiaries

    # -- ports ---------------------------------------------------------------------------------------

    def read_beneficiaries(self, reader: str | None = None) -> list[VitaleBeneficiary]:
        """Every beneficiary on the carte Vitale (``reader`` None: the only reader holding one).

        Raises:
            DeviceUnavailable: no PC/SC service, no reader, no carte Vitale, card pulled out or reader
                unplugged during the read.
            InvalidInput: two cartes Vitale, a card that is not a carte Vitale, an unreadable record.
        """
        return self._session(CardKind.VITALE, reader, self._read_vitale)

    def read_practitioner(self, reader: str | None = None) -> PractitionerCard:
        """The holder of the CPS (``reader`` None: the only reader holding one).

        Raises:
            DeviceUnavailable: as ``read_beneficiaries``.
            InvalidInput: two CPS, a card that is not a CPS, an unreadable record.
        """
        return self._session(CardKind.CPS, reader, self._read_cps)

    def probe(self, reader: str | None = None) -> int:
        """SELECT the Vitale application once (for benchmarks); returns the number of APDUs sent."""

        def select(channel: _Channel) -> int:
            channel.select(AID_VITALE)
            return channel.apdus

        return self._session(CardKind.VITALE, reader, select)

    # -- session ----------------------------------------------------------------------------------

    def _session(self, kind: CardKind, reader: str | None, work: Callable[[_Channel], T]) -> T:
        from smartcard import scard

        word = _KIND_WORDS[kind]
        with _context() as context:
            slot = self._pick(context, kind, reader)
            hresult, card, protocol = scard.SCardConnect(
                context,
                slot.reader,
                scard.SCARD_SHARE_SHARED,
                scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
            )
            if hresult != scard.SCARD_S_SUCCESS:
                raise _device_error(hresult, word, slot.reader, during=False)
            try:
                hresult = scard.SCardBeginTransaction(card)
                if hresult != scard.SCARD_S_SUCCESS:
                    raise _device_error(hresult, word, slot.reader, during=False)
                try:
                    result = work(_Channel(card, protocol, slot.reader, word))
                finally:
                    scard.SCardEndTransaction(card, scard.SCARD_LEAVE_CARD)
            finally:
                scard.SCardDisconnect(card, scard.SCARD_LEAVE_CARD)
        log.info("Read %s in reader %s", word, slot.reader)
        return result

    def _pick(self, context: Any, kind: CardKind, wanted: str | None) -> _Slot:
        from smartcard import scard

        hresult, readers = scard.SCardListReaders(context, [])
        if hresult == scard.SCARD_E_NO_READERS_AVAILABLE or (hresult == scard.SCARD_S_SUCCESS and not readers):
            raise _logged(
                DeviceUnavailable("Aucun lecteur de cartes n'est branché : branchez le lecteur et réessayez.")
            )
        if hresult != scard.SCARD_S_SUCCESS:
            raise _device_error(hresult, _KIND_WORDS[kind], "", during=False)
        if wanted is not None:
            if wanted not in readers:
                raise _logged(DeviceUnavailable(f"Le lecteur « {wanted} » n'est plus branché."))
            readers = [wanted]
        hresult, states = scard.SCardGetStatusChange(
            context, 0, [(name, scard.SCARD_STATE_UNAWARE) for name in readers]
        )
        if hresult != scard.SCARD_S_SUCCESS:
            raise _device_error(hresult, _KIND_WORDS[kind], "", during=False)
        cards = [
            _Slot(name, classify_atr(atr), atr_hex(atr))
            for name, event, atr in states
            if event & scard.SCARD_STATE_PRESENT and not event & scard.SCARD_STATE_MUTE and atr
        ]
        matching = [slot for slot in cards if slot.kind is kind]
        word = _KIND_WORDS[kind]
        if len(matching) > 1:
            names = " et ".join(f"« {slot.reader} »" for slot in matching)
            raise _logged(
                InvalidInput(
                    f"Deux {_KIND_PLURALS[kind]} sont insérées (lecteurs {names}) : retirez-en une et recommencez."
                )
            )
        if matching:
            return matching[0]
        if cards:
            other = cards[0]
            raise _logged(
                InvalidInput(
                    f"La carte insérée dans « {other.reader} » n'est pas une {word} "
                    f"({_KIND_WORDS[other.kind]}) : insérez la {word}."
                )
            )
        where = f"dans le lecteur « {wanted} »" if wanted else "dans le lecteur"
        raise _logged(DeviceUnavailable(f"Aucune {word} n'est insérée {where} : insérez-la et réessayez."))

    # -- card contents ------------------------------------------------------------------------------

    def _read_vitale(self, channel: _Channel) -> list[VitaleBeneficiary]:
        channel.select(AID_VITALE)
        header = channel.record(1, "en-tête de la carte")
        try:
            items = _parse_tlv(header)
            count = _byte(items, 0x84, "nombre de bénéficiaires")
            holder_nir = _text(items, 0x82, "NIR de l'assuré")
            holder_key = _text(items, 0x83, "clé du NIR de l'assuré")
            _check_nir(holder_nir, holder_key)
        except _Unreadable as exc:
            raise _logged(_unreadable("en-tête de la carte", str(exc))) from None
        if not 1 <= count <= self._max_beneficiaries:
            raise _logged(_unreadable("en-tête de la carte", f"{count} bénéficiaires annoncés"))
        beneficiaries = []
        for number in range(1, count + 1):
            where = f"bénéficiaire n° {number}"
            data = channel.record(number + 1, where)
            try:
                beneficiaries.append(_beneficiary(_parse_tlv(data), holder_nir, holder_key))
            except _Unreadable as exc:
                raise _logged(_unreadable(where, str(exc))) from None
        return beneficiaries

    def _read_cps(self, channel: _Channel) -> PractitionerCard:
        channel.select(AID_CPS)
        data = channel.record(1, "porteur de la carte CPS")
        try:
            items = _parse_tlv(data)
            id_type = _text(items, 0xA1, "type d'identifiant")
            national_id = _text(items, 0xA2, "identifiant national")
            if not re.fullmatch(r"[0-9]", id_type) or not re.fullmatch(r"[0-9]{9,12}", national_id):
                raise _Unreadable("identifiant national illisible")
            code = _text(items, 0xA6, "profession")
            return PractitionerCard(
                card_type=_text(items, 0xA0, "type de carte"),
                id_type=id_type,
                national_id=national_id,
                last_name=_name(items, 0xA4, "nom d'exercice"),
                first_name=_name(items, 0xA5, "prénom d'exercice"),
                profession_code=code,
                profession_label=PROFESSIONS.get(code, f"Profession {code}"),
                civility=_text(items, 0xA3, "civilité", optional=True),
            )
        except _Unreadable as exc:
            raise _logged(
                InvalidInput(f"Carte CPS illisible ({exc}) : retirez-la, réinsérez-la et réessayez.")
            ) from None


class _Channel:
    """APDU exchange with one connected card (ISO 7816-4 61xx / 6Cxx handling)."""

    def __init__(self, card: Any, protocol: int, reader: str, word: str) -> None:
        self.card = card
        self.protocol = protocol
        self.reader = reader
        self.word = word
        self.apdus = 0

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        from smartcard import scard

        hresult, response = scard.SCardTransmit(self.card, self.protocol, list(apdu))
        self.apdus += 1
        if hresult != scard.SCARD_S_SUCCESS or len(response) < 2:
            # A card pulled out (or a reader unplugged) first shows as a failed exchange; the service says
            # which it was once it has polled the reader.
            settled = self._settle()
            if settled != scard.SCARD_S_SUCCESS:
                raise _device_error(settled, self.word, self.reader, during=True)
            if hresult != scard.SCARD_S_SUCCESS:
                raise _device_error(hresult, self.word, self.reader, during=True)
            raise _logged(InvalidInput(f"La {self.word} a répondu de façon illisible : réessayez."))
        data = bytes(response[:-2])
        return data, (response[-2] << 8) | response[-1]

    def _settle(self, timeout_s: float = 2.0) -> int:
        from smartcard import scard

        deadline = time.monotonic() + timeout_s
        while True:
            hresult = scard.SCardStatus(self.card)[0]
            if hresult != scard.SCARD_S_SUCCESS or time.monotonic() >= deadline:
                return int(hresult)
            time.sleep(0.05)

    def exchange(self, apdu: bytes) -> tuple[bytes, int]:
        data, sw = self.transmit(apdu)
        if sw >> 8 == 0x6C:
            data, sw = self.transmit(apdu[:-1] + bytes([sw & 0xFF]))
        collected = data
        rounds = 0
        while sw >> 8 == 0x61 and rounds < 64:
            more, sw = self.transmit(bytes([0x00, 0xC0, 0x00, 0x00, sw & 0xFF]))
            collected += more
            rounds += 1
        return collected, sw

    def select(self, aid: bytes) -> None:
        _, sw = self.exchange(bytes([0x00, 0xA4, 0x04, 0x00, len(aid)]) + aid + b"\x00")
        if sw != 0x9000:
            raise _logged(
                InvalidInput(
                    f"Cette carte ne contient pas l'application attendue ({self.word}, statut {sw:04X}) : "
                    "vérifiez qu'il s'agit de la bonne carte."
                )
            )

    def record(self, number: int, where: str) -> bytes:
        data, sw = self.exchange(bytes([0x00, 0xB2, number, 0x04, 0x00]))
        if sw != 0x9000:
            raise _logged(_unreadable(where, f"statut {sw:04X}", word=self.word))
        return data


@contextmanager
def _context() -> Iterator[Any]:
    from smartcard import scard

    hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hresult != scard.SCARD_S_SUCCESS:
        raise _logged(
            DeviceUnavailable(
                "Le service des cartes à puce (PC/SC) ne répond pas : vérifiez que le lecteur est branché et "
                "que le service pcscd est démarré."
            )
        )
    try:
        yield context
    finally:
        scard.SCardReleaseContext(context)


def _device_error(hresult: int, word: str, reader: str, *, during: bool) -> DeviceUnavailable:
    from smartcard import scard

    removed = {scard.SCARD_W_REMOVED_CARD, scard.SCARD_E_NO_SMARTCARD, scard.SCARD_W_RESET_CARD}
    unplugged = {
        scard.SCARD_E_READER_UNAVAILABLE,
        scard.SCARD_E_UNKNOWN_READER,
        scard.SCARD_E_NO_SERVICE,
        scard.SCARD_E_SERVICE_STOPPED,
        scard.SCARD_E_INVALID_HANDLE,
        scard.SCARD_F_COMM_ERROR,
    }
    where = f" « {reader} »" if reader else ""
    if hresult in removed:
        message = (
            f"La {word} a été retirée pendant la lecture : réinsérez-la et recommencez (rien n'a été enregistré)."
            if during
            else f"La {word} a été retirée du lecteur{where} : réinsérez-la et recommencez."
        )
    elif hresult in unplugged:
        message = (
            f"Le lecteur de cartes{where} a été débranché ou ne répond plus"
            + (" pendant la lecture (rien n'a été enregistré)" if during else "")
            + " : rebranchez-le et réessayez."
        )
    elif hresult == scard.SCARD_E_SHARING_VIOLATION:
        message = f"La {word} est utilisée par un autre logiciel : fermez-le et réessayez."
    elif hresult in (scard.SCARD_W_UNRESPONSIVE_CARD, scard.SCARD_W_UNPOWERED_CARD):
        message = f"La {word} ne répond pas : vérifiez le sens d'insertion et réessayez."
    else:
        message = f"Lecture de la {word} impossible ({scard.SCardGetErrorMessage(hresult).strip()}) : réessayez."
    return _logged(DeviceUnavailable(message), hresult=hresult)


E = TypeVar("E", bound=Exception)


def _logged(error: E, *, hresult: int | None = None) -> E:
    code = f" (PC/SC 0x{hresult:08X})" if hresult is not None else ""
    log.warning("Card read refused%s: %s", code, error)
    return error


def _unreadable(where: str, detail: str, *, word: str = "carte Vitale") -> InvalidInput:
    return InvalidInput(
        f"{word[0].upper()}{word[1:]} illisible ({where} : {detail}). Aucune donnée n'a été reprise : "
        "retirez la carte, réinsérez-la et réessayez, ou saisissez l'identité."
    )


def _parse_tlv(data: bytes) -> dict[int, bytes]:
    items: dict[int, bytes] = {}
    pos = 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise _Unreadable("donnée tronquée")
        tag, length = data[pos], data[pos + 1]
        pos += 2
        if length == 0x81:
            if pos >= len(data):
                raise _Unreadable("donnée tronquée")
            length = data[pos]
            pos += 1
        elif length > 0x7F:
            raise _Unreadable("longueur invalide")
        if pos + length > len(data):
            raise _Unreadable("donnée tronquée")
        if tag in items:
            raise _Unreadable(f"donnée {tag:02X} en double")
        items[tag] = data[pos : pos + length]
        pos += length
    return items


def _text(items: dict[int, bytes], tag: int, label: str, *, optional: bool = False) -> str:
    raw = items.get(tag)
    if raw is None or not raw:
        if optional:
            return ""
        raise _Unreadable(f"{label} absent")
    try:
        value = raw.decode("ascii")
    except UnicodeDecodeError:
        raise _Unreadable(f"{label} : caractères illisibles") from None
    if not value.isprintable():
        raise _Unreadable(f"{label} : caractères illisibles")
    return value


def _name(items: dict[int, bytes], tag: int, label: str, *, optional: bool = False) -> str:
    value = _text(items, tag, label, optional=optional)
    if value and not _NAME.match(value):
        raise _Unreadable(f"{label} : caractères non admis")
    return value


def _byte(items: dict[int, bytes], tag: int, label: str) -> int:
    raw = items.get(tag)
    if raw is None or len(raw) != 1:
        raise _Unreadable(f"{label} absent")
    return raw[0]


def _check_nir(nir: str, key: str) -> None:
    if not _NIR13.match(nir) or not re.fullmatch(r"[0-9]{2}", key):
        raise _Unreadable("NIR illisible")
    try:
        validate_matricule(nir + key)
    except ValueError:
        raise _Unreadable("clé du NIR fausse") from None


def _beneficiary(items: dict[int, bytes], holder_nir: str, holder_key: str) -> VitaleBeneficiary:
    nir = _text(items, 0x90, "NIR")
    key = _text(items, 0x91, "clé du NIR")
    _check_nir(nir, key)
    lunar = _LUNAR.match(_text(items, 0x95, "date de naissance"))
    if lunar is None:
        raise _Unreadable("date de naissance illisible")
    year, month, day = (int(part) for part in lunar.groups())
    if not (1850 <= year <= 2200 and 0 <= month <= 12 and 0 <= day <= 31):
        raise _Unreadable("date de naissance invraisemblable")
    rank = _byte(items, 0x96, "rang de naissance")
    if not 1 <= rank <= 9:
        raise _Unreadable(f"rang de naissance {rank} invalide")
    return VitaleBeneficiary(
        nir=nir,
        nir_key=key,
        birth_name=_name(items, 0x92, "nom de naissance"),
        given_name=_name(items, 0x94, "prénom"),
        birth_date=f"{year:04d}-{month:02d}-{day:02d}",
        birth_rank=rank,
        used_name=_name(items, 0x93, "nom d'usage", optional=True),
        # The holder's own record carries no "ouvrant droit" (MatriculeOD is only sent for an ayant droit).
        holder_nir="" if (nir, key) == (holder_nir, holder_key) else holder_nir,
        holder_nir_key="" if (nir, key) == (holder_nir, holder_key) else holder_key,
    )
