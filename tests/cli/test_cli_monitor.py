"""``quant-terminal monitor`` and ``--monitor``: refusals in one line with no socket opened, and a real standalone run."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from terminal.cli import main
from terminal.config import ConfigError, load_settings

TOKEN = "0123456789abcdef0123"


@pytest.fixture
def no_binds(monkeypatch):
    """Records every socket bind of this process (a refusal must open none)."""
    binds: list = []
    original = socket.socket.bind

    def bind(self, address):  # type: ignore[no-untyped-def]
        binds.append(address)
        return original(self, address)

    monkeypatch.setattr(socket.socket, "bind", bind)
    monkeypatch.delenv("QT_MONITOR_TOKEN", raising=False)
    return binds


@pytest.mark.parametrize("argv", [["--monitor", "0.0.0.0:18931"], ["monitor", "--listen", "0.0.0.0:18931"],
                                  ["gui", "--monitor", "192.168.7.7:18931"]])
def test_an_address_off_loopback_without_a_token_is_refused_before_any_socket(argv, tmp_path, no_binds, capsys):
    code = main(["--data-dir", str(tmp_path), *argv])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "QT_MONITOR_TOKEN" in err and "Traceback" not in err
    assert no_binds == []


def test_a_bad_monitor_address_is_one_line(tmp_path, capsys):
    assert main(["--data-dir", str(tmp_path), "--monitor", "localhost", "config"]) == 2
    assert "monitor 'localhost' must look like HOST:PORT" in capsys.readouterr().err


def test_the_token_is_never_read_from_the_config_file(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(f'monitor_token = "{TOKEN}"\n')
    with pytest.raises(ConfigError, match="must not be stored in plain text; set QT_MONITOR_TOKEN"):
        load_settings(config_path=config, environ={"QT_NO_KEYRING": "1"})
    settings = load_settings(config_path=tmp_path / "none.toml", environ={"QT_NO_KEYRING": "1",
                                                                            "QT_MONITOR_TOKEN": TOKEN})
    assert settings.monitor_token == TOKEN


def test_config_masks_the_token(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("QT_MONITOR_TOKEN", TOKEN)
    assert main(["--data-dir", str(tmp_path), "config"]) == 0
    out = capsys.readouterr().out
    assert TOKEN not in out and "monitor_token" in out


@pytest.mark.parametrize("argv,message", [
    (["--nginx-config", "--upstream", "127.0.0.1:8765"], "needs --port"),
    (["--nginx-config", "--port", "8443"], "at least one --upstream"),
    (["--nginx-config", "--port", "8443", "--upstream", "nowhere"], "--upstream 'nowhere' must look like HOST:PORT"),
])
def test_nginx_config_usage_errors_are_one_line(argv, message, tmp_path, capsys):
    assert main(["--data-dir", str(tmp_path), "monitor", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_standalone_monitor_serves_the_store_and_stops_cleanly_on_sigterm(tmp_path):
    port = _free_port()
    env = {**os.environ, "QT_MONITOR_TOKEN": TOKEN, "QT_NO_KEYRING": "1"}
    process = subprocess.Popen([sys.executable, "-m", "terminal", "--data-dir", str(tmp_path), "monitor",
                                "--listen", f"127.0.0.1:{port}"], stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = process.stderr.readline()
        assert f"monitor on http://127.0.0.1:{port}/" in line and "token required" in line
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/connection",
                                         headers={"Authorization": f"Bearer {TOKEN}"})
        deadline = time.monotonic() + 10
        while True:
            with urllib.request.urlopen(request, timeout=5) as response:
                connection = json.loads(response.read())
            if connection["state"] != "UNKNOWN" or time.monotonic() > deadline or connection.get("endpoint"):
                break
            time.sleep(0.1)
        assert connection["broker"] == "store" and "terminal.sqlite" in connection["endpoint"]
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/positions", timeout=5)
        assert refused.value.code == 401
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=10)
    assert process.returncode == 0
    assert TOKEN not in err


def test_nginx_config_is_printed_written_privately_and_accepted_by_nginx(tmp_path, capsys):
    from tests.monitor.nginx_support import require_nginx

    prefix = tmp_path / "edge"
    assert main(["--data-dir", str(tmp_path), "monitor", "--nginx-config", "--port", "18443",
                 "--upstream", "127.0.0.1:8765", "--upstream", "127.0.0.1:8766", "--prefix", str(prefix)]) == 0
    out = capsys.readouterr().out
    assert "server 127.0.0.1:8765" in out and "server 127.0.0.1:8766" in out
    conf = prefix / "nginx.conf"
    assert conf.read_text() == out and conf.stat().st_mode & 0o777 == 0o600
    nginx = require_nginx()
    checked = subprocess.run([nginx, "-t", "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "startup.log")],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
