"""The monitor's HTTP server: read-only API, token, stream, OpenAPI — against a real server on loopback."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time

import pytest

from terminal.monitor import MonitorConfigError, MonitorServer, MonitorState, MonitorThread
from terminal.monitor.openapi import ENDPOINTS
from terminal.monitor.security import check_bind, parse_listen, token_matches
from terminal.monitor.state import SECTIONS

TOKEN = "s3cret-token-0123456789abcdef"


@pytest.fixture
def monitor():
    started: list[MonitorThread] = []

    def start(token: str = "", state: MonitorState | None = None) -> MonitorServer:
        server = MonitorServer(state or MonitorState("terminal"), "127.0.0.1", 0, token)
        thread = MonitorThread(server)
        thread.start()
        started.append(thread)
        return server

    yield start
    for thread in started:
        thread.stop()


def request(server: MonitorServer, method: str, path: str, headers: dict | None = None, body: bytes | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response, data


def get_json(server: MonitorServer, path: str, headers: dict | None = None):
    response, data = request(server, "GET", path, headers)
    assert response.status == 200, (path, response.status, data)
    return json.loads(data)


def test_every_section_is_served_as_json_with_nan_as_null(monitor):
    state = MonitorState("terminal")
    state.publish("positions", {"positions": [{"symbol": "AAPL", "quantity": 100.0, "unrealized_pnl": float("nan")}]})
    server = monitor(state=state)
    for name in SECTIONS:
        payload = get_json(server, f"/api/{name}")
        assert payload["schema"] == 1 and "updated" in payload
    assert get_json(server, "/api/positions")["positions"] == [
        {"symbol": "AAPL", "quantity": 100.0, "unrealized_pnl": None}]
    snapshot = get_json(server, "/api/snapshot")
    assert set(SECTIONS) <= set(snapshot) and snapshot["positions"]["positions"][0]["symbol"] == "AAPL"
    assert get_json(server, "/api/health")["status"] == "ok"


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
@pytest.mark.parametrize("path", ["/api/positions", "/api/orders", "/api/stream", "/", "/nowhere"])
def test_every_write_method_answers_405_and_changes_nothing(monitor, method, path):
    state = MonitorState("terminal")
    state.publish("orders", {"orders": []})
    server = monitor(token=TOKEN, state=state)
    before = state.versions()
    response, data = request(server, method, path, {"Authorization": f"Bearer {TOKEN}"}, b'{"side": "BUY"}')
    assert response.status == 405
    assert response.getheader("Allow") == "GET, HEAD"
    assert "read-only" in json.loads(data)["error"]
    assert state.versions() == before


def test_no_cors_headers_and_security_headers_are_sent(monitor):
    server = monitor()
    response, _ = request(server, "GET", "/api/positions", {"Origin": "https://evil.example"})
    assert response.getheader("Access-Control-Allow-Origin") is None
    assert response.getheader("X-Content-Type-Options") == "nosniff"
    assert "frame-ancestors 'none'" in response.getheader("Content-Security-Policy")


def test_a_token_is_required_on_the_api_when_set(monitor):
    server = monitor(token=TOKEN)
    assert request(server, "GET", "/api/positions")[0].status == 401
    assert request(server, "GET", "/api/positions", {"Authorization": "Bearer " + "x" * len(TOKEN)})[0].status == 401
    assert request(server, "GET", "/api/positions", {"Authorization": f"Basic {TOKEN}"})[0].status == 401
    assert request(server, "GET", "/api/stream")[0].status == 401
    assert get_json(server, "/api/positions", {"Authorization": f"Bearer {TOKEN}"})["positions"] == []
    # liveness for load balancers and the page's own files need no token; they hold no trading data
    assert request(server, "GET", "/healthz")[0].status == 200
    assert request(server, "GET", "/")[0].status == 200


def test_token_comparison_is_exact():
    assert token_matches(f"Bearer {TOKEN}", TOKEN)
    assert token_matches(f"bearer {TOKEN}", TOKEN)
    assert not token_matches(f"Bearer {TOKEN[:-1]}", TOKEN)
    assert not token_matches(f"Bearer {TOKEN}x", TOKEN)
    assert not token_matches(None, TOKEN)
    assert not token_matches("", TOKEN)


def test_openapi_lists_every_json_endpoint_and_the_stream(monitor):
    document = get_json(monitor(), "/openapi.json")
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    for name in SECTIONS:
        assert f"/api/{name}" in paths
        assert "application/json" in paths[f"/api/{name}"]["get"]["responses"]["200"]["content"]
    assert set(ENDPOINTS) <= set(paths)
    assert "text/event-stream" in paths["/api/stream"]["get"]["responses"]["200"]["content"]


def _read_events(server: MonitorServer, headers: dict | None = None):
    """Open the stream; returns (events list filled by a reader thread, connection)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/api/stream", headers=headers or {})
    response = conn.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type").startswith("text/event-stream")
    events: list[tuple[str, dict]] = []

    def reader() -> None:
        buffer = b""
        try:
            while True:
                chunk = response.read1(65536)
                if not chunk:
                    return
                buffer += chunk
                while b"\n\n" in buffer:
                    block, buffer = buffer.split(b"\n\n", 1)
                    fields = dict(line.split(": ", 1) for line in block.decode().splitlines()
                                  if ": " in line and not line.startswith(":"))
                    if "event" in fields:
                        events.append((fields["event"], json.loads(fields["data"])))
        except Exception:  # the test closed the stream under the reader (http.client fails in several ways)
            return

    threading.Thread(target=reader, daemon=True).start()
    return events, _Closer(conn)


class _Closer:
    """Closes a stream whose response a reader thread is blocked on (``close`` alone would wait for it)."""

    def __init__(self, conn: http.client.HTTPConnection) -> None:
        self.conn = conn

    def close(self) -> None:
        try:
            self.conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.conn.close()


def _until(predicate, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_stream_sends_every_section_then_each_change_and_only_new_rows(monitor):
    state = MonitorState("terminal")
    state.append("fills", [{"execution_id": "e1"}, {"execution_id": "e2"}])
    server = monitor(state=state)
    events, conn = _read_events(server)
    _until(lambda: {name for name, _ in events} >= set(SECTIONS))
    first_fills = next(data for name, data in events if name == "fills")
    assert first_fills["reset"] is True and [r["execution_id"] for r in first_fills["rows"]] == ["e1", "e2"]
    count = len(events)
    state.publish("positions", {"positions": [{"symbol": "MSFT", "quantity": -5.0}]})
    state.append("fills", [{"execution_id": "e3"}])
    _until(lambda: any(n == "fills" for n, _ in events[count:]) and any(n == "positions" for n, _ in events[count:]))
    new = dict((name, data) for name, data in events[count:])
    assert new["positions"]["positions"] == [{"symbol": "MSFT", "quantity": -5.0}]
    assert new["fills"] == {"schema": 1, "reset": False, "total": 3, "rows": [{"execution_id": "e3"}]}
    state.append("fills", [{"execution_id": "n1"}], restart=True)  # a new trading day
    _until(lambda: events[-1][0] == "fills" and events[-1][1]["reset"])
    assert events[-1][1]["rows"] == [{"execution_id": "n1"}]
    conn.close()


def test_stream_with_token(monitor):
    server = monitor(token=TOKEN)
    events, conn = _read_events(server, {"Authorization": f"Bearer {TOKEN}"})
    _until(lambda: len(events) >= len(SECTIONS))
    conn.close()


def test_stopping_the_server_ends_open_streams(monitor):
    server = MonitorServer(MonitorState("terminal"), "127.0.0.1", 0)
    thread = MonitorThread(server)
    thread.start()
    events, conn = _read_events(server)
    _until(lambda: len(events) >= len(SECTIONS))
    started = time.monotonic()
    thread.stop()
    assert time.monotonic() - started < 5
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
    conn.close()


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "monitor.example.com"])
def test_an_address_off_loopback_without_a_token_is_refused_with_how_to_set_one(host):
    with pytest.raises(MonitorConfigError, match="QT_MONITOR_TOKEN"):
        check_bind(host, 8765, "")
    check_bind(host, 8765, TOKEN)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_loopback_needs_no_token(host):
    check_bind(host, 8765, "")


def test_a_short_token_is_refused():
    with pytest.raises(MonitorConfigError, match="at least 16"):
        check_bind("127.0.0.1", 8765, "abc")


@pytest.mark.parametrize("text,expected", [("127.0.0.1:8765", ("127.0.0.1", 8765)), ("[::1]:0", ("::1", 0)),
                                           ("localhost:80", ("localhost", 80))])
def test_listen_addresses_parse(text, expected):
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["8765", ":8765", "host:", "host:port", "host:70000"])
def test_bad_listen_addresses_say_what_is_valid(text):
    with pytest.raises(MonitorConfigError, match="HOST:PORT|port"):
        parse_listen(text)


def test_a_port_in_use_is_an_error_from_start(monitor):
    first = monitor()
    second = MonitorThread(MonitorServer(MonitorState("terminal"), "127.0.0.1", first.port))
    with pytest.raises(OSError):
        second.start()
