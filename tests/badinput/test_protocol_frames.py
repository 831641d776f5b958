"""Broken and hostile TWS API frames against the real simulator over loopback: one corpus row per case.

Each row says what a client sends and what it must get: error 321 naming the bad field with the connection
kept (``Answered``), a closed connection after one log line saying why (``Closed``), or a handshake answer
(``Accepted``). Every case also checks that the simulator still serves a fresh client and logged no traceback.
The requests are laid out by the real ib_async encoder, then one field is spoiled.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass

import ib_async
import pytest

from terminal.sim.framing import ConnectionLimits
from tests.support.raw_tws import (
    CURRENT_TIME,
    START_API,
    STOCK,
    RawClient,
    errors,
    frame,
    handshake,
    ib_request,
    message,
    spoiled,
)

LIMITS = ConnectionLimits(max_frame_bytes=64 * 1024, frame_timeout=0.3)


# --- expected outcomes ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Answered:
    """Error ``code`` for request ``req_id`` whose text holds ``says``; the connection still answers requests."""

    code: int
    req_id: int
    says: str


@dataclass(frozen=True)
class Closed:
    """The connection is closed after a one-line log saying ``logs``; after the handshake error 321 says it too."""

    logs: str


@dataclass(frozen=True)
class Accepted:
    """The handshake is answered with server version ``version``."""

    version: int


@dataclass(frozen=True)
class Case:
    name: str
    phase: str  # "connect": sent on a fresh socket; "handshaken": after the handshake; "started": after startApi
    sent: bytes
    expect: Answered | Closed | Accepted


MARKET_DATA = ib_request("reqMktData", 7, STOCK, "", False, False, [])  # tickerId at 2, conId at 3
ORDER = ib_request("placeOrder", 42, STOCK, ib_async.LimitOrder("BUY", 100, 150.0))  # totalQuantity at 17, lmtPrice 19
HISTORY = ib_request("reqHistoricalData", 5, STOCK, "", "1 D", "1 day", "TRADES", False, 1, False, [])  # end at 15
DEPTH = ib_request("reqMktDepth", 3, STOCK, 10, False, [])  # numRows at 15
CANCEL = ib_request("cancelOrder", 42, "")  # orderId at 2

CORPUS = [
    # handshake
    Case("ib_insync_version_range", "connect", handshake(b"v157..176"), Accepted(176)),
    Case("ib_async_version_range_with_options", "connect", handshake(b"v157..178 +PACEAPI"), Accepted(176)),
    Case("versions_1_to_2", "connect", handshake(b"v1..2"), Closed("asked for API versions 1..2; the simulator speaks 176..176")),
    Case("versions_above_the_simulator", "connect", handshake(b"v177..200"), Closed("asked for API versions 177..200")),
    Case("reversed_version_range", "connect", handshake(b"v180..160"), Closed("asked for API versions 180..160")),
    Case("words_for_versions", "connect", handshake(b"vabc..def"), Closed("expected a version range like v157..176")),
    Case("endless_version_number", "connect", handshake(b"v" + b"9" * 50 + b"..176"), Closed("expected a version range")),
    Case("http_request", "connect", b"GET / HTTP/1.1\r\n\r\n", Closed("expected the API\\0 greeting")),
    Case("oversize_handshake_frame", "connect", b"API\0" + struct.pack(">I", 0xFFFFFFF0), Closed("over the simulator's 65536 byte limit")),
    Case("stalled_handshake", "connect", b"API\0\0\0", Closed("no handshake within 0.3 s")),
    Case("silent_client", "connect", b"", Closed("no handshake within 0.3 s")),
    # startApi
    Case("client_id_inf", "handshaken", message(71, 2, "inf", ""), Answered(321, -1, "clientId 'inf' is not a whole number")),
    Case("request_before_start_api", "handshaken", CURRENT_TIME, Answered(321, -1, "message 49 before startApi")),
    # a field its type cannot hold
    Case("ticker_id_inf", "started", spoiled(MARKET_DATA, 2, "inf"), Answered(321, -1, "tickerId 'inf' is not a whole number")),
    Case("ticker_id_nan", "started", spoiled(MARKET_DATA, 2, "nan"), Answered(321, -1, "tickerId 'nan' is not a whole number")),
    Case("ticker_id_1e999", "started", spoiled(MARKET_DATA, 2, "1e999"), Answered(321, -1, "tickerId '1e999' is not a whole number")),
    Case("ticker_id_words", "started", spoiled(MARKET_DATA, 2, "abc"), Answered(321, -1, "tickerId 'abc' is not a whole number")),
    Case("ticker_id_fraction", "started", spoiled(MARKET_DATA, 2, "1.5"), Answered(321, -1, "tickerId '1.5' is not a whole number")),
    Case("contract_id_inf", "started", spoiled(MARKET_DATA, 3, "inf"), Answered(321, 7, "conId 'inf' is not a whole number")),
    Case("order_quantity_inf", "started", spoiled(ORDER, 17, "inf"), Answered(321, 42, "totalQuantity 'inf' is not a finite number")),
    Case("order_quantity_nan", "started", spoiled(ORDER, 17, "nan"), Answered(321, 42, "totalQuantity 'nan' is not a finite number")),
    Case("order_quantity_words", "started", spoiled(ORDER, 17, "abc"), Answered(321, 42, "totalQuantity 'abc' is not a number")),
    Case("limit_price_1e999", "started", spoiled(ORDER, 19, "1e999"), Answered(321, 42, "lmtPrice '1e999' is not a finite number")),
    Case("order_id_inf", "started", spoiled(ORDER, 1, "inf"), Answered(321, -1, "orderId 'inf' is not a whole number")),
    Case("cancel_order_id_nan", "started", spoiled(CANCEL, 2, "nan"), Answered(321, -1, "orderId 'nan' is not a whole number")),
    Case("history_request_id_inf", "started", spoiled(HISTORY, 1, "inf"), Answered(321, -1, "reqId 'inf' is not a whole number")),
    Case("history_before_year_one", "started", spoiled(HISTORY, 15, "00010101 00:00:00"), Answered(321, 5, "before the year 1")),
    Case("depth_rows_inf", "started", spoiled(DEPTH, 15, "inf"), Answered(321, 3, "numRows 'inf' is not a whole number")),
    Case("pnl_request_id_minus_inf", "started", message(92, "-inf", "DU1234567", ""), Answered(321, -1, "reqId '-inf' is not a whole number")),
    Case("message_id_inf", "started", message("inf", 1), Answered(321, -1, "message id 'inf' is not a whole number")),
    # garbage inside a well-formed frame
    Case("unknown_message_id", "started", message(999, 1), Answered(321, -1, "message id '999' is not supported")),
    Case("no_closing_nul", "started", frame(b"49\x001"), Answered(321, -1, "does not end with a NUL")),
    Case("empty_frame", "started", frame(b""), Answered(321, -1, "does not end with a NUL")),
    Case("binary_garbage", "started", frame(b"\xff\xfe\xfd\x00\x01\x00"), Answered(321, -1, "message id")),
    Case("truncated_request", "started", message(1, 11, 7), Answered(321, 7, "contract fields are missing")),
    Case("too_few_order_fields", "started", message(*ORDER[:30]), Answered(321, 42, "malformed message")),
    # frames that break the stream
    Case("oversize_frame", "started", struct.pack(">I", 2**31), Closed("frame of 2147483648 bytes is over the simulator's 65536 byte limit")),
    Case("stalled_frame", "started", struct.pack(">I", 100) + b"49\x00", Closed("frame not finished within 0.3 s of its first byte (3 of 100 bytes arrived)")),
    Case("stalled_header", "started", b"\x00\x00", Closed("frame not finished within 0.3 s")),
]


async def exchange(port: int, case: Case) -> tuple[list[list[str]], bool]:
    """Send the case's bytes at its phase, then (if the connection should stay) ask for the time; read the answers."""
    client = await RawClient.connect(port)
    try:
        if case.phase == "connect":
            await client.send(case.sent)
            return await client.read_until(lambda fields: len(fields) == 2)  # the handshake answer
        await client.send(handshake())
        await client.read_until(lambda fields: len(fields) == 2)
        if case.phase == "started":
            await client.send(START_API)
            await client.read_until(lambda fields: fields[0] == "9")
        await client.send(case.sent)
        if isinstance(case.expect, Answered):
            await client.send(START_API if case.phase == "handshaken" else b"")
            await client.send(CURRENT_TIME)
        return await client.read_until(lambda fields: fields[0] == "49")
    finally:
        client.close()


@pytest.mark.parametrize("case", CORPUS, ids=[case.name for case in CORPUS])
def test_bad_input_gets_a_clear_answer_and_the_simulator_stays_up(case: Case, loop, sims, caplog) -> None:
    caplog.set_level(logging.INFO, logger="terminal.sim")
    server = sims(limits=LIMITS)
    seen, closed = loop.run_until_complete(exchange(server.port, case))
    expect = case.expect

    if isinstance(expect, Accepted):
        assert not closed and seen[-1][0] == str(expect.version)
    elif isinstance(expect, Answered):
        assert not closed, f"the connection closed; it should stay (saw {seen})"
        assert seen[-1][0] == "49", "the client was still answered after the bad request"
        matching = [e for e in errors(seen) if e[1] == expect.code and expect.says in e[2]]
        assert matching, f"no error {expect.code} saying {expect.says!r} among {errors(seen)}"
        assert matching[0][0] == expect.req_id
    else:
        assert closed, f"the connection stayed open (saw {seen})"
        lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and expect.logs in r.getMessage()]
        assert len(lines) == 1 and "\n" not in lines[0], [r.getMessage() for r in caplog.records]
        if case.phase != "connect":
            assert any(code == 321 and expect.logs in text for _, code, text in errors(seen)), errors(seen)

    async def fresh_client_is_served() -> list[str] | None:
        client = await RawClient.started(server.port, client_id=9)
        await client.send(CURRENT_TIME)
        answers, _ = await client.read_until(lambda fields: fields[0] == "49")
        client.close()
        return answers[-1]

    assert loop.run_until_complete(fresh_client_is_served())[0] == "49"
    assert server.partial_frame_bytes == 0
    assert not [r for r in caplog.records if r.exc_info and r.levelno >= logging.ERROR]
