"""Seam for the GIE SESAM-Vitale reading library: the production path to a real carte Vitale and CPS.

The beneficiaries of a real carte Vitale (and the holder of a real CPS) are read through the library the GIE
SESAM-Vitale delivers to approved software publishers (the "Services SESAM-Vitale", a native shared library
``.so`` / ``.dll`` with its own reader configuration). It is not redistributable and not available here, and
its data format (groups and occurrences) is documented only in the GIE's licensed specifications. This adapter
is therefore the seam: it is configured by the library path (``sesam_vitale_library`` in lgc.toml, with
``card_reader = "sesam-vitale"``), loads it on first use, checks the entry points the integration calls, and
turns every failure into a ``DeviceUnavailable`` with a French message. Decoding the library's output into
``VitaleBeneficiary`` / ``PractitionerCard`` is the part an approved integrator writes from the GIE
documentation, in :meth:`SesamVitaleCardReader._decode_beneficiaries` and ``_decode_practitioner``.
See docs/lecteur-cartes.md.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from domain.cards import PractitionerCard
from domain.errors import DeviceUnavailable
from domain.insi import VitaleBeneficiary

log = logging.getLogger("lgc.cards")

READ_VITALE_ENTRY = "SSV_LireDroitsVitale"
READ_CPS_ENTRY = "SSV_LireCartePS"
INIT_ENTRY = "SSV_InitLIB2"
REQUIRED_ENTRIES = (INIT_ENTRY, READ_CPS_ENTRY, READ_VITALE_ENTRY)
"""Entry points of the SESAM-Vitale services library the integration uses."""


class SesamVitaleCardReader:
    """``VitaleCardReader`` and ``PractitionerCardReader`` through the GIE SESAM-Vitale library.

    Args:
        library_path: the library file (e.g. ``/opt/sesam-vitale/lib/libssvlux64.so``).
        loader: how to load a shared library (``ctypes.CDLL``; tests pass another).
    """

    def __init__(self, library_path: str | Path, *, loader: Callable[[str], Any] = ctypes.CDLL) -> None:
        self.library_path = Path(library_path) if library_path else None
        self._loader = loader
        self._library: Any = None
        self._lock = threading.Lock()

    def read_beneficiaries(self, reader: str | None = None) -> list[VitaleBeneficiary]:
        """Every beneficiary on the carte Vitale, read by the SESAM-Vitale library.

        Raises:
            DeviceUnavailable: the library is not configured, missing, not loadable, lacks an entry point, or
                its output decoding is not integrated in this build.
        """
        library = self._load()
        return self._decode_beneficiaries(library, reader)

    def read_practitioner(self, reader: str | None = None) -> PractitionerCard:
        """The CPS holder, read by the SESAM-Vitale library (same errors as ``read_beneficiaries``)."""
        library = self._load()
        return self._decode_practitioner(library, reader)

    def _load(self) -> Any:
        with self._lock:
            if self._library is not None:
                return self._library
            if self.library_path is None:
                raise _unavailable(
                    "La lecture des cartes par la bibliothèque SESAM-Vitale n'est pas configurée : renseignez "
                    "sesam_vitale_library dans lgc.toml (voir docs/lecteur-cartes.md)."
                )
            if not self.library_path.is_file():
                raise _unavailable(
                    f"Bibliothèque SESAM-Vitale introuvable : {self.library_path}. Installez les services "
                    "SESAM-Vitale fournis par le GIE ou corrigez sesam_vitale_library dans lgc.toml."
                )
            try:
                library = self._loader(str(self.library_path))
            except OSError as exc:
                raise _unavailable(
                    f"La bibliothèque SESAM-Vitale {self.library_path} ne se charge pas : {exc}"
                ) from exc
            missing = [name for name in REQUIRED_ENTRIES if not hasattr(library, name)]
            if missing:
                raise _unavailable(
                    f"La bibliothèque {self.library_path.name} n'est pas une bibliothèque SESAM-Vitale prise en "
                    f"charge (fonctions absentes : {', '.join(missing)})."
                )
            self._library = library
            log.info("SESAM-Vitale library loaded from %s", self.library_path)
            return library

    def _decode_beneficiaries(self, library: Any, reader: str | None) -> list[VitaleBeneficiary]:
        raise _unavailable(
            "Lecture de la carte Vitale par la bibliothèque SESAM-Vitale : l'intégration (appel de "
            f"{READ_VITALE_ENTRY} et décodage des groupes de données) relève de l'agrément SESAM-Vitale et "
            "n'est pas livrée dans cette version. Utilisez card_reader = \"pcsc\" ou l'appli carte Vitale."
        )

    def _decode_practitioner(self, library: Any, reader: str | None) -> PractitionerCard:
        raise _unavailable(
            "Lecture de la carte CPS par la bibliothèque SESAM-Vitale : l'intégration (appel de "
            f"{READ_CPS_ENTRY}) relève de l'agrément SESAM-Vitale et n'est pas livrée dans cette version."
        )


def _unavailable(message: str) -> DeviceUnavailable:
    log.warning("SESAM-Vitale reader unavailable: %s", message)
    return DeviceUnavailable(message)
