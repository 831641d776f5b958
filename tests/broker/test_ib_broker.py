"""IBBroker against the simulator: domain objects in and out, reconnect after a restart, no duplicate orders."""

from __future__ import annotations

import asyncio
import importlib
import math
from datetime import UTC, datetime, timedelta

import pytest

from terminal.broker.base import NotConnected, UnknownInstrument
from terminal.broker.events import (
    ConnectionEvent,
    ConnectionState,
    DepthEvent,
    FillEvent,
    OrderEvent,
    QuoteEvent,
)
from terminal.broker.pacing import PacingLimiter
from terminal.domain import BarSize, Instrument, Order, OrderSide, OrderStatus, OrderType, SecType
from terminal.sim.tws_server import SimServer


@pytest.fixture(params=["ib_async", "ib_insync"])
def broker_cls(request, monkeypatch):
    monkeypatch.setenv("QT_IB_CLIENT", request.param)
    import terminal.broker.ib as module

    module = importlib.reload(module)
    assert module.CLIENT_LIBRARY == request.param
    yield module.IBBroker
    monkeypatch.delenv("QT_IB_CLIENT")
    importlib.reload(module)


@pytest.fixture
def loop():
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield loop
    loop.close()
    asyncio.set_event_loop(None)


@pytest.fixture
def sim(loop):
    server = SimServer(port=0, seed=9, tick_interval=0.05)
    loop.run_until_complete(server.start())
    yield server
    loop.run_until_complete(server.stop())


@pytest.fixture
def broker(loop, sim, broker_cls):
    b = broker_cls(reconnect_initial=0.2, reconnect_max=1.0)
    events = []
    b.events.subscribe(events.append)
    b.seen = events
    loop.run_until_complete(b.connect("127.0.0.1", sim.port, 3))
    yield b
    loop.run_until_complete(b.disconnect())


def wait(loop, predicate, timeout=5.0, what="condition"):
    async def poll():
        for _ in range(int(timeout / 0.02)):
            if predicate():
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what}")

    loop.run_until_complete(poll())


def test_qualify_fills_contract_details(loop, broker):
    aapl = loop.run_until_complete(broker.qualify(Instrument("AAPL")))
    es = loop.run_until_complete(broker.qualify(Instrument("ES", SecType.FUTURE, "CME")))
    eur = loop.run_until_complete(broker.qualify(Instrument("EUR", SecType.FOREX, "IDEALPRO", "USD")))
    assert (aapl.contract_id, aapl.tick_size, aapl.primary_exchange) == (265598, 0.01, "NASDAQ")
    assert (es.tick_size, es.multiplier, es.last_trade_date) == (0.25, 50.0, "20261218")
    assert eur.tick_size == 0.00005 and eur.sec_type is SecType.FOREX


def test_unknown_symbol_raises_unknown_instrument(loop, broker):
    with pytest.raises(UnknownInstrument, match="NOSUCH"):
        loop.run_until_complete(broker.qualify(Instrument("NOSUCH")))


def test_quotes_and_depth_arrive_as_domain_events(loop, broker):
    aapl = loop.run_until_complete(broker.qualify(Instrument("AAPL")))
    loop.run_until_complete(broker.subscribe_quotes(aapl))
    loop.run_until_complete(broker.subscribe_depth(aapl, 5))
    wait(loop, lambda: any(isinstance(e, QuoteEvent) and math.isfinite(e.quote.bid) for e in broker.seen), what="quotes")
    wait(loop, lambda: any(isinstance(e, DepthEvent) and len(e.bids) == 5 for e in broker.seen), what="depth")
    quote = [e.quote for e in broker.seen if isinstance(e, QuoteEvent)][-1]
    assert quote.symbol == "AAPL" and quote.bid < quote.ask


def _extended_hours(first: datetime, last: datetime, step: timedelta) -> list[datetime]:
    """Bar times of a US stock's extended hours (04:00-20:00 New York) on XNYS trading days, from the calendar."""
    import exchange_calendars
    import pandas as pd

    days = exchange_calendars.get_calendar("XNYS").sessions_in_range(first.date(), last.date())
    times = []
    for day in days:
        local = pd.date_range(day + pd.Timedelta(hours=4), day + pd.Timedelta(hours=20) - step, freq=step)
        times += [t.to_pydatetime() for t in local.tz_localize("America/New_York").tz_convert("UTC")]
    return [t for t in times if first <= t <= last]


def test_history_is_chunked_has_every_trading_hour_and_reports_progress(loop, broker):
    aapl = loop.run_until_complete(broker.qualify(Instrument("AAPL")))
    broker.pacing = PacingLimiter(max_requests=100, window_seconds=1.0, identical_gap_seconds=0.0)
    end = datetime(2026, 11, 30, 21, tzinfo=UTC)  # 75 days back: Labor Day, Thanksgiving and 10 weekends
    progress = []
    bars = loop.run_until_complete(broker.history(aapl, BarSize.HOUR_1, end - timedelta(days=75), end, progress.append))
    assert len(progress) == 3 and progress[-1] == 1.0  # 30-day chunks
    assert [b.time for b in bars] == _extended_hours(end - timedelta(days=75), end - timedelta(hours=1), timedelta(hours=1))


def test_five_second_history_reaches_back_over_a_weekend(loop, broker):
    """Monday morning back to Friday afternoon: the chunks of the weekend come back empty, and the walk goes on."""
    aapl = loop.run_until_complete(broker.qualify(Instrument("AAPL")))
    broker.pacing = PacingLimiter(max_requests=1000, window_seconds=1.0, identical_gap_seconds=0.0)
    friday, monday = datetime(2026, 11, 27, 18, tzinfo=UTC), datetime(2026, 11, 30, 15, tzinfo=UTC)
    bars = loop.run_until_complete(broker.history(aapl, BarSize.SEC_5, friday, monday))
    assert [b.time for b in bars] == _extended_hours(friday, monday - timedelta(seconds=5), timedelta(seconds=5))


def test_orders_place_modify_cancel_and_fill(loop, broker):
    aapl = loop.run_until_complete(broker.qualify(Instrument("AAPL")))
    resting = loop.run_until_complete(broker.place(Order(aapl, OrderSide.BUY, 10, OrderType.LIMIT, limit_price=100.0,
                                                         client_order_id="qt-a")))
    assert resting.order_id > 0
    wait(loop, lambda: any(isinstance(e, OrderEvent) and e.order.status is OrderStatus.SUBMITTED
                           and e.order.client_order_id == "qt-a" for e in broker.seen), what="submitted")
    loop.run_until_complete(broker.modify(Order(aapl, OrderSide.BUY, 20, OrderType.LIMIT, limit_price=101.0,
                                                client_order_id="qt-a")))
    wait(loop, lambda: any(isinstance(e, OrderEvent) and e.order.quantity == 20 and e.order.limit_price == 101.0
                           for e in broker.seen), what="modified")
    loop.run_until_complete(broker.cancel(resting))
    wait(loop, lambda: any(isinstance(e, OrderEvent) and e.order.status is OrderStatus.CANCELLED for e in broker.seen),
         what="cancelled")
    loop.run_until_complete(broker.place(Order(aapl, OrderSide.BUY, 50, client_order_id="qt-b")))
    wait(loop, lambda: any(isinstance(e, FillEvent) for e in broker.seen), what="a fill")
    fill = next(e.fill for e in broker.seen if isinstance(e, FillEvent))
    assert fill.client_order_id == "qt-b" and fill.commission == pytest.approx(0.35)
    positions = loop.run_until_complete(broker.positions())
    assert [(p.instrument.symbol, p.quantity) for p in positions] == [("AAPL", 50)]
    account = loop.run_until_complete(broker.account())
    assert account.account == "DU1234567" and account.net_liquidation > 0


def test_bracket_children_wait_for_the_parent(loop, broker):
    aapl = loop.run_until_complete(broker.qualify(Instrument("AAPL")))
    parent = Order(aapl, OrderSide.BUY, 10, OrderType.LIMIT, limit_price=50.0, client_order_id="qt-p")  # never fills
    take = Order(aapl, OrderSide.SELL, 10, OrderType.LIMIT, limit_price=60.0, client_order_id="qt-p-tp")
    stop = Order(aapl, OrderSide.SELL, 10, OrderType.STOP, stop_price=45.0, client_order_id="qt-p-sl")
    placed = loop.run_until_complete(broker.place_bracket(parent, take, stop))
    assert [o.parent_id for o in placed] == [0, placed[0].order_id, placed[0].order_id]
    wait(loop, lambda: len(broker.ib.openTrades()) == 3, what="3 open")
    loop.run_until_complete(asyncio.sleep(0.2))
    statuses = {t.order.orderId: t.orderStatus.status for t in broker.ib.openTrades()}
    assert statuses[placed[0].order_id] == "Submitted"
    assert statuses[placed[1].order_id] == statuses[placed[2].order_id] == "PreSubmitted"


def test_restart_of_the_simulator_reconnects_resubscribes_and_never_resends(loop, sim, broker):
    aapl = loop.run_until_complete(broker.qualify(Instrument("AAPL")))
    loop.run_until_complete(broker.subscribe_quotes(aapl))
    loop.run_until_complete(broker.place(Order(aapl, OrderSide.BUY, 5, client_order_id="qt-once")))
    wait(loop, lambda: sim.engine.submitted_count == 1, what="the order at the server")
    port = sim.port
    loop.run_until_complete(sim.stop())
    wait(loop, lambda: any(isinstance(e, ConnectionEvent) and e.state is ConnectionState.RECONNECTING
                           for e in broker.seen), what="reconnecting")
    with pytest.raises(NotConnected):
        loop.run_until_complete(broker.place(Order(aapl, OrderSide.BUY, 5, client_order_id="qt-later")))
    restarted = SimServer(port=port, seed=9, tick_interval=0.05)
    loop.run_until_complete(restarted.start())
    try:
        mark = len(broker.seen)
        wait(loop, lambda: any(isinstance(e, ConnectionEvent) and e.state is ConnectionState.CONNECTED
                               for e in broker.seen[mark:]), timeout=10, what="reconnected")
        wait(loop, lambda: any(isinstance(e, QuoteEvent) for e in broker.seen[mark:]), what="quotes again")
        loop.run_until_complete(asyncio.sleep(0.5))
        assert restarted.engine.submitted_count == 0  # nothing was sent again
    finally:
        loop.run_until_complete(broker.disconnect())
        loop.run_until_complete(restarted.stop())


def test_pacing_limits_requests_per_window_and_identical_requests():
    now = [0.0]
    limiter = PacingLimiter(max_requests=3, window_seconds=10, identical_gap_seconds=15, clock=lambda: now[0])
    for key in ("a", "b", "c"):
        assert limiter.delay(key) == 0
        limiter.record(key)
    assert limiter.delay("d") == pytest.approx(10)
    now[0] = 10.0
    assert limiter.delay("d") == 0
    assert limiter.delay("a") == pytest.approx(5)  # identical request 15 s apart


def test_the_simulator_session_is_known_as_simulator_and_stamps_what_it_reports(loop, sim, broker):
    from terminal.broker.events import AccountEvent
    from terminal.domain import Provenance

    assert broker.provenance is Provenance.SIMULATOR  # its account id DU… alone would say paper
    aapl = loop.run_until_complete(broker.qualify(Instrument("AAPL")))
    loop.run_until_complete(broker.place(Order(aapl, OrderSide.BUY, 5, client_order_id="qt-sim")))
    wait(loop, lambda: any(isinstance(e, FillEvent) for e in broker.seen), what="a fill")
    reported = [e for e in broker.seen if isinstance(e, OrderEvent | FillEvent | AccountEvent)]
    assert {(e.order if isinstance(e, OrderEvent) else e.fill if isinstance(e, FillEvent) else e.account).provenance
            for e in reported} == {Provenance.SIMULATOR}
    assert loop.run_until_complete(broker.account()).provenance is Provenance.SIMULATOR
    assert {f.provenance for f in loop.run_until_complete(broker.executions())} == {Provenance.SIMULATOR}


def test_a_replay_simulator_is_known_as_replay_and_fills_of_the_connect_sync_carry_it(loop, broker_cls):
    from terminal.domain import Provenance

    server = SimServer(port=0, seed=9, tick_interval=0.05, provenance=Provenance.REPLAY)
    loop.run_until_complete(server.start())
    first = broker_cls()
    try:
        loop.run_until_complete(first.connect("127.0.0.1", server.port, 4))
        assert first.provenance is Provenance.REPLAY
        aapl = loop.run_until_complete(first.qualify(Instrument("AAPL")))
        loop.run_until_complete(first.place(Order(aapl, OrderSide.BUY, 3, client_order_id="qt-replay")))
        wait(loop, lambda: any(f.commissionReport.execId for f in first.ib.fills()), what="a fill")
        loop.run_until_complete(first.disconnect())
        again = broker_cls()  # a new connection gets the day's executions in its connect sync
        seen = []
        again.events.subscribe(seen.append)
        loop.run_until_complete(again.connect("127.0.0.1", server.port, 4))
        synced = [e.fill for e in seen if isinstance(e, FillEvent)]
        assert synced and {f.provenance for f in synced} == {Provenance.REPLAY}
        loop.run_until_complete(again.disconnect())
    finally:
        loop.run_until_complete(server.stop())


def test_a_simulator_must_say_it_is_one():
    from terminal.domain import Provenance

    with pytest.raises(ValueError, match="must be simulator or replay"):
        SimServer(provenance=Provenance.LIVE)
