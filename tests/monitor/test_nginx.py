"""nginx in front of the monitor: the generated config, then a real nginx proxying real monitors."""

from __future__ import annotations

import base64
import http.client
import json
import math
import re
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from terminal.monitor import MonitorServer, MonitorState, MonitorThread
from terminal.monitor.nginx import NginxConfigError, render_nginx_config
from terminal.monitor.state import SECTIONS
from tests.monitor.nginx_support import (  # noqa: F401 (nginx_fixture provides the fixture "nginx")
    RunningNginx,
    nginx_fixture,
    request,
    require_nginx,
    self_signed_certificate,
    write_htpasswd,
)
from tests.support.mariadb import free_port

TOKEN = "monitor-token-0123456789abcdef"
USER, PASSWORD = "desk", "s3cret-pass"
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def basic(user: str = USER, password: str = PASSWORD) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


BEARER = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class Monitor:
    state: MonitorState
    server: MonitorServer
    thread: MonitorThread

    @property
    def port(self) -> int:
        return self.server.port


@pytest.fixture
def monitors() -> Iterator[Callable[..., Monitor]]:
    """Factory ``monitors(token="", account="DU1")`` of real monitors with positions, an account and a fill."""
    started: list[Monitor] = []

    def start(token: str = "", account: str = "DU1") -> Monitor:
        state = MonitorState("terminal")
        state.publish("positions", {"positions": [{"symbol": "AAPL", "quantity": 100.0}]})
        state.publish("account", {"account": account})
        state.append("fills", [{"execution_id": "e1", "price": 1.0}])
        server = MonitorServer(state, "127.0.0.1", 0, token=token)
        thread = MonitorThread(server)
        thread.start()
        started.append(Monitor(state, server, thread))
        return started[-1]

    try:
        yield start
    finally:
        for monitor in started:
            monitor.thread.stop()


@pytest.fixture
def htpasswd(tmp_path: Path) -> Path:
    return write_htpasswd(tmp_path / "htpasswd", USER, PASSWORD)


def proxy(nginx: Callable[..., RunningNginx], tmp_path: Path, upstream: list[Monitor],
          **options: Any) -> RunningNginx:
    """A real nginx from the generated config in front of ``upstream``."""
    port = free_port()
    text = render_nginx_config(port, [("127.0.0.1", m.port) for m in upstream], tmp_path / "nginx", **options)
    return nginx(text, port)


def positions_of(answer_body: bytes) -> list[str]:
    return [row["symbol"] for row in json.loads(answer_body)["positions"]]


# --- the generated text (no nginx needed) ----------------------------------------------------------
def test_config_keeps_everything_nginx_writes_under_the_prefix(tmp_path: Path) -> None:
    text = render_nginx_config(8443, [("127.0.0.1", 8765)], tmp_path / "p")
    prefix = str((tmp_path / "p").resolve())
    written = re.findall(r'^\s*(?:pid|error_log|access_log|\w+_temp_path)\s+"([^"]+)"', text, re.MULTILINE)
    assert len(written) == 8  # pid, error log, access log, five temp paths
    assert all(path.startswith(prefix + "/") for path in written), written
    assert "/var/" not in text and "/etc/" not in text and "include" not in text


def test_stream_location_turns_buffering_off_and_limits_connections_not_requests(tmp_path: Path) -> None:
    text = render_nginx_config(8443, [("127.0.0.1", 8765)], tmp_path)
    stream = re.search(r"location = /api/stream \{(.*?)\}", text, re.DOTALL)
    assert stream is not None
    block = stream.group(1)
    for directive in ("proxy_buffering off;", "proxy_cache off;", "proxy_read_timeout 1h;", "limit_conn "):
        assert directive in block
    assert "limit_req" not in block
    assert "proxy_http_version 1.1;" in text and 'proxy_set_header Connection "";' in text


def test_token_goes_into_the_config_only_to_be_sent_after_basic_auth(tmp_path: Path, htpasswd: Path) -> None:
    with_auth = render_nginx_config(8443, [("127.0.0.1", 8765)], tmp_path, htpasswd=htpasswd, token=TOKEN)
    assert f'proxy_set_header Authorization "Bearer {TOKEN}";' in with_auth
    assert "HOLDS THE MONITOR TOKEN" in with_auth
    forwarding = render_nginx_config(8443, [("127.0.0.1", 8765)], tmp_path, token=TOKEN)
    assert TOKEN not in forwarding and "proxy_set_header Authorization" not in forwarding
    clearing = render_nginx_config(8443, [("127.0.0.1", 8765)], tmp_path, htpasswd=htpasswd)
    assert 'proxy_set_header Authorization "";' in clearing


def test_rate_below_one_per_second_is_written_per_minute_and_whole_rates_per_second(tmp_path: Path) -> None:
    assert "rate=150r/m;" in render_nginx_config(80, [("h", 1)], tmp_path, rate=2.5)
    assert "rate=1r/m;" in render_nginx_config(80, [("h", 1)], tmp_path, rate=1 / 60)
    assert "rate=20r/s;" in render_nginx_config(80, [("h", 1)], tmp_path)


def test_user_root_only_when_nginx_will_run_as_root(tmp_path: Path) -> None:
    assert "\nuser root;" in render_nginx_config(80, [("h", 1)], tmp_path, as_root=True)
    assert "user root;" not in render_nginx_config(80, [("h", 1)], tmp_path, as_root=False)


def test_ipv6_upstreams_and_listen_address_are_bracketed(tmp_path: Path) -> None:
    text = render_nginx_config(8443, [("::1", 8765), ("[::1]", 8766)], tmp_path, listen="::1")
    assert "server [::1]:8765 " in text and "server [::1]:8766 " in text and "listen [::1]:8443;" in text


@pytest.mark.parametrize(("change", "named"), [
    ({"port": 0}, "nginx port 0"),
    ({"port": 65536}, "nginx port 65536"),
    ({"upstreams": []}, "at least one upstream"),
    ({"upstreams": [("127.0.0.1", 0)]}, "1..65535"),
    ({"upstreams": [("a;b", 1)]}, "'a;b'"),
    ({"upstreams": [("h", 1), ("h", 1)]}, "twice"),
    ({"listen": "0.0.0.0 ssl"}, "listen address"),
    ({"htpasswd": Path("/nonexistent/htpasswd")}, "htpasswd file"),
    ({"tls_cert": Path("/etc/hostname")}, "without its key"),
    ({"tls_key": Path("/etc/hostname")}, "without its certificate"),
    ({"rate": 0}, "rate 0"),
    ({"rate": math.nan}, "rate nan"),
    ({"burst": -1}, "burst -1"),
    ({"token": "short"}, "5 characters"),
    ({"token": 'x" ; evil ' + "x" * 16}, "only letters"),
    ({"listen": "0.0.0.0"}, "no authentication"),
    ({"prefix": Path('/tmp/a"b')}, "prefix"),
])
def test_bad_inputs_are_refused_with_one_line_messages_naming_them(tmp_path: Path, change: dict, named: str) -> None:
    arguments: dict = {"port": 8443, "upstreams": [("127.0.0.1", 8765)], "prefix": tmp_path, **change}
    with pytest.raises(NginxConfigError) as caught:
        render_nginx_config(**arguments)
    assert named in str(caught.value) and "\n" not in str(caught.value)
    assert isinstance(caught.value, ValueError)


# --- a real nginx ---------------------------------------------------------------------------------
def test_generated_configs_pass_nginx_t(tmp_path: Path, htpasswd: Path) -> None:
    binary = require_nginx()
    cert, key = self_signed_certificate(tmp_path)
    variants: dict[str, dict[str, Any]] = {"plain": {}, "basic_auth_and_token": {"htpasswd": htpasswd, "token": TOKEN},
                "tls": {"tls_cert": cert, "tls_key": key, "htpasswd": htpasswd, "rate": 0.5, "listen": "0.0.0.0"}}
    for name, options in variants.items():
        prefix = tmp_path / name
        prefix.mkdir()
        conf = prefix / "nginx.conf"
        conf.write_text(render_nginx_config(free_port(), [("127.0.0.1", 8765), ("127.0.0.1", 8766)], prefix,
                                            **options))
        checked = subprocess.run([binary, "-t", "-q", "-p", str(prefix), "-c", str(conf), "-e",
                                  str(prefix / "startup.log")], capture_output=True, text=True)
        assert checked.returncode == 0, f"{name}: {checked.stderr}"


def test_basic_auth_refuses_missing_and_wrong_passwords_and_accepts_the_right_one(
        nginx, monitors, tmp_path: Path, htpasswd: Path) -> None:
    edge = proxy(nginx, tmp_path, [monitors()], htpasswd=htpasswd)
    assert request(edge.port, path="/api/positions").status == 401
    assert request(edge.port, path="/api/positions", headers=basic(password="wrong")).status == 401
    assert request(edge.port, path="/api/positions", headers=basic(user="nobody")).status == 401
    answer = request(edge.port, path="/api/positions", headers=basic())
    assert answer.status == 200 and positions_of(answer.body) == ["AAPL"]
    assert answer.headers["x-content-type-options"] == "nosniff"  # the monitor's own headers pass through
    assert answer.headers["server"] == "nginx"  # no version, and not the monitor's aiohttp banner


def test_every_write_method_is_405_at_nginx_with_or_without_credentials(
        nginx, monitors, tmp_path: Path, htpasswd: Path) -> None:
    monitor = monitors()
    edge = proxy(nginx, tmp_path, [monitor], htpasswd=htpasswd)
    versions, requests_before = monitor.state.versions(), monitor.server.requests
    for method in WRITE_METHODS:
        for headers in ({}, basic(), basic(password="wrong")):
            for path in ("/api/positions", "/api/stream", "/healthz", "/"):
                answer = request(edge.port, method, path, headers={**headers, "Content-Type": "application/json"},
                                 body=b'{"symbol":"MSFT"}')
                assert answer.status == 405, (method, path, headers)
                assert answer.headers["allow"] == "GET, HEAD"
                assert json.loads(answer.body)["error"].startswith(f"{method} is not allowed")
    assert monitor.state.versions() == versions
    assert monitor.server.requests == requests_before  # refused at the edge, the monitor never saw them
    assert "allow" not in request(edge.port, path="/api/positions", headers=basic()).headers


def test_a_bearer_token_goes_through_to_a_token_protected_monitor_without_basic_auth(
        nginx, monitors, tmp_path: Path) -> None:
    edge = proxy(nginx, tmp_path, [monitors(token=TOKEN)], token=TOKEN)
    refused = request(edge.port, path="/api/positions")
    assert refused.status == 401 and "bearer" in refused.headers["www-authenticate"].lower()
    assert request(edge.port, path="/api/positions", headers={"Authorization": "Bearer " + "x" * 30}).status == 401
    answer = request(edge.port, path="/api/positions", headers=BEARER)
    assert answer.status == 200 and positions_of(answer.body) == ["AAPL"]


def test_nginx_shows_the_token_to_the_monitor_for_a_user_with_basic_credentials(
        nginx, monitors, tmp_path: Path, htpasswd: Path) -> None:
    edge = proxy(nginx, tmp_path, [monitors(token=TOKEN)], htpasswd=htpasswd, token=TOKEN)
    answer = request(edge.port, path="/api/positions", headers=basic())
    assert answer.status == 200 and positions_of(answer.body) == ["AAPL"]
    assert request(edge.port, path="/api/positions", headers=BEARER).status == 401  # a token alone is no login here


def test_the_event_stream_survives_the_proxy_hop_and_each_change_arrives_at_once(
        nginx, monitors, tmp_path: Path, htpasswd: Path) -> None:
    # Both the config (proxy_buffering off) and the monitor (X-Accel-Buffering: no) unbuffer the
    # stream; either alone passes this test, so the config's part is also checked on its text above.
    monitor = monitors()
    edge = proxy(nginx, tmp_path, [monitor], htpasswd=htpasswd)
    connection = http.client.HTTPConnection("127.0.0.1", edge.port, timeout=5)
    try:
        connection.request("GET", "/api/stream", headers={**basic(), "Accept": "text/event-stream"})
        response = connection.getresponse()
        assert response.status == 200 and response.headers["Content-Type"].startswith("text/event-stream")
        seen: set[str] = set()
        while seen != set(SECTIONS):
            line = response.readline()
            assert line, "the stream ended before every section arrived"
            if line.startswith(b"event: "):
                seen.add(line[7:].strip().decode())
        monitor.state.publish("positions", {"positions": [{"symbol": "MSFT", "quantity": 5.0}]})
        published = time.monotonic()
        while True:
            line = response.readline()
            assert line and time.monotonic() - published < 2.0, "the change did not pass nginx within 2 s"
            if line.startswith(b"data: ") and b"MSFT" in line:
                break
        assert time.monotonic() - published < 2.0
    finally:
        connection.close()


def test_a_monitor_that_dies_is_taken_out_and_every_request_goes_to_the_survivor(
        nginx, monitors, tmp_path: Path) -> None:
    doomed, survivor = monitors(account="DU-DOOMED"), monitors(account="DU-SURVIVOR")
    edge = proxy(nginx, tmp_path, [doomed, survivor])
    answered = {json.loads(request(edge.port, path="/api/account").body)["account"] for _ in range(4)}
    assert answered == {"DU-DOOMED", "DU-SURVIVOR"}  # both serve while both live
    dead_port = doomed.port
    doomed.thread.stop()
    for _ in range(20):
        answer = request(edge.port, path="/api/account")
        assert answer.status == 200 and json.loads(answer.body)["account"] == "DU-SURVIVOR"
    log = edge.error_log
    failures = [line for line in log.splitlines() if f"127.0.0.1:{dead_port}" in line]
    assert failures, f"nginx's error log does not name the dead monitor 127.0.0.1:{dead_port}:\n{log}"
    # max_fails=1: one failed request takes it out for fail_timeout, it is not tried on every other request
    assert len([line for line in failures if "[error]" in line]) == 1, log


def test_a_burst_is_rate_limited_with_429_but_healthz_and_the_stream_are_not(
        nginx, monitors, tmp_path: Path, htpasswd: Path) -> None:
    edge = proxy(nginx, tmp_path, [monitors()], htpasswd=htpasswd, rate=5, burst=5)
    statuses = [request(edge.port, path="/api/health", headers=basic()).status for _ in range(40)]
    assert statuses.count(200) >= 6 and statuses.count(429) >= 10, statuses
    assert set(statuses) == {200, 429}
    health = request(edge.port, path="/healthz")  # nginx's own, for load balancers: no credentials
    assert health.status == 200 and health.body == b"ok\n"
    upstream = request(edge.port, path="/healthz/upstream")
    assert upstream.status in (200, 429)  # the monitors' health shares the request budget
    connection = http.client.HTTPConnection("127.0.0.1", edge.port, timeout=5)
    try:
        connection.request("GET", "/api/stream", headers=basic())
        assert connection.getresponse().status == 200
    finally:
        connection.close()


def test_upstream_healthz_answers_without_credentials_while_a_monitor_lives(
        nginx, monitors, tmp_path: Path, htpasswd: Path) -> None:
    edge = proxy(nginx, tmp_path, [monitors(token=TOKEN)], htpasswd=htpasswd, token=TOKEN)
    answer = request(edge.port, path="/healthz/upstream")
    assert answer.status == 200 and answer.body == b"ok\n"


def test_the_access_log_names_neither_query_strings_nor_credentials(
        nginx, monitors, tmp_path: Path, htpasswd: Path) -> None:
    edge = proxy(nginx, tmp_path, [monitors(token=TOKEN)], htpasswd=htpasswd, token=TOKEN)
    assert request(edge.port, path="/api/positions?token=leaked-in-url", headers=basic()).status == 200
    assert request(edge.port, path="/api/orders", headers=basic(password="wrong-guess")).status == 401
    edge.stop()  # flushes the log
    log = edge.access_log
    assert "GET /api/positions HTTP/1.1" in log and "GET /api/orders HTTP/1.1" in log
    secrets = ("leaked-in-url", "token=", PASSWORD, "wrong-guess", TOKEN, basic()["Authorization"].split()[1])
    assert not any(secret in log for secret in secrets), log


def test_https_with_the_given_certificate_and_hsts(nginx, monitors, tmp_path: Path, htpasswd: Path) -> None:
    cert, key = self_signed_certificate(tmp_path)
    edge = proxy(nginx, tmp_path, [monitors()], htpasswd=htpasswd, tls_cert=cert, tls_key=key)
    trusting = ssl.create_default_context(cafile=str(cert))
    answer = request(edge.port, path="/api/positions", headers=basic(), tls=trusting)
    assert answer.status == 200 and positions_of(answer.body) == ["AAPL"]
    assert answer.headers["strict-transport-security"].startswith("max-age=")
    with pytest.raises(ssl.SSLError):  # and the certificate is really checked
        request(edge.port, path="/healthz", tls=ssl.create_default_context())
    assert request(edge.port, path="/healthz").status == 400  # plain HTTP to the TLS port


def test_the_packaged_site_config_passes_nginx_t_inside_a_system_like_http_block(
        tmp_path: Path, htpasswd: Path) -> None:
    binary = require_nginx()
    cert, key = self_signed_certificate(tmp_path)
    site = (Path(__file__).parents[2] / "packaging" / "nginx" / "quant-terminal-monitor.conf").read_text()
    placeholders = {"/etc/letsencrypt/live/monitor.example.com/fullchain.pem": str(cert),
                    "/etc/letsencrypt/live/monitor.example.com/privkey.pem": str(key),
                    "/etc/nginx/quant-terminal.htpasswd": str(htpasswd),
                    "/var/log/nginx/": f"{tmp_path}/"}
    for placeholder, path in placeholders.items():
        assert placeholder in site
        site = site.replace(placeholder, path)
    (tmp_path / "site.conf").write_text(site)
    temp = "".join(f"{kind}_temp_path {tmp_path}/{kind};\n" for kind in ("client_body", "proxy", "fastcgi",
                                                                          "uwsgi", "scgi"))
    main = (f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
            f"http {{\n{temp}access_log off;\ninclude {tmp_path}/site.conf;\n}}\n")
    (tmp_path / "nginx.conf").write_text(main)
    checked = subprocess.run([binary, "-t", "-q", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"),
                              "-e", str(tmp_path / "startup.log")], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
