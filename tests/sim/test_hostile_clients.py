"""Clients that stall mid-frame or never read, against the real simulator over loopback.

What must hold: the bytes the simulator holds for them stay under its limits (read from its own counters,
not the process size), each is cut off or skipped with one log line saying why, the real ib_async client
keeps being served meanwhile, and nothing logs a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import struct

import ib_async
import pytest

from terminal.sim.framing import ConnectionLimits
from terminal.sim.session import ClientSession
from tests.support.raw_tws import (
    CURRENT_TIME,
    STOCK,
    RawClient,
    handshake,
    ib_request,
    message,
)
from tests.support.trading import until

KiB = 1024


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.INFO, logger="terminal.sim")
    yield caplog
    assert not [r for r in caplog.records if r.exc_info and r.levelno >= logging.ERROR], "a traceback was logged"


def warnings(caplog, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and text in r.getMessage()]


async def ib_client(port: int, client_id: int = 1) -> ib_async.IB:
    ib = ib_async.IB()
    await ib.connectAsync("127.0.0.1", port, clientId=client_id, timeout=5)
    return ib


def test_thirty_stalled_partial_frames_hold_no_more_than_the_cap_and_are_cut_at_the_timeout(loop, sims, logs):
    # The timeout must outlast 30 handshakes and 24 MB over loopback on a loaded CI machine: a client the
    # timeout cuts before its bytes reach the cap would be counted under the wrong reason.
    limits = ConnectionLimits(max_frame_bytes=1024 * KiB, max_partial_frame_bytes=2048 * KiB, frame_timeout=1.5)
    server = sims(limits=limits)
    announced, sent = 900 * KiB, 800 * KiB  # each announces a 900 KiB frame, sends 800 KiB of it and stalls

    async def scenario() -> tuple[int, float, list[bool]]:
        clients = []
        for _ in range(30):  # each handshakes as it connects (the handshake too is due within the timeout)
            client = await RawClient.connect(server.port)
            await client.send(handshake())
            await client.read_until(lambda fields: len(fields) == 2)
            clients.append(client)
        peak = 0

        async def watch() -> None:
            nonlocal peak
            while True:
                peak = max(peak, server.partial_frame_bytes)
                await asyncio.sleep(0.002)

        watcher = asyncio.create_task(watch())
        await asyncio.gather(*(c.send(struct.pack(">I", announced) + b"x" * sent) for c in clients))
        ib = await ib_client(server.port)  # while the cap is full, a real client's whole frames still get through
        served = await ib.reqCurrentTimeAsync()
        closed = [(await c.read_until(lambda fields: False, timeout=5.0))[1] for c in clients]
        ib.disconnect()
        watcher.cancel()
        for client in clients:
            client.close()
        await until(lambda: not server.sessions)  # until the simulator has seen the ib client go
        return peak, served.year, closed

    peak, year, closed = loop.run_until_complete(scenario())
    assert 0 < peak <= limits.max_partial_frame_bytes  # 30 x 800 KiB = 24 000 KiB without the cap
    assert year >= 2024 and all(closed)
    over_cap = warnings(logs, "cap for unfinished frames")
    timed_out = warnings(logs, "frame not finished within 1.5 s of its first byte")
    assert len(over_cap) >= 27 and len(over_cap) + len(timed_out) == 30, (len(over_cap), len(timed_out))
    assert server.partial_frame_bytes == 0 and len(server.sessions) == 0


def test_a_frame_trickled_in_byte_by_byte_is_cut_at_the_timeout(loop, sims, logs):
    server = sims(limits=ConnectionLimits(frame_timeout=0.4))

    async def scenario() -> float:
        client = await RawClient.started(server.port)
        start = loop.time()
        closed = asyncio.create_task(client.read_until(lambda fields: False))
        await client.send(struct.pack(">I", 1000))
        while not closed.done():
            await client.send(b"x")
            await asyncio.sleep(0.05)
        client.close()
        assert closed.result()[1]
        return loop.time() - start

    assert 0.4 <= loop.run_until_complete(scenario()) < 1.0
    assert len(warnings(logs, "frame not finished within 0.4 s of its first byte")) == 1
    assert server.partial_frame_bytes == 0


def test_clients_that_never_read_are_skipped_for_market_data_while_a_reading_client_keeps_getting_ticks(
        loop, sims, logs):
    limits = ConnectionLimits(market_data_backlog=64 * KiB, max_write_buffer=4096 * KiB)
    server = sims(limits=limits, tick_interval=0.02)
    subscribe = b"".join(message(*ib_request("reqMktDepth", 100 + i, STOCK, 10, False, [])) for i in range(100))
    subscribe += b"".join(message(*ib_request("reqMktData", 1000 + i, STOCK, "", False, False, []))
                          for i in range(100))

    async def scenario() -> tuple[list[int], int, int, list[list[str]]]:
        ib = await ib_client(server.port)
        [contract] = await ib.qualifyContractsAsync(ib_async.Stock("MSFT", "SMART", "USD"))
        ticker = ib.reqMktData(contract)
        updates = []
        ticker.updateEvent += lambda t: updates.append(t.bid)
        stalled = [await RawClient.started(server.port, client_id=2 + n, receive_buffer=4 * KiB) for n in range(2)]
        for client in stalled:
            await client.send(subscribe)  # then never read
        sessions = [next(s for s in server.sessions if s.client_id == 2 + n) for n in range(2)]
        # until their socket buffers are full and the simulator has to queue
        await until(lambda: all(session.queued_bytes() for session in sessions))
        ticks_before, updates_before = server.live.tick_count, len(updates)
        peaks = [0, 0]
        for _ in range(50):  # 0.5 s
            await asyncio.sleep(0.01)
            peaks = [max(peak, session.queued_bytes()) for peak, session in zip(peaks, sessions, strict=True)]
        ticks, seen = server.live.tick_count - ticks_before, len(updates) - updates_before
        ib.disconnect()
        # the first stalled client reads again: it gets fresh quotes, not a backlog of old ones
        caught_up, _ = await stalled[0].read_until(lambda fields: fields[0] == "1" and fields[2] == "1000", 5.0)
        for client in stalled:
            client.close()
        return peaks, ticks, seen, caught_up

    peaks, ticks, seen, caught_up = loop.run_until_complete(scenario())
    one_update = 2 * KiB  # a quote or a 10-row depth update may start just under the backlog
    assert all(0 < peak <= limits.market_data_backlog + one_update for peak in peaks), peaks
    assert ticks >= 12, "the tick loop was held up"  # 25 at 0.02 s with no work at all
    assert seen >= ticks // 2, f"the reading client got {seen} updates in {ticks} ticks"
    assert caught_up and not warnings(logs, "dropping client")


def test_a_client_with_more_than_max_write_buffer_queued_is_dropped_and_the_others_are_served(loop, sims, logs):
    limits = ConnectionLimits(market_data_backlog=16 * KiB, max_write_buffer=256 * KiB)
    server = sims(limits=limits, tick_interval=0.01)
    depth = b"".join(message(*ib_request("reqMktDepth", 100 + i, STOCK, 10, False, [])) for i in range(100))
    history = ib_request("reqHistoricalData", 5, STOCK, "", "20000 S", "1 secs", "TRADES", False, 1, False, [])

    def stalled_session() -> ClientSession | None:
        return next((s for s in server.sessions if s.client_id == 2), None)

    async def scenario() -> tuple[bool, int, int]:
        ib = await ib_client(server.port)
        stalled = await RawClient.started(server.port, client_id=2, receive_buffer=4 * KiB)
        await stalled.send(depth)  # depth updates fill the socket buffers; it never reads
        await until(lambda: stalled_session().queued_bytes())
        await stalled.send(message(*history))  # about 1.1 MB of bars, which must now be queued
        await until(lambda: stalled_session() is None)  # 20 000 bars take a while to build on a loaded machine
        dropped = stalled_session() is None
        served = await ib.reqCurrentTimeAsync()
        ib.disconnect()
        stalled.close()
        return dropped, server.queued_bytes, served.year

    dropped, queued, year = loop.run_until_complete(scenario())
    assert dropped, "the client that never reads was not dropped within 10 s of asking for 1.1 MB of bars"
    assert queued < limits.max_write_buffer and year >= 2024
    [line] = warnings(logs, "dropping client 2")
    assert "over the 262144 byte limit: it is not reading its socket" in line


def test_real_ib_clients_connect_within_the_default_limits(loop, sims, logs):
    server = sims()

    async def scenario() -> int:
        ib = await ib_client(server.port)
        year = (await ib.reqCurrentTimeAsync()).year
        ib.disconnect()
        client = await RawClient.started(server.port, client_id=3)
        await client.send(CURRENT_TIME)
        client.close()
        return year

    assert loop.run_until_complete(scenario()) >= 2024
    assert server.partial_frame_bytes == 0 and not warnings(logs, "closing client")
