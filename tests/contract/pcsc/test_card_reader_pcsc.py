"""The PC/SC card adapters against the virtual cards, through a real pcscd + vpcd stack (pyscard → pcscd → card)."""

from __future__ import annotations

import logging
import queue
import time

import pytest

from adapters.pcsc.monitor import PcscCardMonitor
from adapters.pcsc.reader import PcscCardReader
from domain.cards import CARD_INSERTED, CARD_REMOVED, READER_ADDED, READER_REMOVED, ReaderState
from domain.errors import DeviceUnavailable, InvalidInput
from domain.insi import CardEvent, CardKind, VitaleBeneficiary
from sandbox.test_identities import CPS_CARDS, VITALE_CARDS, nir_key
from sandbox.vitale_card import AID_VITALE, ATR_VITALE, CardImage, card_image, tlv, vitale_records
from tests.contract.pcsc.conftest import PcscStack


def next_event(events: queue.Queue[CardEvent], kind: str, timeout_s: float = 10.0) -> CardEvent:
    """The next event of ``kind`` (others are skipped), or fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no {kind} event within {timeout_s} s")
        try:
            event = events.get(timeout=remaining)
        except queue.Empty:
            continue
        if event.kind == kind:
            return event


@pytest.fixture
def reader() -> PcscCardReader:
    return PcscCardReader()


@pytest.mark.parametrize("card", sorted(VITALE_CARDS))
def test_every_test_card_reads_back_its_beneficiaries(pcsc: PcscStack, reader: PcscCardReader, card: str) -> None:
    pcsc.insert(f"vitale:{card}")
    assert reader.read_beneficiaries() == list(VITALE_CARDS[card])


def test_family_card_has_five_beneficiaries_with_birth_ranks(pcsc: PcscStack, reader: PcscCardReader) -> None:
    pcsc.insert("vitale:famille", slot=1)
    people = reader.read_beneficiaries(pcsc.readers[1])
    assert len(people) == 5
    twins = [(p.given_name, p.birth_rank) for p in people if p.birth_date == "2018-06-02"]
    assert twins == [("LOUIS", 1), ("LEA", 2)]
    holder = people[0]
    assert holder.holder_nir == ""
    assert all(p.holder_nir == holder.nir and p.holder_nir_key == holder.nir_key for p in people[1:])


def test_lunar_birth_date_is_kept_as_written(pcsc: PcscStack, reader: PcscCardReader) -> None:
    pcsc.insert("vitale:lunaire")
    [person] = reader.read_beneficiaries()
    assert person.birth_date == "1950-00-00"


def test_cps_holder(pcsc: PcscStack, reader: PcscCardReader) -> None:
    pcsc.insert("cps:sage-femme", slot=1)
    card = reader.read_practitioner()
    assert card == CPS_CARDS["sage-femme"]
    assert card.rpps == "10101010103"
    assert card.display_name == "LEA MOREAU"


def test_a_record_longer_than_one_response_is_read_with_get_response(pcsc: PcscStack, reader: PcscCardReader) -> None:
    long_one = VitaleBeneficiary(
        nir="2790351215189",
        nir_key=nir_key("2790351215189"),
        birth_name="A" * 100,
        given_name="B" * 100,
        birth_date="1979-03-28",
        birth_rank=1,
        used_name="C" * 100,
    )
    records = vitale_records([long_one])
    assert len(records[1]) > 256
    pcsc.insert(CardImage("vitale:long", ATR_VITALE, {AID_VITALE: records}))
    assert reader.read_beneficiaries() == [long_one]


# -- bad input: every case gives a French message, returns nothing, and is logged ---------------------


def _refused(caplog: pytest.LogCaptureFixture, error: type[Exception], match: str, call: object) -> None:
    assert callable(call)
    with caplog.at_level(logging.WARNING, logger="lgc.cards"), pytest.raises(error, match=match):
        call()
    assert any(record.levelno == logging.WARNING and record.name == "lgc.cards" for record in caplog.records)


def test_no_card(pcsc: PcscStack, reader: PcscCardReader, caplog: pytest.LogCaptureFixture) -> None:
    _refused(caplog, DeviceUnavailable, "Aucune carte Vitale n'est insérée", reader.read_beneficiaries)


def test_card_pulled_out_mid_read(pcsc: PcscStack, reader: PcscCardReader, caplog: pytest.LogCaptureFixture) -> None:
    # SELECT, header, beneficiary 1, then the card is gone before beneficiary 2.
    pcsc.insert(card_image("vitale:famille,retrait=3"))
    _refused(caplog, DeviceUnavailable, "retirée pendant la lecture", reader.read_beneficiaries)
    assert not pcsc.deck.contents()


def test_unreadable_record(pcsc: PcscStack, reader: PcscCardReader, caplog: pytest.LogCaptureFixture) -> None:
    pcsc.insert(card_image("vitale:famille,illisible=3"))
    _refused(caplog, InvalidInput, r"Carte Vitale illisible \(bénéficiaire n° 2", reader.read_beneficiaries)


def test_header_announcing_too_many_beneficiaries(
    pcsc: PcscStack, reader: PcscCardReader, caplog: pytest.LogCaptureFixture
) -> None:
    records = vitale_records(list(VITALE_CARDS["adrun"]))
    records[0] = records[0].replace(tlv(0x84, b"\x01"), tlv(0x84, bytes([40])))
    pcsc.insert(CardImage("vitale:trop", ATR_VITALE, {AID_VITALE: records}))
    _refused(caplog, InvalidInput, "40 bénéficiaires annoncés", reader.read_beneficiaries)


def test_wrong_nir_key_on_the_card(pcsc: PcscStack, reader: PcscCardReader, caplog: pytest.LogCaptureFixture) -> None:
    [person] = VITALE_CARDS["adrun"]
    bad = VitaleBeneficiary(**{**_fields(person), "nir_key": "00"})
    records = vitale_records([person])
    records.append(vitale_records([bad])[1])
    records[0] = records[0].replace(tlv(0x84, b"\x01"), tlv(0x84, b"\x02"))
    pcsc.insert(CardImage("vitale:cle", ATR_VITALE, {AID_VITALE: records}))
    _refused(caplog, InvalidInput, "bénéficiaire n° 2 : clé du NIR fausse", reader.read_beneficiaries)


def _fields(person: VitaleBeneficiary) -> dict[str, object]:
    return {name: getattr(person, name) for name in VitaleBeneficiary.__slots__}


def test_two_vitale_cards(pcsc: PcscStack, reader: PcscCardReader, caplog: pytest.LogCaptureFixture) -> None:
    pcsc.insert("vitale:adrun", 0)
    pcsc.insert("vitale:corse", 1)
    _refused(caplog, InvalidInput, "Deux cartes Vitale sont insérées", reader.read_beneficiaries)
    # Naming the reader reads that card.
    assert reader.read_beneficiaries(pcsc.readers[1]) == list(VITALE_CARDS["corse"])


def test_vitale_and_cps_together_each_read_from_its_reader(pcsc: PcscStack, reader: PcscCardReader) -> None:
    pcsc.insert("cps:infirmiere", 0)
    pcsc.insert("vitale:etranger", 1)
    assert reader.read_beneficiaries() == list(VITALE_CARDS["etranger"])
    assert reader.read_practitioner() == CPS_CARDS["infirmiere"]


def test_a_card_that_is_not_a_vitale(pcsc: PcscStack, reader: PcscCardReader, caplog: pytest.LogCaptureFixture) -> None:
    pcsc.insert("autre:banque")
    _refused(caplog, InvalidInput, r"n'est pas une carte Vitale \(carte inconnue\)", reader.read_beneficiaries)
    pcsc.remove()
    pcsc.insert("cps:infirmiere")
    _refused(caplog, InvalidInput, r"n'est pas une carte Vitale \(carte CPS\)", reader.read_beneficiaries)


def test_a_vitale_atr_without_the_application(
    pcsc: PcscStack, reader: PcscCardReader, caplog: pytest.LogCaptureFixture
) -> None:
    pcsc.insert(CardImage("vitale:vide", ATR_VITALE, {}))
    _refused(caplog, InvalidInput, "ne contient pas l'application attendue", reader.read_beneficiaries)


def test_reader_unplugged(pcsc: PcscStack, reader: PcscCardReader, caplog: pytest.LogCaptureFixture) -> None:
    pcsc.insert("vitale:adrun")
    named = pcsc.readers[0]
    pcsc.unplug()
    _refused(caplog, DeviceUnavailable, "ne répond pas", reader.read_beneficiaries)
    pcsc.replug()
    _refused(caplog, DeviceUnavailable, "Aucune carte Vitale n'est insérée", lambda: reader.read_beneficiaries(named))
    _refused(caplog, DeviceUnavailable, "n'est plus branché", lambda: reader.read_beneficiaries("Lecteur débranché 00"))


# -- the monitor ---------------------------------------------------------------------------------------


def test_monitor_reports_readers_cards_and_kinds(pcsc: PcscStack) -> None:
    events: queue.Queue[CardEvent] = queue.Queue()
    monitor = PcscCardMonitor(wait_s=0.2)
    monitor.start(events.put)
    try:
        added = {next_event(events, READER_ADDED).reader for _ in pcsc.readers}
        assert added == set(pcsc.readers)
        kinds = []
        for spec, kind in (
            ("vitale:adrun", CardKind.VITALE),
            ("cps:sage-femme", CardKind.CPS),
            ("autre:banque", CardKind.OTHER),
        ):
            pcsc.insert(spec, 1)
            inserted = next_event(events, CARD_INSERTED)
            assert (inserted.reader, inserted.card) == (pcsc.readers[1], kind)
            assert ReaderState(pcsc.readers[1], kind, inserted.atr) in monitor.states()
            pcsc.remove(1)
            removed = next_event(events, CARD_REMOVED)
            assert (removed.reader, removed.card) == (pcsc.readers[1], kind)
            kinds.append(inserted.card)
        assert kinds == [CardKind.VITALE, CardKind.CPS, CardKind.OTHER]
    finally:
        monitor.stop()


def test_monitor_sees_a_card_already_present_and_the_reader_unplugged(pcsc: PcscStack) -> None:
    pcsc.insert("vitale:famille", 0)
    events: queue.Queue[CardEvent] = queue.Queue()
    monitor = PcscCardMonitor(wait_s=0.2, retry_s=0.2)
    monitor.start(events.put)
    try:
        inserted = next_event(events, CARD_INSERTED)
        assert (inserted.reader, inserted.card) == (pcsc.readers[0], CardKind.VITALE)
        pcsc.unplug()
        assert next_event(events, CARD_REMOVED).reader == pcsc.readers[0]
        gone = {next_event(events, READER_REMOVED).reader for _ in pcsc.readers}
        assert gone == set(pcsc.readers)
        assert monitor.states() == []
        pcsc.replug()
        back = {next_event(events, READER_ADDED).reader for _ in pcsc.readers}
        assert back == set(pcsc.readers)
    finally:
        monitor.stop()
    # Stopped: no more events.
    while not events.empty():
        events.get()
    pcsc.insert("vitale:adrun", 0)
    time.sleep(0.5)
    assert events.empty()


def test_a_failing_callback_does_not_stop_the_monitor(pcsc: PcscStack, caplog: pytest.LogCaptureFixture) -> None:
    events: queue.Queue[CardEvent] = queue.Queue()

    def callback(event: CardEvent) -> None:
        events.put(event)
        raise RuntimeError("handler bug")

    monitor = PcscCardMonitor(wait_s=0.2)
    with caplog.at_level(logging.ERROR, logger="lgc.cards"):
        monitor.start(callback)
        try:
            next_event(events, READER_ADDED)
            pcsc.insert("vitale:adrun", 0)
            assert next_event(events, CARD_INSERTED).card is CardKind.VITALE
        finally:
            monitor.stop()
    assert "Card event callback failed" in caplog.text
