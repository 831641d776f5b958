"""Market replay: a recording played back by the simulator to an unmodified ib_async client — the
recorded ticks in order, history cut at the replay clock, and the same fills at 1× and 20×."""

from __future__ import annotations

import asyncio
import math

import ib_async
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from terminal.archive import open_archive
from terminal.broker.ib import IBBroker
from terminal.services.market import MarketService
from terminal.services.recording import RecordingRequest, RecordingService
from terminal.sim.contracts import Universe
from terminal.sim.replay import ReplayError, load_tape
from terminal.sim.replay_driver import ReplayDriver
from terminal.sim.tws_server import SimServer
from tests.support.trading import wait

KINDS = {1: "bid", 2: "ask", 4: "last", 8: "volume"}


def record(loop, sims, tmp_path, symbols=("AAPL", "MSFT"), ticks: int = 120, depth: bool = False):
    """A real recording: the simulator's stream through IBBroker into the archive."""
    sim = sims(tick_interval=0.03)
    broker = IBBroker()
    loop.run_until_complete(broker.connect("127.0.0.1", sim.port, 5))
    market = MarketService(broker)
    instruments = tuple(loop.run_until_complete(market.qualify(s)) for s in symbols)
    archive = open_archive(str(tmp_path / "archive"))
    service = RecordingService(broker, archive, "simulator", tmp_path / "spool")
    loop.run_until_complete(service.start(RecordingRequest(instruments, depth=depth, bars=False)))
    wait(loop, lambda: service.ticks_seen >= ticks * len(symbols), what="the recording")
    loop.run_until_complete(service.stop())
    loop.run_until_complete(broker.disconnect())
    loop.run_until_complete(sim.stop())
    return archive


def replay_server(loop, archive, speed: float, wait_for_play: bool = False, symbols=None) -> SimServer:
    universe = Universe()
    driver = ReplayDriver(load_tape(archive, universe, symbols), archive, speed=speed, wait_for_play=wait_for_play)
    server = SimServer(port=0, replay_driver=driver)
    loop.run_until_complete(server.start())
    return server


def test_an_unmodified_ib_async_client_gets_the_recorded_ticks_in_order(loop, sims, tmp_path):
    archive = record(loop, sims, tmp_path)
    server = replay_server(loop, archive, speed=20, wait_for_play=True)
    ib = ib_async.IB()
    loop.run_until_complete(ib.connectAsync("127.0.0.1", server.port, clientId=7))
    got: dict[str, list[tuple]] = {"AAPL": [], "MSFT": []}

    def on_tickers(tickers) -> None:
        for ticker in tickers:
            got[ticker.contract.symbol].extend((KINDS[t.tickType], t.price, t.size) for t in ticker.ticks
                                               if t.tickType in KINDS)

    ib.pendingTickersEvent += on_tickers
    for contract in (ib_async.Stock("AAPL", "SMART", "USD"), ib_async.Stock("MSFT", "SMART", "USD")):
        [qualified] = loop.run_until_complete(ib.qualifyContractsAsync(contract))
        ib.reqMktData(qualified)
    loop.run_until_complete(asyncio.sleep(0.2))
    assert got == {"AAPL": [], "MSFT": []}  # paused until Play: nothing yet, and nothing made up
    server.replay.play()
    wait(loop, lambda: server.replay.clock.ended, timeout=30, what="the end of the replay")
    loop.run_until_complete(asyncio.sleep(0.2))
    assert server.replay.clock.state() == "ended"
    end = server.replay.clock.now()
    for symbol in ("AAPL", "MSFT"):
        table = archive.read("ticks", symbol).sort_by("seq")
        recorded = []
        for row in table.to_pylist():
            value = {"bid": row["bid"], "ask": row["ask"], "last": row["last"]}.get(row["tick"])
            size = {"bid": row["bid_size"], "ask": row["ask_size"], "last": row["last_size"],
                    "volume": row["volume"]}[row["tick"]]
            recorded.append((row["tick"], value, size))
        played = [(k, None if k == "volume" else p, s) for k, p, s in got[symbol]]
        assert len(played) == len(recorded) > 100
        assert played == recorded
    # the clock holds the last state after the end: no synthetic ticks, the time stays put
    before = {s: len(v) for s, v in got.items()}
    loop.run_until_complete(asyncio.sleep(0.5))
    assert {s: len(v) for s, v in got.items()} == before
    assert server.replay.clock.now() == end
    [server_time] = [loop.run_until_complete(ib.reqCurrentTimeAsync())]
    assert abs(server_time.timestamp() - end.timestamp()) < 1.0
    ib.disconnect()
    loop.run_until_complete(server.stop())


def _fills(loop, archive, speed: float) -> list[tuple]:
    server = replay_server(loop, archive, speed=speed, wait_for_play=True, symbols=["AAPL"])
    tape = server.replay.tape
    asks = tape.quotes["ask"][np.isfinite(tape.quotes["ask"])]
    bids = tape.quotes["bid"][np.isfinite(tape.quotes["bid"])]
    ib = ib_async.IB()
    loop.run_until_complete(ib.connectAsync("127.0.0.1", server.port, clientId=8))
    [aapl] = loop.run_until_complete(ib.qualifyContractsAsync(ib_async.Stock("AAPL", "SMART", "USD")))
    ib.reqMktData(aapl)
    # a market order, a buy limit the recorded ask reaches later, and a sell limit it never reaches
    ib.placeOrder(aapl, ib_async.MarketOrder("BUY", 100))
    ib.placeOrder(aapl, ib_async.LimitOrder("BUY", 200, float(np.round(np.min(asks), 2))))
    ib.placeOrder(aapl, ib_async.LimitOrder("SELL", 100, float(np.round(np.max(bids) + 1.0, 2))))
    loop.run_until_complete(asyncio.sleep(0.3))
    server.replay.play()
    wait(loop, lambda: server.replay.clock.ended, timeout=60, what="the end of the replay")
    loop.run_until_complete(asyncio.sleep(0.3))
    fills = sorted((f.execution.time.timestamp(), f.execution.side, f.execution.shares, f.execution.price)
                   for f in ib.fills())
    open_orders = len([t for t in ib.openTrades()])
    ib.disconnect()
    loop.run_until_complete(server.stop())
    return fills + [("still working", open_orders)]


def test_fills_are_the_same_at_1x_and_20x(loop, sims, tmp_path):
    archive = record(loop, sims, tmp_path, symbols=("AAPL",), ticks=60)
    slow = _fills(loop, archive, 1.0)
    fast = _fills(loop, archive, 20.0)
    assert slow == fast
    assert len(slow) >= 3 and slow[-1] == ("still working", 1)  # the market and the buy limit filled


def test_history_never_reaches_past_the_replay_clock(loop, sims, tmp_path):
    archive = record(loop, sims, tmp_path, symbols=("AAPL",), ticks=150)
    server = replay_server(loop, archive, speed=1.0, wait_for_play=True)
    driver = server.replay
    tape = driver.tape
    middle = tape.start + (tape.end - tape.start) / 2
    driver.jump(middle)
    ib = ib_async.IB()
    loop.run_until_complete(ib.connectAsync("127.0.0.1", server.port, clientId=9))
    [aapl] = loop.run_until_complete(ib.qualifyContractsAsync(ib_async.Stock("AAPL", "SMART", "USD")))
    bars = loop.run_until_complete(ib.reqHistoricalDataAsync(aapl, "", "1800 S", "1 secs", "TRADES", False))
    assert bars
    assert max(b.date.timestamp() for b in bars) <= middle.timestamp()
    table = archive.read("ticks", "AAPL")
    before = table.filter(pc.less_equal(table["time"], pa.scalar(middle, table.schema.field("time").type)))
    last_trade = [x for x in before["last"].to_pylist() if x is not None and not math.isnan(x)][-1]
    assert bars[-1].close == last_trade
    ib.disconnect()
    loop.run_until_complete(server.stop())


def test_replaying_what_the_archive_does_not_hold_says_what_it_has(tmp_path):
    archive = open_archive(str(tmp_path / "empty"))
    with pytest.raises(ReplayError, match="nothing yet"):
        load_tape(archive, Universe(), ["AAPL"])


def test_a_resting_limit_fills_when_a_recorded_trade_prints_through_it_not_at_it(loop, tmp_path):
    """Quotes that never reach the limit, and a print below it: the buy limit fills at its limit, up to the
    print's size; a print exactly at a limit fills nothing (where our order stood in the queue is unknown)."""
    from terminal.archive.recorder import Recorder
    from terminal.domain import Instrument

    archive = open_archive(str(tmp_path / "archive"))
    recorder = Recorder(archive, "live", tmp_path / "spool")
    aapl = Instrument("AAPL", contract_id=265598)
    t = 1_764_000_000.0
    rows = [(t, "bid", 100.00, 500.0), (t, "ask", 100.02, 500.0), (t + 0.1, "last", 100.01, 100.0),
            (t + 1.0, "bid", 99.98, 400.0), (t + 1.0, "ask", 100.00, 400.0),
            (t + 1.5, "last", 99.90, 150.0),  # prints through the buy limit at 99.95: 150 of 200 fill
            (t + 2.0, "last", 99.95, 500.0),  # at the limit: nothing
            (t + 2.5, "last", 100.10, 300.0),  # at the sell limit: nothing
            (t + 3.0, "bid", 99.99, 400.0)]
    for row in rows:
        recorder.ticks(aapl, [row], recv=row[0])
    recorder.close()
    server = replay_server(loop, archive, speed=50.0, wait_for_play=True)
    ib = ib_async.IB()
    loop.run_until_complete(ib.connectAsync("127.0.0.1", server.port, clientId=11))
    [contract] = loop.run_until_complete(ib.qualifyContractsAsync(ib_async.Stock("AAPL", "SMART", "USD")))
    ib.reqMktData(contract)
    buy = ib.placeOrder(contract, ib_async.LimitOrder("BUY", 200, 99.95))
    sell = ib.placeOrder(contract, ib_async.LimitOrder("SELL", 100, 100.10))
    loop.run_until_complete(asyncio.sleep(0.3))
    server.replay.play()
    wait(loop, lambda: server.replay.clock.ended, timeout=20, what="the end of the replay")
    loop.run_until_complete(asyncio.sleep(0.3))
    fills = [(f.execution.side, f.execution.shares, f.execution.price, f.execution.time.timestamp()) for f in ib.fills()]
    assert fills == [("BOT", 150.0, 99.95, float(int(t + 1.5)))]  # execDetails carry whole seconds
    assert buy.orderStatus.status == "Submitted" and buy.orderStatus.filled == 150
    assert sell.orderStatus.status == "Submitted" and sell.orderStatus.filled == 0
    ib.disconnect()
    loop.run_until_complete(server.stop())
