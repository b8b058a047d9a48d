"""Benchmark of the card reader through pcscd + vpcd: APDU round trip and a full carte Vitale read; prints JSON.

Baseline in the same run: the same APDU answered by the virtual card's interpreter in-process (no PC/SC, no
socket), so ``apdu_overhead_ms`` is what pcscd, vpcd and the socket add to one exchange.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit, median, percentile

APDU_ROUNDS = 1000
READ_ROUNDS = 100


def main() -> None:
    """Run the benchmark and print its JSON summary on stdout."""
    from smartcard import scard

    from adapters.pcsc.reader import AID_VITALE, PcscCardReader
    from sandbox.pcscd import PcscDaemon, pcsc_lock, wait_for_card
    from sandbox.vitale_card import CardApplet, VirtualCardDeck, card_image

    select = [0x00, 0xA4, 0x04, 0x00, len(AID_VITALE), *AID_VITALE, 0x00]
    applet = CardApplet(card_image("vitale:famille"))
    baseline: list[float] = []
    for _ in range(APDU_ROUNDS):
        started = time.perf_counter()
        applet.process(bytes(select))
        baseline.append((time.perf_counter() - started) * 1000)

    with pcsc_lock(timeout_s=300):
        daemon = PcscDaemon()
        readers = daemon.ensure()
        started_here = daemon.owned
        deck = VirtualCardDeck()
        try:
            deck.insert("vitale:famille", 0)
            if not wait_for_card(readers[0], True):
                raise SystemExit("pcscd ne voit pas la carte virtuelle")
            hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
            hresult, card, protocol = scard.SCardConnect(
                context, readers[0], scard.SCARD_SHARE_SHARED, scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1
            )
            if hresult != scard.SCARD_S_SUCCESS:
                raise SystemExit(f"connexion à la carte impossible : {scard.SCardGetErrorMessage(hresult)}")
            round_trips: list[float] = []
            for _ in range(APDU_ROUNDS):
                started = time.perf_counter()
                hresult, response = scard.SCardTransmit(card, protocol, select)
                round_trips.append((time.perf_counter() - started) * 1000)
                if hresult != scard.SCARD_S_SUCCESS or response[-2:] != [0x90, 0x00]:
                    raise SystemExit("réponse inattendue de la carte virtuelle")
            scard.SCardDisconnect(card, scard.SCARD_LEAVE_CARD)
            scard.SCardReleaseContext(context)

            reader = PcscCardReader()
            reads: list[float] = []
            count = 0
            for _ in range(READ_ROUNDS):
                started = time.perf_counter()
                count = len(reader.read_beneficiaries())
                reads.append((time.perf_counter() - started) * 1000)
        finally:
            deck.close()
            daemon.stop()

    emit(
        {
            "bench": "card",
            "pcscd_started_here": started_here,
            "apdu_rounds": APDU_ROUNDS,
            "apdu_round_trip_ms_median": round(median(round_trips), 4),
            "apdu_round_trip_ms_p95": round(percentile(round_trips, 95), 4),
            "apdu_baseline_in_process_ms_median": round(median(baseline), 4),
            "apdu_overhead_ms": round(median(round_trips) - median(baseline), 4),
            "vitale_read_rounds": READ_ROUNDS,
            "vitale_beneficiaries": count,
            "vitale_read_apdus": 2 + count,
            "vitale_read_ms_median": round(median(reads), 3),
            "vitale_read_ms_p95": round(percentile(reads, 95), 3),
            "vitale_read_ms_max": round(max(reads), 3),
        }
    )


if __name__ == "__main__":
    main()
