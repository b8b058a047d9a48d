"""Typed, frozen settings loaded from a TOML file; defaults are declared once, here."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from domain.errors import InvalidInput

SETTINGS_FILE = "lgc.toml"
ENV_DATA_DIR = "LGC_DATA_DIR"
ENV_DATABASE_URL = "LGC_DATABASE_URL"


@dataclass(frozen=True, slots=True)
class ServiceEndpoint:
    """Where a national service (or its stand-in) is, and how to trust it."""

    url: str = ""
    ca_cert: str = ""
    client_cert: str = ""
    client_key: str = ""
    timeout_s: float = 15.0
    auth: str = ""
    """Authentication mode of services that have several (INSi: ``"cps"`` or ``"organisation"``)."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting of the application.

    ``mode`` is ``"demo"`` on a new installation: a demo practice and the local stand-ins of the national
    services; ``"production"`` uses the endpoints configured below. Switching is a configuration change.
    """

    data_dir: Path
    database_url: str = ""
    mode: str = "demo"
    current_user: str = ""
    log_level: str = "INFO"
    backup_keep: int = 10
    demo_patients: int = 2000
    search_limit: int = 200
    inactivity_lock_minutes: int = 15
    password_max_age_days: int = 0
    card_reader: str = "pcsc"
    """How cartes Vitale and CPS are read: "pcsc" (PC/SC APDUs) or "sesam-vitale" (the GIE library)."""
    sesam_vitale_library: str = ""
    """Path of the GIE SESAM-Vitale services library (card_reader = "sesam-vitale")."""
    bdpm_dir: str = ""
    """Directory of the public medicines database files (CIS_bdpm.txt, CIS_CIP_bdpm.txt); "" = <data dir>/bdpm."""
    status_service: ServiceEndpoint = field(default_factory=ServiceEndpoint)
    insi_service: ServiceEndpoint = field(default_factory=lambda: ServiceEndpoint(auth="cps"))

    @property
    def is_demo(self) -> bool:
        """True in demo mode."""
        return self.mode == "demo"

    @property
    def effective_database_url(self) -> str:
        """The configured URL, or the embedded SQLite file in the data directory."""
        return self.database_url or f"sqlite:///{self.database_path}"

    @property
    def database_path(self) -> Path:
        """The embedded SQLite file."""
        return self.data_dir / "lgc.sqlite3"

    @property
    def log_dir(self) -> Path:
        """Where rotating log files go."""
        return self.data_dir / "logs"

    @property
    def backup_dir(self) -> Path:
        """Where automatic backups (before migrations) go."""
        return self.data_dir / "sauvegardes"

    @property
    def medicines_dir(self) -> Path:
        """Where the BDPM files are looked for (prescriptions search every medicine when they are there)."""
        return Path(self.bdpm_dir).expanduser() if self.bdpm_dir else self.data_dir / "bdpm"

    @property
    def cache_dir(self) -> Path:
        """Where derived, rebuildable files go (COG index…)."""
        return self.data_dir / "cache"


def default_data_dir() -> Path:
    """The per-user data directory (platformdirs), unless LGC_DATA_DIR says otherwise."""
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir  # imported here: no work at import time

    return Path(user_data_dir("lgc", "lgc-libre"))


def load_settings(data_dir: Path | None = None, database_url: str | None = None) -> Settings:
    """Read ``lgc.toml`` from the data directory (creating a commented one if absent).

    Command-line options and environment variables take precedence over the file.

    Raises:
        InvalidInput: the file is not valid TOML or has a value of the wrong type (French message).
    """
    directory = (data_dir or default_data_dir()).expanduser().resolve()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / SETTINGS_FILE
    if not path.exists():
        path.write_text(_TEMPLATE, encoding="utf-8")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"Fichier de configuration {path} illisible : {exc}") from exc
    settings = _from_mapping(raw, directory, path)
    url = database_url or os.environ.get(ENV_DATABASE_URL)
    if url:
        settings = replace(settings, database_url=url)
    return settings


def _from_mapping(raw: dict[str, Any], directory: Path, path: Path) -> Settings:
    values: dict[str, Any] = {"data_dir": directory}
    simple = {f.name: f for f in fields(Settings) if f.name not in ("data_dir", "status_service", "insi_service")}
    general = raw.get("general", {})
    if not isinstance(general, dict):
        raise InvalidInput(f"{path} : la section [general] est invalide.")
    for key, value in general.items():
        if key not in simple:
            raise InvalidInput(f"{path} : paramètre inconnu « {key} » dans [general].")
        expected = type(getattr(_DEFAULTS, key))
        if not isinstance(value, expected):
            raise InvalidInput(f"{path} : « {key} » doit être de type {expected.__name__}.")
        values[key] = value
    if not 1 <= values.get("inactivity_lock_minutes", 15) <= 120:
        raise InvalidInput(f"{path} : inactivity_lock_minutes doit être compris entre 1 et 120.")
    if values.get("card_reader", "pcsc") not in ("pcsc", "sesam-vitale"):
        raise InvalidInput(f"{path} : card_reader doit valoir « pcsc » ou « sesam-vitale ».")
    if values.get("mode", "demo") not in ("demo", "production"):
        raise InvalidInput(f"{path} : mode doit valoir « demo » ou « production ».")
    services = raw.get("services", {})
    if isinstance(services, dict) and isinstance(services.get("status"), dict):
        try:
            values["status_service"] = ServiceEndpoint(**services["status"])
        except TypeError as exc:
            raise InvalidInput(f"{path} : section [services.status] invalide ({exc}).") from exc
    if isinstance(services, dict) and isinstance(services.get("insi"), dict):
        try:
            insi = ServiceEndpoint(**{"auth": "cps", **services["insi"]})
        except TypeError as exc:
            raise InvalidInput(f"{path} : section [services.insi] invalide ({exc}).") from exc
        if insi.auth not in ("cps", "organisation"):
            raise InvalidInput(f"{path} : [services.insi] auth doit valoir « cps » ou « organisation ».")
        if insi.auth == "organisation" and not (insi.client_cert and insi.client_key):
            raise InvalidInput(
                f"{path} : [services.insi] en mode « organisation », client_cert et client_key sont obligatoires."
            )
        values["insi_service"] = insi
    return Settings(**values)


_DEFAULTS = Settings(data_dir=Path("."))

_TEMPLATE = """\
# Configuration de LGC. Les valeurs absentes prennent leur valeur par défaut.
[general]
# "demo" : cabinet de démonstration et services nationaux simulés en local (sandbox).
# "production" : renseignez les adresses et certificats des services nationaux ci-dessous.
mode = "demo"
# database_url = "postgresql+psycopg://lgc@serveur-cabinet/lgc"   # plusieurs postes (PostgreSQL)
# current_user = "ide"
# log_level = "INFO"
# backup_keep = 10
# card_reader = "pcsc"                  # cartes Vitale et CPS : "pcsc" ou "sesam-vitale"
# sesam_vitale_library = "/opt/sesam-vitale/lib/libssvlux64.so"
# inactivity_lock_minutes = 15   # verrouillage de la session après inactivité (1 à 120 minutes)
# password_max_age_days = 0      # renouvellement imposé des mots de passe standard (0 : jamais ; admin : 365)
# bdpm_dir = "/chemin/bdpm"      # fichiers CIS_bdpm.txt et CIS_CIP_bdpm.txt (par défaut : <données>/bdpm)

# [services.status]
# url = "https://..."
# ca_cert = "/chemin/ac.pem"

# Téléservice INSi (mode production). auth = "cps" : carte CPS / e-CPS (assertion PS) ;
# auth = "organisation" : certificat d'organisation IGC-Santé en TLS mutuel (centres de santé).
# [services.insi]
# url = "https://qualiflps.services-ps.ameli.fr:443/lps"
# ca_cert = "/chemin/ac-igc-sante.pem"
# auth = "cps"
# client_cert = "/chemin/insi-auto.cert.pem"   # mode organisation
# client_key = "/chemin/insi-auto.key.pem"     # mode organisation
# timeout_s = 15.0
"""
