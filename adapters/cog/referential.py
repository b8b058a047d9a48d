"""Birth-place referential read from the INSEE COG CSV files, with a JSON cache and prefix indexes."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import time
from array import array
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from domain.cog import UNKNOWN_PLACE, Place, PlaceKind
from domain.identity import UNKNOWN_BIRTH_PLACE
from domain.text import search_key, strip_accents

log = logging.getLogger("lgc.cog")

# Date semantics of the INSEE "depuis 1943" files (checked on the 2026 vintage):
# * DATE_FIN is EXCLUSIVE: it is the effective date of the event that ended the period, and the next
#   period of the same code starts on that same day. Example: 01015 "Arbignieu" 1943-01-01 → 2016-01-01,
#   then "Arboys en Bugey" from 2016-01-01; v_mvt_commune_2026 has the commune nouvelle (MOD 32) with
#   DATE_EFF 2016-01-01. All 1,838 merged codes of v_mvt (MOD 32) have DATE_FIN == DATE_EFF, and no two
#   periods of one code overlap. This matches ``Place.valid_to`` (exclusive).
# * DATE_DEBUT 1943-01-01 is the start of INSEE's recorded history, not a creation date: such a period is
#   stored with ``valid_from=None`` so that births before 1943 (patients born from 1880) still find the
#   commune or country of the 1943 state, the best the COG knows.
# * A few rows have DATE_DEBUT == DATE_FIN (e.g. 44225 Freigné 2018-01-01, 99209 Sibérie 1943-01-01):
#   zero-length periods kept by INSEE for the record. They are listed by ``periods()`` but never valid.
_HISTORY_START = "1943-01-01"

_COMMUNES = "v_commune_depuis_1943.csv"
_OUTREMER = "v_commune_outremer_depuis_1943.csv"
_TOM = "v_tom_depuis_1943.csv"
_COUNTRIES = "v_pays_et_territoire_depuis_1943.csv"
_MOVEMENTS = "v_mvt_commune_2026.csv"
_UNINHABITED = ("981", "984", "989")
"""Île des Faisans, TAAF districts, Clipperton: valid codes, left out of the demo's overseas births."""
_SOURCES = (_COMMUNES, _OUTREMER, _TOM, _COUNTRIES)
"""Files the referential is built from (their sizes and mtimes key the cache)."""

_CACHE_FORMAT = 1
_CACHE_PREFIX = "cog-referential-"

_FRANCE = "99100"
"""A birth in France is coded by its commune: the country code is never a birth place."""

# Kinds are stored as one character per period.
_KIND_CHARS = {"C": PlaceKind.COMMUNE, "O": PlaceKind.OVERSEAS, "P": PlaceKind.COUNTRY}

# Words that do not start an inner-word search key ("Saint-Étienne-du-Rouvray" is found by "rouvray",
# not by "du").
_STOP_WORDS = frozenset(
    {"a", "au", "aux", "d", "de", "des", "du", "en", "et", "l", "la", "le", "les", "lez", "s", "sous", "sur"}
)
_ABBREVIATIONS = {"st": "saint", "ste": "sainte", "sts": "saints", "stes": "saintes"}
_WORD_SPLIT = re.compile(r"[^a-z0-9]+")
_CODE_QUERY = re.compile(r"[0-9][0-9AB]?[0-9]{0,3}")
# Queries offering "Lieu de naissance inconnu": a prefix of at least N characters of these keys.
_UNKNOWN_PREFIXES = (("inconnu", 3), ("lieudenaissanceinconnu", 9), (UNKNOWN_BIRTH_PLACE, 3))


@dataclass(frozen=True, slots=True)
class DemoPlaces:
    """Birth places for the demo-data generator, all taken from the referential.

    Attributes:
        current_communes: communes (metropolitan, Corsica, DOM 971–976, Paris/Lyon/Marseille
            arrondissements) valid today.
        merged_communes: periods of communes whose code disappeared in a merger (v_mvt MOD 31–34); each
            is valid from ``valid_from`` (None = since before 1943) until the merger date ``valid_to``.
        overseas: places valid today outside metropolitan France: DOM communes (kind COMMUNE) and the
            collectivités d'outre-mer 975, 977, 978, 986, 987, 988 (kind OVERSEAS; the uninhabited 981,
            984 and 989 are left out).
        countries: countries and territories (99xxx) valid today, France excluded.
        corsica: Corsican communes (2A/2B) valid today.
        corsica_before_1976: the 20xxx periods of Corsican communes, valid before 1976-01-01.
    """

    current_communes: tuple[Place, ...]
    merged_communes: tuple[Place, ...]
    overseas: tuple[Place, ...]
    countries: tuple[Place, ...]
    corsica: tuple[Place, ...]
    corsica_before_1976: tuple[Place, ...]


class _Data:
    """The loaded referential: one row per period, sorted by code then start, plus prefix indexes."""

    __slots__ = (
        "code_rows",
        "codes",
        "ends",
        "kinds",
        "labels",
        "name_keys",
        "name_rows",
        "starts",
        "ucode_start",
        "ucodes",
        "word_keys",
        "word_rows",
    )

    def __init__(self, payload: dict[str, Any]) -> None:
        self.codes: list[str] = payload["codes"]
        self.labels: list[str] = payload["labels"]
        self.kinds: str = payload["kinds"]
        # Date ordinals; 0 = open (no start known / still valid).
        self.starts: array[int] = array("l", payload["starts"])
        self.ends: array[int] = array("l", payload["ends"])
        self.name_keys: list[str] = payload["name_keys"]
        self.name_rows: array[int] = array("l", payload["name_rows"])
        self.word_keys: list[str] = payload["word_keys"]
        self.word_rows: array[int] = array("l", payload["word_rows"])
        # Distinct codes in order, the first row of each (plus a sentinel), and code → position.
        ucodes: list[str] = []
        ucode_start = array("l")
        previous = None
        for row, code in enumerate(self.codes):
            if code != previous:
                ucodes.append(code)
                ucode_start.append(row)
                previous = code
        ucode_start.append(len(self.codes))
        self.ucodes = ucodes
        self.ucode_start = ucode_start
        self.code_rows = {code: i for i, code in enumerate(ucodes)}

    def rows_of(self, code: str) -> range:
        """Rows of one code, oldest first (empty when unknown)."""
        position = self.code_rows.get(code)
        if position is None:
            return range(0)
        return range(self.ucode_start[position], self.ucode_start[position + 1])

    def valid(self, row: int, at: int) -> bool:
        """True when ``row`` is valid on the date ordinal ``at``."""
        start = self.starts[row]
        end = self.ends[row]
        if start and at < start:
            return False
        return end == 0 or at < end

    def place(self, row: int) -> Place:
        """The value object of one row."""
        code = self.codes[row]
        kind = _KIND_CHARS[self.kinds[row]]
        if kind is PlaceKind.COUNTRY:
            department = ""
        elif code.startswith(("97", "98")):
            department = code[:3]
        else:
            department = code[:2]
        start = self.starts[row]
        end = self.ends[row]
        return Place(
            code=code,
            label=self.labels[row],
            kind=kind,
            valid_from=dt.date.fromordinal(start) if start else None,
            valid_to=dt.date.fromordinal(end) if end else None,
            department=department,
        )

    def latest(self, rows: range) -> int | None:
        """The current row of a code, else its most recent one."""
        best = None
        for row in rows:
            if self.ends[row] == 0:
                return row
            best = row
        return best

    def latest_with_label(self, row: int) -> int:
        """The most recent row of the same code and label as ``row`` (for searches without a date)."""
        label = self.labels[row]
        best = row
        for other in self.rows_of(self.codes[row]):
            if self.labels[other] == label and not self._zero_length(other):
                best = other
        return best

    def searchable(self, row: int) -> bool:
        """False for zero-length periods, which are never valid."""
        return not self._zero_length(row)

    def _zero_length(self, row: int) -> bool:
        return self.starts[row] != 0 and self.starts[row] == self.ends[row]


class CsvCogReferential:
    """``domain.cog.CogReferential`` read from INSEE's COG CSV files.

    Nothing is read in the constructor: the first call loads the files (or the cache built from them)
    under a lock, so the referential may be shared by worker threads.
    """

    def __init__(self, resource_dir: Path, cache_dir: Path | None = None) -> None:
        """Remember where the CSV files and the cache live.

        Args:
            resource_dir: folder holding the INSEE files (``resources/cog``).
            cache_dir: folder for the compact cache file; None to parse the CSV files on every start.
        """
        self._resource_dir = Path(resource_dir)
        self._cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._lock = threading.Lock()
        self._data: _Data | None = None
        self._demo: DemoPlaces | None = None
        self.load_source = ""
        """How the last load was done: "cache", "csv" (empty before the first call); for tests and benches."""

    # -- CogReferential -------------------------------------------------------------------------------

    def search(self, text: str, at: dt.date | None, limit: int = 20) -> list[Place]:
        """Places whose name (accents, case and punctuation ignored) or code starts with ``text``.

        Names match from their start (with or without their article: "rochelle" finds La Rochelle) and,
        after those, from the start of an inner word ("rouvray" finds Saint-Étienne-du-Rouvray). "St"
        and "Ste" followed by another word stand for "Saint" and "Sainte". A query made of a digit then
        digits (or 2A/2B) searches codes. "Lieu de naissance inconnu" (99999) is offered only when
        ``text`` starts "inconnu" or "999".

        Args:
            text: what the user typed.
            at: the birth date: only periods valid on that day are returned; None for any period (one
                result per code and label, its most recent period).
            limit: maximum number of results.

        Returns:
            Places ranked: exact name first, then names starting with ``text``, then inner-word matches,
            alphabetical within each group (code order for a code search).
        """
        query = text.strip()
        if limit <= 0 or not query:
            return []
        data = self._loaded()
        at_ord = at.toordinal() if at is not None else 0
        results: list[Place] = []
        if _wants_unknown(query):
            results.append(UNKNOWN_PLACE)
        compact = query.replace(" ", "").upper()
        if _CODE_QUERY.fullmatch(compact):
            self._search_codes(data, compact, at_ord, limit, results)
            return results
        seen: set[int] = set()
        keys = _query_keys(query)
        for keys_index, rows_index in ((data.name_keys, data.name_rows), (data.word_keys, data.word_rows)):
            for key in keys:
                if len(results) >= limit:
                    return results
                self._scan(data, keys_index, rows_index, key, at_ord, limit, seen, results)
        return results

    def get(self, code: str, at: dt.date | None) -> Place | None:
        """The period of ``code`` valid on ``at``.

        Args:
            code: a COG code (5 characters, e.g. "51454", "2A004", "99350"; "99999" = unknown).
            at: the day; None for the current period of the code, else its latest one.

        Returns:
            The place, or None when the code is unknown or was not valid on ``at``.
        """
        code = code.strip().upper()
        if code == UNKNOWN_BIRTH_PLACE:
            return UNKNOWN_PLACE
        data = self._loaded()
        rows = data.rows_of(code)
        if at is None:
            row = data.latest(rows)
            return data.place(row) if row is not None else None
        at_ord = at.toordinal()
        for row in rows:
            if data.valid(row, at_ord):
                return data.place(row)
        return None

    def periods(self, code: str) -> list[Place]:
        """Every period of ``code``, oldest first ([] when unknown; 99999 gives the unknown place)."""
        code = code.strip().upper()
        if code == UNKNOWN_BIRTH_PLACE:
            return [UNKNOWN_PLACE]
        data = self._loaded()
        return [data.place(row) for row in data.rows_of(code)]

    # -- demo data ------------------------------------------------------------------------------------

    def demo_places(self) -> DemoPlaces:
        """Lists of real birth places for generated demo patients (see ``DemoPlaces``).

        The first call also reads ``v_mvt_commune_2026.csv`` (about 50 ms) to find merged communes.
        """
        data = self._loaded()
        with self._lock:
            if self._demo is None:
                self._demo = self._build_demo(data)
            return self._demo

    # -- internals ------------------------------------------------------------------------------------

    def _loaded(self) -> _Data:
        data = self._data
        if data is not None:
            return data
        with self._lock:
            if self._data is None:
                self._data = self._load()
            return self._data

    def _load(self) -> _Data:
        started = time.perf_counter()
        fingerprint = self._fingerprint()
        cache_file = self._cache_file(fingerprint)
        payload: dict[str, Any] | None = None
        if cache_file is not None and cache_file.exists():
            payload = _read_cache(cache_file, fingerprint)
        if payload is not None:
            self.load_source = "cache"
        else:
            payload = _build_payload(self._resource_dir)
            payload["fingerprint"] = fingerprint
            self.load_source = "csv"
            if cache_file is not None:
                _write_cache(cache_file, payload)
        data = _Data(payload)
        log.info(
            "COG referential loaded from %s: %d periods, %d codes in %.0f ms",
            self.load_source,
            len(data.codes),
            len(data.ucodes),
            (time.perf_counter() - started) * 1000,
        )
        return data

    def _fingerprint(self) -> str:
        parts = [f"format={_CACHE_FORMAT}"]
        for name in _SOURCES:
            stat = (self._resource_dir / name).stat()
            parts.append(f"{name}:{stat.st_size}:{stat.st_mtime_ns}")
        return "|".join(parts)

    def _cache_file(self, fingerprint: str) -> Path | None:
        if self._cache_dir is None:
            return None
        digest = hashlib.sha256(fingerprint.encode()).hexdigest()[:16]
        return self._cache_dir / f"{_CACHE_PREFIX}{digest}.json"

    @staticmethod
    def _scan(
        data: _Data,
        keys: list[str],
        rows: array[int],
        key: str,
        at_ord: int,
        limit: int,
        seen: set[int],
        results: list[Place],
    ) -> None:
        """Append the rows whose index key starts with ``key`` (sorted order) until ``limit``."""
        i = bisect_left(keys, key)
        end = len(keys)
        while i < end and len(results) < limit and keys[i].startswith(key):
            row = rows[i]
            i += 1
            if at_ord:
                if not data.valid(row, at_ord):
                    continue
            else:
                row = data.latest_with_label(row)
            if row in seen:
                continue
            seen.add(row)
            results.append(data.place(row))

    @staticmethod
    def _search_codes(data: _Data, prefix: str, at_ord: int, limit: int, results: list[Place]) -> None:
        position = bisect_left(data.ucodes, prefix)
        while position < len(data.ucodes) and len(results) < limit:
            code = data.ucodes[position]
            if not code.startswith(prefix):
                break
            rows = data.rows_of(code)
            position += 1
            if at_ord:
                chosen = [row for row in rows if data.valid(row, at_ord)]
            else:
                chosen = sorted({data.latest_with_label(row) for row in rows if data.searchable(row)})
            for row in chosen:
                if len(results) >= limit:
                    break
                results.append(data.place(row))

    def _build_demo(self, data: _Data) -> DemoPlaces:
        current = [row for row in range(len(data.codes)) if data.ends[row] == 0]
        communes = tuple(data.place(r) for r in current if data.kinds[r] == "C")
        overseas = tuple(
            data.place(r)
            for r in current
            if (data.kinds[r] == "C" and data.codes[r].startswith("97"))
            or (data.kinds[r] == "O" and not data.codes[r].startswith(_UNINHABITED))
        )
        countries = tuple(data.place(r) for r in current if data.kinds[r] == "P")
        corsica = tuple(p for p in communes if p.code.startswith(("2A", "2B")))
        corsica_old = tuple(
            data.place(r)
            for r in range(len(data.codes))
            if data.kinds[r] == "C" and data.codes[r].startswith("20") and data.searchable(r)
        )
        return DemoPlaces(
            current_communes=communes,
            merged_communes=tuple(self._merged_communes(data)),
            overseas=overseas,
            countries=countries,
            corsica=corsica,
            corsica_before_1976=corsica_old,
        )

    def _merged_communes(self, data: _Data) -> Iterator[Place]:
        """Periods ended by a merger (v_mvt MOD 31–34) whose code is no longer valid today."""
        path = self._resource_dir / _MOVEMENTS
        if not path.exists():
            log.warning("COG: %s absent, no merged commune for the demo data", path)
            return
        done: set[int] = set()
        for record in _read_csv(path):
            if record["MOD"] not in {"31", "32", "33", "34"} or record["TYPECOM_AV"] != "COM":
                continue
            code = record["COM_AV"]
            if code == record["COM_AP"]:
                continue
            rows = data.rows_of(code)
            if any(data.ends[row] == 0 for row in rows):
                continue
            merged_on = dt.date.fromisoformat(record["DATE_EFF"]).toordinal()
            for row in rows:
                if data.ends[row] == merged_on and data.searchable(row) and row not in done:
                    done.add(row)
                    yield data.place(row)


# -- building ---------------------------------------------------------------------------------------------


def _read_csv(path: Path) -> Iterator[dict[str, str]]:
    # UTF-8 without BOM per SOURCES.md; utf-8-sig also accepts a BOM, newline="" accepts CRLF and LF.
    with path.open(encoding="utf-8-sig", newline="") as handle:
        yield from csv.DictReader(handle)


def _ordinal(value: str) -> int:
    return dt.date.fromisoformat(value).toordinal() if value else 0


def _period(start: str, end: str) -> tuple[int, int]:
    """Start and end ordinals (0 = open); a zero-length period keeps both dates."""
    if start and start == end:
        day = _ordinal(start)
        return day, day
    return (0 if start == _HISTORY_START else _ordinal(start)), _ordinal(end)


def _build_payload(resource_dir: Path) -> dict[str, Any]:
    """Parse the CSV files into the columns and indexes that ``_Data`` and the cache hold."""
    # (code, start, end, kind, label, label without article)
    rows: list[tuple[str, int, int, str, str, str]] = []
    for record in _read_csv(resource_dir / _COMMUNES):
        start, end = _period(record["DATE_DEBUT"], record["DATE_FIN"])
        rows.append((record["COM"], start, end, "C", record["LIBELLE"], record["NCCENR"]))
    for record in _read_csv(resource_dir / _OUTREMER):
        start, end = _period(record["DATE_DEBUT"], record["DATE_FIN"])
        rows.append((record["COM_COMER"], start, end, "O", record["LIBELLE"], record["NCCENR"]))
    for record in _read_csv(resource_dir / _TOM):
        # Only 5-character codes are birth places (98201 Mauritanie, 98702 Guadeloupe before 1946...);
        # "95", "975", "988"... are territory codes.
        if len(record["COMER"]) != 5:
            continue
        start, end = _period(record["DATE_DEBUT"], record["DATE_FIN"])
        rows.append((record["COMER"], start, end, "O", record["LIBELLE"], record["NCCENR"]))
    for record in _read_csv(resource_dir / _COUNTRIES):
        if record["COG"] == _FRANCE:
            continue
        start, end = _period(record["DATE_DEBUT"], record["DATE_FIN"])
        rows.append((record["COG"], start, end, "P", record["LIBCOG"], record["LIBCOG"]))
    # Some codes were reused (91xxx: Algeria until 1962, Essonne since 1968): periods of all files merge.
    rows.sort(key=lambda r: (r[0], r[1], r[2]))

    name_entries: list[tuple[str, int]] = []
    word_entries: list[tuple[str, int]] = []
    keys_cache: dict[str, tuple[set[str], list[str]]] = {}
    for index, (_code, start, end, _kind, label, bare) in enumerate(rows):
        if start and start == end:
            continue  # never valid: not searchable
        cached = keys_cache.get(label + "\x00" + bare)
        if cached is None:
            cached = _name_keys(label, bare)
            keys_cache[label + "\x00" + bare] = cached
        names, words = cached
        name_entries.extend((key, index) for key in names)
        word_entries.extend((key, index) for key in words)
    name_entries.sort()
    word_entries.sort()
    return {
        "format": _CACHE_FORMAT,
        "codes": [r[0] for r in rows],
        "starts": [r[1] for r in rows],
        "ends": [r[2] for r in rows],
        "kinds": "".join(r[3] for r in rows),
        "labels": [r[4] for r in rows],
        "name_keys": [key for key, _ in name_entries],
        "name_rows": [row for _, row in name_entries],
        "word_keys": [key for key, _ in word_entries],
        "word_rows": [row for _, row in word_entries],
    }


def _name_keys(label: str, bare: str) -> tuple[set[str], list[str]]:
    """Search keys of a name: whole-name keys (with and without article) and inner-word keys.

    Keys are built as ``domain.text.search_key`` builds them (accents folded, lower case, only a–z and
    0–9 kept), which is also how queries are keyed.
    """
    words = _words(label)
    names = {"".join(words)}
    if bare != label:
        names.add("".join(_words(bare)))
    names.discard("")
    inner: list[str] = []
    for i in range(1, len(words)):
        if words[i] in _STOP_WORDS:
            continue
        key = "".join(words[i:])
        if key not in names and key not in inner:
            inner.append(key)
    return names, inner


def _words(text: str) -> list[str]:
    folded = text.lower() if text.isascii() else strip_accents(text).lower()
    return [word for word in _WORD_SPLIT.split(folded) if word]


# -- cache ------------------------------------------------------------------------------------------------


def _read_cache(path: Path, fingerprint: str) -> dict[str, Any] | None:
    try:
        with path.open(encoding="utf-8") as handle:
            payload = json.load(handle)
    except (OSError, ValueError) as exc:
        log.warning("COG cache %s unreadable (%s): rebuilt from the CSV files", path, exc)
        return None
    if (
        not isinstance(payload, dict)
        or payload.get("format") != _CACHE_FORMAT
        or payload.get("fingerprint") != fingerprint
    ):
        log.warning("COG cache %s does not match the CSV files: rebuilt", path)
        return None
    return payload


def _write_cache(path: Path, payload: dict[str, Any]) -> None:
    """Write the cache atomically and remove the caches of older CSV versions; failures only log."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=".cog-", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(payload, handle, ensure_ascii=False, separators=(",", ":"))
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        for stale in path.parent.glob(f"{_CACHE_PREFIX}*.json"):
            if stale != path:
                with contextlib.suppress(OSError):
                    stale.unlink()
    except OSError as exc:
        log.warning("COG cache %s not written (%s): the CSV files will be parsed at each start", path, exc)


# -- queries ----------------------------------------------------------------------------------------------


def _query_keys(query: str) -> list[str]:
    """Search keys of a query: with "st"/"ste" expanded to "saint"/"sainte" first, then as typed."""
    folded = strip_accents(query).lower()
    words = [w for w in _WORD_SPLIT.split(folded) if w]
    typed = "".join(words)
    # An abbreviation is expanded only when another word follows or the user typed a separator after it
    # ("st" alone may be the start of "Strasbourg").
    complete = bool(folded) and not folded[-1].isalnum()
    expanded_words = [
        _ABBREVIATIONS.get(word, word) if (i < len(words) - 1 or complete) else word for i, word in enumerate(words)
    ]
    expanded = "".join(expanded_words)
    keys = [expanded] if expanded != typed else []
    if typed:
        keys.append(typed)
    return keys


def _wants_unknown(query: str) -> bool:
    key = search_key(query)
    return any(len(key) >= shortest and word.startswith(key) for word, shortest in _UNKNOWN_PREFIXES)
