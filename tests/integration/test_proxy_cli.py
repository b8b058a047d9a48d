"""``lgc proxy`` in demo mode: starts the stand-ins, serves the API on 127.0.0.1, stops cleanly."""

from __future__ import annotations

import argparse
import re
import threading
import time
from pathlib import Path

import httpx
import pytest

from app.commands import proxy as proxy_command
from domain.errors import InvalidInput


def test_lgc_proxy_serves_ciba_connect_and_send_in_demo_mode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = argparse.Namespace(data_dir=tmp_path / "data", database_url=None, port=0)
    stop = threading.Event()
    result: list[int] = []
    runner = threading.Thread(target=lambda: result.append(proxy_command.run(args, None, stop=stop)))
    runner.start()
    try:
        url = ""
        deadline = time.monotonic() + 30
        printed = ""
        while not url and time.monotonic() < deadline:
            printed += capsys.readouterr().out
            found = re.search(r"Proxy e-santé : (http://127\.0\.0\.1:\d+)", printed)
            url = found.group(1) if found else ""
            time.sleep(0.05)
        assert url, printed
        assert "Mode démonstration" in printed or "Ctrl-C" in printed
        with httpx.Client(base_url=url, timeout=20) as api:
            session = api.post("/connect", json={"mode": "ciba", "login_hint": "810101010103"}).json()
            sid = session["proxy_session_id"]
            call = api.get("/send/dmp/documents", headers={"proxy_session_id": sid}).json()
            assert call["practitioner"] == "810101010103" and call["backend"] == "dmp"
            assert api.delete("/disconnect", headers={"proxy_session_id": sid}).status_code == 204
    finally:
        stop.set()
        runner.join(15)
    assert result == [0]


def test_lgc_proxy_refuses_a_bad_port(tmp_path: Path) -> None:
    args = argparse.Namespace(data_dir=tmp_path, database_url=None, port=70000)
    with pytest.raises(InvalidInput, match="65535"):
        proxy_command.run(args, None)
