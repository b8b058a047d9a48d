"""``[services.insi]`` in lgc.toml: endpoint, certificates and the authentication mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.settings import load_settings
from domain.errors import InvalidInput


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "lgc.toml").write_text(text, encoding="utf-8")
    return tmp_path


def test_default_is_cps_mode_without_endpoint(tmp_path: Path) -> None:
    settings = load_settings(tmp_path)
    assert (settings.insi_service.url, settings.insi_service.auth) == ("", "cps")


def test_organisation_mode(tmp_path: Path) -> None:
    settings = load_settings(
        _write(
            tmp_path,
            '[services.insi]\nurl = "https://insi.example/lps"\nca_cert = "ac.pem"\nauth = "organisation"\n'
            'client_cert = "c.pem"\nclient_key = "k.pem"\ntimeout_s = 5.0\n',
        )
    )
    insi = settings.insi_service
    assert (insi.url, insi.auth, insi.client_cert, insi.client_key, insi.timeout_s) == (
        "https://insi.example/lps",
        "organisation",
        "c.pem",
        "k.pem",
        5.0,
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[services.insi]\nauth = "carte"\n', "auth doit valoir"),
        ('[services.insi]\nauth = "organisation"\nurl = "https://x"\n', "client_cert et client_key"),
        ('[services.insi]\nadresse = "https://x"\n', "[services.insi] invalide"),
    ],
    ids=["unknown-mode", "organisation-without-certificate", "unknown-key"],
)
def test_bad_insi_settings_are_refused_in_french(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        load_settings(_write(tmp_path, text))
    assert message in caught.value.message_fr
