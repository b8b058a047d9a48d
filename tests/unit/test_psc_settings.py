"""The ``[services.psc]`` and ``[proxy]`` sections of lgc.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.psc_settings import PSC_REALM_PATH, load_proxy_settings, load_psc_settings
from app.settings import ServiceEndpoint, load_settings
from domain.errors import InvalidInput


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "lgc.toml").write_text('[general]\nmode = "production"\n' + text, encoding="utf-8")
    return tmp_path


def test_demo_endpoint_gives_the_stand_in_issuer(tmp_path: Path) -> None:
    settings = load_settings(tmp_path)
    psc = load_psc_settings(settings, {"psc": ServiceEndpoint(url="https://127.0.0.1:9443/", ca_cert="/ca.pem")})
    assert psc is not None and psc.issuer == "https://127.0.0.1:9443" + PSC_REALM_PATH and psc.ca_cert == "/ca.pem"


def test_production_section(tmp_path: Path) -> None:
    settings = load_settings(
        write(
            tmp_path,
            '[services.psc]\nurl = "https://auth.esw.esante.gouv.fr"\nclient_id = "lgc-cabinet"\n'
            'discovery_url = "https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet/.well-known/'
            'wallet-openid-configuration"\n',
        )
    )
    psc = load_psc_settings(settings)
    assert psc is not None
    assert psc.issuer == "https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet"
    assert psc.client_id == "lgc-cabinet" and psc.discovery_url.endswith("wallet-openid-configuration")


def test_absent_means_not_configured_and_bad_values_are_explained(tmp_path: Path) -> None:
    assert load_psc_settings(load_settings(write(tmp_path, ""))) is None
    with pytest.raises(InvalidInput, match="https"):
        load_psc_settings(load_settings(write(tmp_path, '[services.psc]\nurl = "http://psc"\n')))
    with pytest.raises(InvalidInput, match=r"\[services.psc\]"):
        load_psc_settings(load_settings(write(tmp_path, '[services.psc]\nurl = "https://x"\ncouleur = "bleu"\n')))


def test_proxy_section_with_backends(tmp_path: Path) -> None:
    write(
        tmp_path,
        '[proxy]\npsc_issuer = "https://psc"\npsc_ca_cert = ""\nclient_id = "lgc-proxy"\n'
        'client_cert = "/c.pem"\nclient_key = "/k.pem"\nlisten_port = 8765\n'
        '[proxy.backends.dmp]\nurl = "https://dmp/api"\ntoken_endpoint = "https://dmp/token"\n',
    )
    proxy = load_proxy_settings(tmp_path)
    assert proxy is not None and proxy.listen_port == 8765
    assert proxy.backends["dmp"].token_endpoint == "https://dmp/token"
    write(tmp_path, '[proxy]\npsc_issuer = "https://psc"\n')
    with pytest.raises(InvalidInput, match=r"\[proxy\]"):
        load_proxy_settings(tmp_path)
