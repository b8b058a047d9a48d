"""Pro Santé Connect and Proxy e-santé settings: the ``[services.psc]`` and ``[proxy]`` sections of lgc.toml."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.settings import SETTINGS_FILE, ServiceEndpoint, Settings
from domain.errors import InvalidInput

PSC_REALM_PATH = "/auth/realms/esante-wallet"
"""Path of the PSC realm under its host (the issuer is ``<url><realm path>``), stand-in included."""

DEFAULT_CLIENT_ID = "lgc-desktop"
PSC_CLIENT_SECRET_NAME = "psc-client-secret"  # noqa: S105 - the name of the secret in the OS store
PROXY_CLIENT_SECRET_NAME = "proxy-client-secret"  # noqa: S105 - the name of the secret in the OS store


@dataclass(frozen=True, slots=True)
class PscSettings:
    """Where Pro Santé Connect is and who this software is for it.

    Attributes:
        issuer: The expected issuer.
        client_id: The client registered with PSC.
        discovery_url: The discovery document ("" for ``<issuer>/.well-known/openid-configuration``).
        ca_cert: CA file to trust ("" for the system store).
        client_cert: Client certificate for mutual TLS ("" for none).
        client_key: Its private key.
        timeout_s: Network timeout.
        clock_skew_s: Tolerated clock difference on token dates.
    """

    issuer: str
    client_id: str = DEFAULT_CLIENT_ID
    discovery_url: str = ""
    ca_cert: str = ""
    client_cert: str = ""
    client_key: str = ""
    timeout_s: float = 15.0
    clock_skew_s: float = 120.0


@dataclass(frozen=True, slots=True)
class ProxyBackend:
    """One backend reachable through the Proxy e-santé.

    Attributes:
        name: How ``/send/<name>/…`` names it.
        url: Base URL of its API.
        token_endpoint: Its RFC 8693 token-exchange endpoint.
        audience: ``audience`` sent in the exchange ("" for the backend's name).
        ca_cert: CA to trust ("" for the system store).
    """

    name: str
    url: str
    token_endpoint: str
    audience: str = ""
    ca_cert: str = ""


@dataclass(frozen=True, slots=True)
class ProxySettings:
    """The Proxy e-santé (``lgc proxy``): PSC for CIBA, the client certificate, the backends.

    Attributes:
        psc_issuer: PSC issuer (CIBA).
        psc_ca_cert: CA to trust for PSC.
        client_id: The proxy's client at PSC and at the backends.
        client_cert: Client certificate (mutual TLS; its hash binds the exchanged tokens).
        client_key: Its key.
        backends: The backends by name.
        listen_port: Loopback port of the proxy API (0: ephemeral).
    """

    psc_issuer: str
    psc_ca_cert: str
    client_id: str
    client_cert: str
    client_key: str
    backends: dict[str, ProxyBackend] = field(default_factory=dict)
    listen_port: int = 0


def load_psc_settings(settings: Settings, endpoints: dict[str, ServiceEndpoint] | None = None) -> PscSettings | None:
    """The PSC settings: the stand-in's in demo mode (``endpoints["psc"]``), else ``[services.psc]`` of lgc.toml.

    Returns:
        None when PSC is not configured.

    Raises:
        InvalidInput: The section exists but is malformed (French message).
    """
    endpoint = (endpoints or {}).get("psc")
    if endpoint is not None and endpoint.url:
        return PscSettings(
            issuer=endpoint.url.rstrip("/") + PSC_REALM_PATH,
            ca_cert=endpoint.ca_cert,
            client_cert=endpoint.client_cert,
            client_key=endpoint.client_key,
            timeout_s=endpoint.timeout_s,
        )
    section = _section(settings.data_dir / SETTINGS_FILE, "services", "psc")
    if not section:
        return None
    try:
        url = str(section.pop("url", "")).rstrip("/")
        issuer = str(section.pop("issuer", "")) or (url + PSC_REALM_PATH if url else "")
        if not issuer.startswith("https://"):
            raise InvalidInput("[services.psc] : « url » (ou « issuer ») doit être une adresse https://.")
        return PscSettings(issuer=issuer, **section)
    except TypeError as exc:
        raise InvalidInput(f"Section [services.psc] de lgc.toml invalide ({exc}).") from exc


def load_proxy_settings(data_dir: Path) -> ProxySettings | None:
    """The ``[proxy]`` section (and its ``[proxy.backends.<name>]`` tables), or None when absent.

    Raises:
        InvalidInput: Malformed section.
    """
    section = _section(data_dir / SETTINGS_FILE, "proxy")
    if not section:
        return None
    raw_backends = section.pop("backends", {})
    try:
        backends = {name: ProxyBackend(name=name, **values) for name, values in dict(raw_backends).items()}
        return ProxySettings(backends=backends, **section)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"Section [proxy] de lgc.toml invalide ({exc}).") from exc


def _section(path: Path, *keys: str) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        raw: Any = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"Fichier de configuration {path} illisible : {exc}") from exc
    for key in keys:
        raw = raw.get(key, {}) if isinstance(raw, dict) else {}
    return dict(raw) if isinstance(raw, dict) else {}
