"""Virtual smart cards (carte Vitale, CPS) plugged into vsmartcard's vpcd reader, so pcscd sees a real card.

The vpcd driver of pcscd listens on 127.0.0.1 (port 35963 for reader "Virtual PCD 00 00", 35964 for
"Virtual PCD 00 01"); a card connects to it. Frames both ways are a 2-byte big-endian length and a payload.
A 1-byte payload from vpcd is a control message (0 power off, 1 power on, 2 reset, 4 get ATR: answer with the
ATR); anything longer is a command APDU, answered with data + SW1 SW2. The socket has TCP_NODELAY, and
TCP_QUICKACK before every receive (without them every APDU costs ~44 ms instead of ~0.2 ms).

APDU layout of the LGC test cards (documented in docs/lecteur-cartes.md; the real Vitale and CPS file
systems are only reachable through the GIE SESAM-Vitale and ANS libraries):

* ``00 A4 04 00 Lc AID 00`` SELECT an application by name → ``90 00``; unknown AID → ``6A 82``.
* ``00 B2 nn 04 00`` READ RECORD nn of the selected application → BER-TLV data + ``90 00``; a record longer
  than 256 bytes answers its first 256 bytes with ``61 xx`` and the rest comes with GET RESPONSE
  (``00 C0 00 00 xx``); no such record → ``6A 83``; nothing selected → ``69 85``.
* Vitale application (AID ``D2 50 4C 47 43 56 49 54 41 4C 45``): record 1 is the card header (tags 80 layout
  version, 81 card serial number, 82 holder NIR (13), 83 holder NIR key, 84 number of beneficiaries, one
  byte); records 2…n+1 are the beneficiaries (90 NIR (13), 91 key, 92 nom de naissance, 93 nom d'usage,
  94 prénom, 95 date de naissance AAAAMMJJ with 00 for an unknown day or month, 96 rang de naissance, one
  byte). Text is ASCII (upper-case, as printed by the caisses).
* CPS application (AID ``D2 50 4C 47 43 43 50 53``): record 1 is the holder (A0 card type, A1 identifier
  type, A2 national identifier, A3 civility, A4 nom d'exercice, A5 prénom d'exercice, A6 profession code).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import socketserver
import struct
import threading
import time
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from domain.cards import PractitionerCard
from domain.insi import VitaleBeneficiary

_log = logging.getLogger("lgc.sandbox.cards")

VPCD_HOST = "127.0.0.1"
VPCD_PORTS = (35963, 35964)
"""vpcd's default ports (``/etc/reader.conf.d/vpcd``): slot 0 and slot 1."""

AID_VITALE = bytes.fromhex("D2504C4743564954414C45")
AID_CPS = bytes.fromhex("D2504C4743435053")

ATR_VITALE = bytes.fromhex("3B751300004509EA9000")
"""Carte Vitale 2 ATR as listed in pcsc-tools' smartcard_list."""


def _with_tck(atr_without_tck: bytes) -> bytes:
    check = 0
    for byte in atr_without_tck[1:]:
        check ^= byte
    return atr_without_tck + bytes([check])


ATR_CPS = _with_tck(bytes.fromhex("3B8F8001803180 65B08503 00EF120FFF829000".replace(" ", "")))
"""A CPS3-like ATR (IAS-ECC historical bytes), T=0 and T=1, with its check byte."""

ATR_OTHER = bytes.fromhex("3B6E000000 31C071D6 65A303018000 839000".replace(" ", ""))
"""A bank card's ATR: neither Vitale nor CPS."""

SW_OK = b"\x90\x00"
SW_NOT_FOUND = b"\x6a\x82"
SW_RECORD_NOT_FOUND = b"\x6a\x83"
SW_NOT_SELECTED = b"\x69\x85"
SW_INS_UNKNOWN = b"\x6d\x00"
SW_CLA_UNKNOWN = b"\x6e\x00"
SW_WRONG_LENGTH = b"\x67\x00"

_MAX_FRAME = 65535


def tlv(tag: int, value: bytes) -> bytes:
    """One BER-TLV item with a one-byte tag (short or 0x81 length form)."""
    if len(value) < 0x80:
        return bytes([tag, len(value)]) + value
    if len(value) <= 0xFF:
        return bytes([tag, 0x81, len(value)]) + value
    raise ValueError("TLV value longer than 255 bytes")


def _ascii(text: str) -> bytes:
    return text.encode("ascii")


def vitale_records(
    beneficiaries: Sequence[VitaleBeneficiary], *, serial: str = "LGC0000001", holder: VitaleBeneficiary | None = None
) -> list[bytes]:
    """The records of a carte Vitale application (record 1 = header, then one per beneficiary)."""
    owner = holder or beneficiaries[0]
    header = b"".join(
        (
            tlv(0x80, b"\x01"),
            tlv(0x81, _ascii(serial)),
            tlv(0x82, _ascii(owner.nir)),
            tlv(0x83, _ascii(owner.nir_key)),
            tlv(0x84, bytes([len(beneficiaries)])),
        )
    )
    records = [header]
    for person in beneficiaries:
        items = [
            tlv(0x90, _ascii(person.nir)),
            tlv(0x91, _ascii(person.nir_key)),
            tlv(0x92, _ascii(person.birth_name)),
        ]
        if person.used_name:
            items.append(tlv(0x93, _ascii(person.used_name)))
        items += [
            tlv(0x94, _ascii(person.given_name)),
            tlv(0x95, _ascii(person.birth_date.replace("-", ""))),
            tlv(0x96, bytes([person.birth_rank])),
        ]
        records.append(b"".join(items))
    return records


def cps_records(holder: PractitionerCard) -> list[bytes]:
    """The single record of a CPS application."""
    return [
        b"".join(
            (
                tlv(0xA0, _ascii(holder.card_type)),
                tlv(0xA1, _ascii(holder.id_type)),
                tlv(0xA2, _ascii(holder.national_id)),
                tlv(0xA3, _ascii(holder.civility)),
                tlv(0xA4, _ascii(holder.last_name)),
                tlv(0xA5, _ascii(holder.first_name)),
                tlv(0xA6, _ascii(holder.profession_code)),
            )
        )
    ]


@dataclass
class CardImage:
    """What a virtual card holds: its ATR and its applications (AID → records).

    Faults, for the bad-input tests: ``pull_after`` closes the connection (the card is pulled out) when that
    many APDUs have been answered since insertion; ``corrupt_record`` answers that record (1-based) of every
    application with a truncated TLV.
    """

    name: str
    atr: bytes
    applications: dict[bytes, list[bytes]] = field(default_factory=dict)
    label: str = ""
    pull_after: int | None = None
    corrupt_record: int | None = None


class CardApplet:
    """The APDU interpreter of a card image (no I/O: unit-testable)."""

    def __init__(self, image: CardImage) -> None:
        self.image = image
        self._selected: list[bytes] | None = None
        self._pending = b""

    def reset(self) -> None:
        """Power cycle: nothing selected."""
        self._selected = None
        self._pending = b""

    def process(self, apdu: bytes) -> bytes:
        """Answer one command APDU with data + SW1 SW2."""
        if len(apdu) < 4:
            return SW_WRONG_LENGTH
        cla, ins, p1, p2 = apdu[0], apdu[1], apdu[2], apdu[3]
        if cla != 0x00:
            return SW_CLA_UNKNOWN
        if ins == 0xA4:
            return self._select(apdu, p1, p2)
        if ins == 0xB2:
            return self._read_record(p1, p2)
        if ins == 0xC0:
            return self._get_response(apdu)
        return SW_INS_UNKNOWN

    def _select(self, apdu: bytes, p1: int, p2: int) -> bytes:
        if p1 != 0x04 or len(apdu) < 5:
            return SW_NOT_FOUND
        length = apdu[4]
        aid = apdu[5 : 5 + length]
        if len(aid) != length:
            return SW_WRONG_LENGTH
        records = self.image.applications.get(aid)
        if records is None:
            self._selected = None
            return SW_NOT_FOUND
        self._selected = records
        self._pending = b""
        return SW_OK

    def _read_record(self, number: int, p2: int) -> bytes:
        if self._selected is None:
            return SW_NOT_SELECTED
        if p2 != 0x04 or not 1 <= number <= len(self._selected):
            return SW_RECORD_NOT_FOUND
        data = self._selected[number - 1]
        if self.image.corrupt_record == number:
            data = data[:-3] + b"\x95\x40"  # a TLV whose length runs past the end of the record
        return self._chunk(data)

    def _get_response(self, apdu: bytes) -> bytes:
        if not self._pending:
            return SW_NOT_SELECTED
        return self._chunk(self._pending)

    def _chunk(self, data: bytes) -> bytes:
        head, self._pending = data[:256], data[256:]
        if self._pending:
            remaining = len(self._pending)
            return head + bytes([0x61, 0 if remaining >= 256 else remaining])
        return head + SW_OK


class VirtualCard:
    """A card inserted in a vpcd slot: a thread connected to vpcd that answers its frames.

    Pulling the card out (``remove``, or the ``pull_after`` fault) closes the socket; pcscd then reports the
    card removed.
    """

    def __init__(self, image: CardImage, port: int, *, host: str = VPCD_HOST) -> None:
        self.image = image
        self.port = port
        self.host = host
        self.applet = CardApplet(image)
        self.apdu_count = 0
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()
        self._lock = threading.Lock()

    def insert(self, timeout_s: float = 10.0) -> None:
        """Connect to vpcd (waiting for pcscd to listen, up to ``timeout_s``) and start answering.

        Raises:
            OSError: vpcd is not listening (pcscd not running with the vpcd driver).
        """
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                sock = socket.create_connection((self.host, self.port), timeout=1.0)
                break
            except OSError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.1)
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, name=f"carte-virtuelle-{self.port}", daemon=True)
        self._thread.start()

    @property
    def inserted(self) -> bool:
        """True while the card is connected to its reader."""
        return self._sock is not None and not self._closed.is_set()

    def remove(self) -> None:
        """Pull the card out of the reader."""
        with self._lock:
            sock, self._sock = self._sock, None
        self._closed.set()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)

    def _recv_exact(self, sock: socket.socket, count: int) -> bytes:
        data = b""
        while len(data) < count:
            if hasattr(socket, "TCP_QUICKACK"):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            chunk = sock.recv(count - len(data))
            if not chunk:
                raise ConnectionError("vpcd closed the connection")
            data += chunk
        return data

    def _serve(self) -> None:
        sock = self._sock
        if sock is None:
            return
        try:
            while not self._closed.is_set():
                (length,) = struct.unpack(">H", self._recv_exact(sock, 2))
                payload = self._recv_exact(sock, length)
                if length == 1:
                    answer = self._control(payload[0])
                    if answer is not None:
                        sock.sendall(struct.pack(">H", len(answer)) + answer)
                    continue
                answer = self.applet.process(payload)
                sock.sendall(struct.pack(">H", len(answer)) + answer)
                self.apdu_count += 1
                if self.image.pull_after is not None and self.apdu_count >= self.image.pull_after:
                    _log.info("Virtual card %s pulled out after %d APDUs", self.image.name, self.apdu_count)
                    threading.Thread(target=self.remove, daemon=True).start()
                    return
        except (OSError, ConnectionError, struct.error):
            pass
        finally:
            self._closed.set()

    def _control(self, code: int) -> bytes | None:
        if code in (0, 1, 2):  # power off, power on, reset
            self.applet.reset()
            return None
        if code == 4:  # get ATR
            return self.image.atr
        return None


# -- the catalogue of test cards ---------------------------------------------------------------------


def _catalogue_from_registry() -> dict[str, CardImage]:
    from sandbox import test_identities

    cards: dict[str, CardImage] = {}
    for name, beneficiaries in test_identities.VITALE_CARDS.items():
        people = list(beneficiaries)
        serial = f"LGC{zlib.crc32(name.encode()) % 10**7:07d}"
        cards[f"vitale:{name}"] = CardImage(
            name=f"vitale:{name}",
            atr=ATR_VITALE,
            applications={AID_VITALE: vitale_records(people, serial=serial)},
            label=f"Carte Vitale ({len(people)} bénéficiaire{'s' if len(people) > 1 else ''} : "
            + ", ".join(f"{p.birth_name} {p.given_name}" for p in people)
            + ")",
        )
    for name, holder in test_identities.CPS_CARDS.items():
        cards[f"cps:{name}"] = CardImage(
            name=f"cps:{name}",
            atr=ATR_CPS,
            applications={AID_CPS: cps_records(holder)},
            label=f"CPS de {holder.display_name} ({holder.profession_label})",
        )
    cards["autre:banque"] = CardImage(name="autre:banque", atr=ATR_OTHER, label="Carte bancaire (ni Vitale ni CPS)")
    return cards


def card_catalogue() -> dict[str, CardImage]:
    """Every named test card (``vitale:famille``, ``cps:sage-femme``, ``autre:banque``…), fresh copies."""
    return _catalogue_from_registry()


def card_image(spec: str) -> CardImage:
    """The card named ``spec``, with optional faults: ``vitale:famille,retrait=3`` or ``…,illisible=2``.

    Raises:
        ValueError: unknown card or fault (French message listing the known cards).
    """
    name, _, options = spec.partition(",")
    catalogue = card_catalogue()
    if name not in catalogue:
        raise ValueError(f"Carte de test inconnue : « {name} » (connues : {', '.join(sorted(catalogue))}).")
    image = catalogue[name]
    for option in filter(None, options.split(",")):
        key, _, value = option.partition("=")
        if key == "retrait" and value.isdigit():
            image = replace(image, pull_after=int(value))
        elif key == "illisible" and value.isdigit():
            image = replace(image, corrupt_record=int(value))
        else:
            raise ValueError(f"Option de carte inconnue : « {option} » (retrait=N ou illisible=N).")
    return image


# -- a deck of two slots, driven in-process or through a loopback control socket -----------------------

CONTROL_FILE = "sandbox-cartes.json"
"""Written in the data directory while a deck runs: the control port for ``lgc carte …``."""


class VirtualCardDeck:
    """The two vpcd slots and the cards in them; optional JSON-lines control server on 127.0.0.1.

    Control requests (one JSON object per line): ``{"action": "insert", "card": "vitale:famille", "slot": 0}``,
    ``{"action": "remove", "slot": 0}``, ``{"action": "list"}``; answer ``{"ok": true, ...}`` or
    ``{"ok": false, "error": "<French message>"}``.
    """

    def __init__(self, ports: Sequence[int] = VPCD_PORTS, host: str = VPCD_HOST) -> None:
        self.ports = tuple(ports)
        self.host = host
        self._cards: dict[int, VirtualCard] = {}
        self._lock = threading.Lock()
        self._server: _ControlServer | None = None
        self._server_thread: threading.Thread | None = None
        self._control_file: Path | None = None

    def insert(self, card: CardImage | str, slot: int = 0, timeout_s: float = 10.0) -> VirtualCard:
        """Insert a card (image or spec) into ``slot``, replacing the card already there.

        Raises:
            ValueError: unknown card or slot (French message).
            OSError: vpcd is not listening.
        """
        image = card_image(card) if isinstance(card, str) else card
        if not 0 <= slot < len(self.ports):
            raise ValueError(f"Lecteur virtuel inconnu : {slot} (0 à {len(self.ports) - 1}).")
        self.remove(slot)
        virtual = VirtualCard(image, self.ports[slot], host=self.host)
        virtual.insert(timeout_s)
        with self._lock:
            self._cards[slot] = virtual
        _log.info("Virtual card %s inserted in slot %d", image.name, slot)
        return virtual

    def remove(self, slot: int = 0) -> bool:
        """Pull the card out of ``slot``; False when the slot was empty."""
        with self._lock:
            card = self._cards.pop(slot, None)
        if card is None:
            return False
        was_in = card.inserted
        card.remove()
        _log.info("Virtual card %s removed from slot %d", card.image.name, slot)
        return was_in

    def remove_all(self) -> None:
        """Pull every card out."""
        for slot in list(self._cards):
            self.remove(slot)

    def contents(self) -> dict[int, str]:
        """Slot → name of the card in it (cards pulled out by a fault are gone)."""
        with self._lock:
            return {slot: card.image.name for slot, card in self._cards.items() if card.inserted}

    def serve(self, data_dir: Path | None = None, port: int = 0) -> int:
        """Start the loopback control server; write its port to ``<data_dir>/sandbox-cartes.json``.

        Returns:
            The control port.
        """
        server = _ControlServer((VPCD_HOST, port), _ControlHandler)
        server.deck = self
        self._server = server
        self._server_thread = threading.Thread(target=server.serve_forever, name="cartes-controle", daemon=True)
        self._server_thread.start()
        bound = int(server.server_address[1])
        if data_dir is not None:
            self._control_file = data_dir / CONTROL_FILE
            self._control_file.write_text(json.dumps({"port": bound, "pid": os.getpid()}), encoding="utf-8")
        return bound

    def close(self) -> None:
        """Stop the control server and pull every card out."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._control_file is not None:
            with contextlib.suppress(OSError):
                self._control_file.unlink()
            self._control_file = None
        self.remove_all()

    def handle(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Execute one control request (see the class docstring)."""
        action = request.get("action")
        try:
            if action == "insert":
                slot = int(request.get("slot", 0))
                card = self.insert(str(request.get("card", "")), slot)
                return {"ok": True, "slot": slot, "card": card.image.name, "label": card.image.label}
            if action == "remove":
                slot = int(request.get("slot", 0))
                return {"ok": True, "slot": slot, "removed": self.remove(slot)}
            if action == "list":
                catalogue = card_catalogue()
                return {
                    "ok": True,
                    "slots": {str(k): v for k, v in self.contents().items()},
                    "cards": {name: image.label for name, image in sorted(catalogue.items())},
                }
        except ValueError as exc:
            return {"ok": False, "error": str(exc)}
        except OSError as exc:
            return {"ok": False, "error": f"Lecteur virtuel injoignable (pcscd arrêté ?) : {exc}"}
        return {"ok": False, "error": f"Action inconnue : {action!r} (insert, remove, list)."}

    def __enter__(self) -> VirtualCardDeck:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _ControlServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    deck: VirtualCardDeck


class _ControlHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        self.request.settimeout(30.0)
        server = self.server
        assert isinstance(server, _ControlServer)
        for raw in self.rfile:
            if len(raw) > 4096:
                answer: dict[str, Any] = {"ok": False, "error": "Requête trop longue."}
            else:
                try:
                    request = json.loads(raw)
                    answer = (
                        server.deck.handle(request)
                        if isinstance(request, dict)
                        else {"ok": False, "error": "Objet JSON attendu."}
                    )
                except json.JSONDecodeError:
                    answer = {"ok": False, "error": "JSON invalide."}
            self.wfile.write(json.dumps(answer, ensure_ascii=False).encode("utf-8") + b"\n")
            self.wfile.flush()


@contextlib.contextmanager
def inserted(deck: VirtualCardDeck, card: CardImage | str, slot: int = 0) -> Iterator[VirtualCard]:
    """Insert a card for the duration of a ``with`` block."""
    virtual = deck.insert(card, slot)
    try:
        yield virtual
    finally:
        deck.remove(slot)
