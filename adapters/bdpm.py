"""The public medicines database (BDPM, ANSM): CIS_bdpm.txt and CIS_CIP_bdpm.txt read from a local directory.

Format (ANSM "Contenu et format des fichiers téléchargeables"): no header, one record per line, fields separated by
tabulations, text in Windows-1252 (older downloads; recent ones may be UTF-8, both are accepted).

- ``CIS_bdpm.txt``: CIS, dénomination, forme pharmaceutique, voies d'administration (« ; »), statut de l'AMM, type de
  procédure, état de commercialisation, date d'AMM, statut BdM, n° d'autorisation européenne, titulaire(s),
  surveillance renforcée.
- ``CIS_CIP_bdpm.txt``: CIS, CIP7, libellé de la présentation, statut administratif, état de commercialisation, date
  de déclaration de commercialisation, CIP13, agrément aux collectivités, taux de remboursement, prix…
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from domain.errors import InvalidInput
from domain.prescriptions import Medicine, fold, matches

log = logging.getLogger("lgc.bdpm")

SPECIALITIES = "CIS_bdpm.txt"
PRESENTATIONS = "CIS_CIP_bdpm.txt"
MAX_FILE_BYTES = 200 * 1024 * 1024


def decode(data: bytes) -> str:
    """UTF-8 when the bytes are valid UTF-8, else Windows-1252 (the historical encoding of the files)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def parse_specialities(text: str) -> dict[str, Medicine]:
    """Read CIS_bdpm.txt. Lines with a bad CIS or too few fields are skipped (logged with their count).

    Raises:
        InvalidInput: not one line could be read (not a BDPM file).
    """
    medicines: dict[str, Medicine] = {}
    skipped = 0
    for raw in text.splitlines():
        if not raw.strip():
            continue
        fields = raw.split("\t")
        cis = fields[0].strip()
        if len(fields) < 7 or not (len(cis) == 8 and cis.isdigit()):
            skipped += 1
            continue
        state = fields[6].strip().lower()
        medicines[cis] = Medicine(
            cis=cis,
            label=" ".join(fields[1].split()),
            form=fields[2].strip(),
            routes=fields[3].strip(),
            marketed=state.startswith("commercialis"),
        )
    if skipped:
        log.info("%s: %d lines skipped", SPECIALITIES, skipped)
    if not medicines:
        raise InvalidInput(f"Le fichier {SPECIALITIES} n'a pas le format de la base publique des médicaments.")
    return medicines


def parse_presentations(text: str) -> dict[str, list[tuple[str, str]]]:
    """Read CIS_CIP_bdpm.txt: CIS → [(CIP13, presentation label)] (presentations without a valid CIP13 skipped)."""
    result: dict[str, list[tuple[str, str]]] = {}
    for raw in text.splitlines():
        fields = raw.split("\t")
        if len(fields) < 7:
            continue
        cis, cip13 = fields[0].strip(), fields[6].strip()
        if len(cis) == 8 and cis.isdigit() and len(cip13) == 13 and cip13.isdigit():
            result.setdefault(cis, []).append((cip13, " ".join(fields[2].split())))
    return result


class BdpmMedicineDatabase:
    """Implements MedicineDatabase over the two files of a directory; read once, on first use, off the UI thread."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._medicines: dict[str, Medicine] | None = None
        self._index: list[tuple[str, Medicine]] = []

    def available(self) -> bool:
        """True when CIS_bdpm.txt is present."""
        return (self.directory / SPECIALITIES).is_file()

    def _load(self) -> dict[str, Medicine]:
        with self._lock:
            if self._medicines is None:
                path = self.directory / SPECIALITIES
                try:
                    if path.stat().st_size > MAX_FILE_BYTES:
                        raise InvalidInput(f"Le fichier {path.name} est anormalement volumineux : il n'est pas lu.")
                    medicines = parse_specialities(decode(path.read_bytes()))
                    presentations_path = self.directory / PRESENTATIONS
                    presentations = (
                        parse_presentations(decode(presentations_path.read_bytes()))
                        if presentations_path.is_file()
                        else {}
                    )
                except OSError as exc:
                    raise InvalidInput(
                        f"La base des médicaments ({path}) ne peut pas être lue : {exc.strerror or exc}."
                    ) from exc
                for cis, items in presentations.items():
                    if cis in medicines:
                        m = medicines[cis]
                        medicines[cis] = Medicine(m.cis, m.label, m.form, m.routes, m.marketed, tuple(items))
                self._medicines = medicines
                self._index = sorted(((fold(m.label), m) for m in medicines.values()), key=lambda p: p[0])
                log.info("BDPM loaded: %d medicines from %s", len(medicines), self.directory)
            return self._medicines

    def search(self, query: str, limit: int) -> list[Medicine]:
        """Medicines whose name matches every word of the query, marketed ones first, by name."""
        self._load()
        if not query.strip():
            return []
        found = [m for _, m in self._index if matches(m.label, query)]
        found.sort(key=lambda m: (not m.marketed, fold(m.label)))
        return found[:limit]

    def by_cis(self, cis: str) -> Medicine | None:
        """One medicine by CIS (None when unknown)."""
        return self._load().get(cis)
