"""Virtual card APDU interpreter, ATR classification, SESAM-Vitale seam, card service (no pcscd needed)."""

from __future__ import annotations

import ctypes
from pathlib import Path

import pytest

from adapters.pcsc.atr import classify_atr
from adapters.sesam_vitale import REQUIRED_ENTRIES, SesamVitaleCardReader
from app.services.cards import CardService
from domain.cards import CARD_INSERTED, PractitionerCard, ReaderState
from domain.errors import DeviceUnavailable, InvalidInput
from domain.insi import CardEvent, CardKind, VitaleBeneficiary
from sandbox.test_identities import CPS_CARDS, VITALE_CARDS
from sandbox.vitale_card import (
    AID_CPS,
    AID_VITALE,
    ATR_CPS,
    ATR_OTHER,
    ATR_VITALE,
    CardApplet,
    VirtualCardDeck,
    card_catalogue,
    card_image,
)

SELECT_VITALE = bytes([0x00, 0xA4, 0x04, 0x00, len(AID_VITALE)]) + AID_VITALE + b"\x00"


def read_record(number: int) -> bytes:
    return bytes([0x00, 0xB2, number, 0x04, 0x00])


def test_atr_classification() -> None:
    assert classify_atr(ATR_VITALE) is CardKind.VITALE
    assert classify_atr(bytes.fromhex("3B751300004309EA9000")) is CardKind.VITALE
    assert classify_atr(ATR_CPS) is CardKind.CPS
    assert classify_atr(ATR_OTHER) is CardKind.OTHER
    assert classify_atr(b"") is CardKind.OTHER


def test_applet_select_and_records() -> None:
    applet = CardApplet(card_image("vitale:famille"))
    assert applet.process(read_record(1)) == b"\x69\x85"  # nothing selected
    assert applet.process(SELECT_VITALE) == b"\x90\x00"
    header = applet.process(read_record(1))
    assert header.endswith(b"\x90\x00") and b"\x84\x01\x05" in header
    assert applet.process(read_record(7)) == b"\x6a\x83"  # header + 5 beneficiaries
    assert applet.process(read_record(6))[-2:] == b"\x90\x00"


@pytest.mark.parametrize(
    ("apdu", "status"),
    [
        (b"\x80\xb2\x01\x04\x00", b"\x6e\x00"),
        (b"\x00\x20\x00\x00", b"\x6d\x00"),
        (b"\x00\xa4", b"\x67\x00"),
        (bytes([0x00, 0xA4, 0x04, 0x00, len(AID_CPS)]) + AID_CPS + b"\x00", b"\x6a\x82"),
    ],
)
def test_applet_refusals(apdu: bytes, status: bytes) -> None:
    assert CardApplet(card_image("vitale:adrun")).process(apdu) == status


def test_catalogue_covers_the_registry_cards() -> None:
    names = set(card_catalogue())
    assert {f"vitale:{name}" for name in VITALE_CARDS} <= names
    assert {f"cps:{name}" for name in CPS_CARDS} <= names
    assert "autre:banque" in names
    assert card_image("vitale:famille,retrait=3,illisible=2").pull_after == 3
    with pytest.raises(ValueError, match="Carte de test inconnue"):
        card_image("vitale:personne")
    with pytest.raises(ValueError, match="Option de carte inconnue"):
        card_image("vitale:adrun,casse=1")


def test_deck_control_requests_without_a_reader() -> None:
    deck = VirtualCardDeck(ports=(1,))  # nothing listens on port 1: insertion fails cleanly
    listing = deck.handle({"action": "list"})
    assert listing["ok"] and "vitale:famille" in listing["cards"]
    unknown = deck.handle({"action": "insert", "card": "vitale:inconnue"})
    assert not unknown["ok"] and "Carte de test inconnue" in unknown["error"]
    assert "Lecteur virtuel inconnu" in deck.handle({"action": "insert", "card": "vitale:adrun", "slot": 5})["error"]
    assert "Action inconnue" in deck.handle({"action": "formater"})["error"]
    assert deck.handle({"action": "remove", "slot": 0}) == {"ok": True, "slot": 0, "removed": False}


def test_sesam_vitale_seam_reports_what_is_missing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(DeviceUnavailable, match="n'est pas configurée"):
        SesamVitaleCardReader("").read_beneficiaries()
    with pytest.raises(DeviceUnavailable, match="introuvable"):
        SesamVitaleCardReader(tmp_path / "libssvlux64.so").read_beneficiaries()
    fake = tmp_path / "libfaux.so"
    fake.write_bytes(b"not a library")
    with pytest.raises(DeviceUnavailable, match="ne se charge pas"):
        SesamVitaleCardReader(fake).read_practitioner()
    libc = SesamVitaleCardReader(fake, loader=lambda _path: ctypes.CDLL(None))
    with pytest.raises(DeviceUnavailable, match="fonctions absentes : " + ", ".join(REQUIRED_ENTRIES)):
        libc.read_beneficiaries()

    class Library:
        SSV_InitLIB2 = SSV_LireCartePS = SSV_LireDroitsVitale = object()

    seam = SesamVitaleCardReader(fake, loader=lambda _path: Library())
    with pytest.raises(DeviceUnavailable, match="agrément SESAM-Vitale"):
        seam.read_beneficiaries()
    assert "SESAM-Vitale reader unavailable" in caplog.text


class _Monitor:
    def __init__(self) -> None:
        self.callback: object = None
        self.stopped = 0

    def start(self, callback: object) -> None:
        self.callback = callback

    def stop(self) -> None:
        self.stopped += 1

    def states(self) -> list[ReaderState]:
        return [ReaderState("Lecteur", CardKind.VITALE, "3B")]


class _Reader:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error

    def read_beneficiaries(self, reader: str | None = None) -> list[VitaleBeneficiary]:
        if self.error:
            raise self.error
        return list(VITALE_CARDS["famille"])

    def read_practitioner(self, reader: str | None = None) -> PractitionerCard:
        if self.error:
            raise self.error
        return CPS_CARDS["sage-femme"]


def test_card_service_delivers_events_through_post_and_logs_failures(caplog: pytest.LogCaptureFixture) -> None:
    monitor = _Monitor()
    posted: list[object] = []
    seen: list[CardEvent] = []
    service = CardService(monitor, _Reader(), _Reader())

    def post(fn: object) -> None:
        posted.append(fn)
        assert callable(fn)
        fn()

    service.start_monitor(seen.append, post)
    assert callable(monitor.callback)
    event = CardEvent(CARD_INSERTED, "Lecteur", CardKind.VITALE, "3B")
    monitor.callback(event)
    assert seen == [event] and len(posted) == 1
    assert service.reader_states()[0].card is CardKind.VITALE
    assert len(service.read_vitale()) == 5
    assert service.read_practitioner().profession_label == "Sage-femme"
    service.stop_monitor()
    service.stop_monitor()
    assert monitor.stopped == 1

    failing = CardService(monitor, _Reader(InvalidInput("Carte Vitale illisible")), _Reader(DeviceUnavailable("x")))
    with pytest.raises(InvalidInput):
        failing.read_vitale()
    with pytest.raises(DeviceUnavailable):
        failing.read_practitioner()
    assert "Carte Vitale not read: Carte Vitale illisible" in caplog.text
