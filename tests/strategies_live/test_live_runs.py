"""Strategies trading on the simulator through the real session: every order goes through the order service with
the run's identity and the risk rules; a run survives a restart of the simulator and of the terminal (interrupted,
resumed by the trader, never sending a bar's orders twice); it is set against its own backtest.

The simulator's real-time bars are 5 seconds of wall time, as TWS's: each test takes a few bars (20-40 s)."""

from __future__ import annotations

import pytest

from terminal.domain import DomainError, Order, OrderSide, OrderStatus, OrderType
from terminal.services.confirmation import ConfirmationRequired
from terminal.services.strategies import FAILED, INTERRUPTED, RUNNING
from tests.strategies_live.conftest import FLIP, RAISES_LATER
from tests.support.trading import close, fill_order, wait

BARS = 40  # seconds: enough for a few 5-second bars on a busy machine


def _start(loop, session, source=FLIP, name="flip", **options):
    options.setdefault("warmup_bars", 0)
    return loop.run_until_complete(session.strategies.start(name, source, {}, "AAPL", "5s", confirmed=True,
                                                            **options))


def _strategy_orders(session, run):
    return [o for o in session.orders.orders.values() if o.client_order_id.startswith(run.prefix)]


def test_a_strategy_trades_through_the_order_service_with_its_own_identity_and_the_risk_rules(loop, sims, sessions):
    sim = sims()
    session = sessions(sim.port)
    run = _start(loop, session)
    wait(loop, lambda: len(run.fills) >= 2, timeout=BARS, what="the strategy's first two fills")
    orders = _strategy_orders(session, run)
    assert {o.source for o in orders} == {"strategy flip"}
    assert all(o.order_type is OrderType.MARKET and o.quantity == 10 for o in orders)
    at_sim = {w.order.client_order_id for w in sim.engine.orders.values()}
    assert {o.client_order_id for o in orders if o.status is OrderStatus.FILLED} <= at_sim
    stored = {o.client_order_id for o in session.store.orders.list(limit=100)}
    assert {o.client_order_id for o in orders} <= stored  # recorded before it was sent, as every order

    session.risk.update(max_order_quantity=5)  # the run's next order (10) breaks it: refused, the run goes on
    refused = run.rejected
    wait(loop, lambda: run.rejected > refused, timeout=BARS, what="an order refused by the risk rules")
    assert "max order quantity" in run.record.message and run.status == RUNNING
    assert any(e.source == "risk" and "max order quantity" in e.message for e in session.log.entries)

    session.risk.update(max_order_quantity=10_000)
    held = run.position
    closing = loop.run_until_complete(session.strategies.stop(run.run_id, flatten=True, confirmed=True))
    assert (closing is None) == (held == 0)
    wait(loop, lambda: run.position == 0, what="the stopped run to be flat")
    assert run.status == "stopped" and run.worker is None
    assert session.portfolio.position_quantity(run.instrument) == 0


def test_starting_is_asked_and_wrong_settings_are_refused_before_anything_starts(loop, sims, sessions):
    sim = sims()
    session = sessions(sim.port)
    strategies = session.strategies
    with pytest.raises(ConfirmationRequired, match="sends market orders without asking"):
        loop.run_until_complete(strategies.start("flip", FLIP, {}, "AAPL", "5s"))
    for options, message in [({"symbol": "NOSUCHXYZ"}, "NOSUCHXYZ is not known"),
                             ({"bar_size": "1d"}, "decides on bars of 5s"),
                             ({"capital": -5.0}, "capital -5 is not valid"),
                             ({"raw_params": {"units": "ten"}}, "units"),
                             ({"source": "x = 1\n"}, "no class derived from Strategy")]:
        call = {"strategy": "flip", "source": FLIP, "raw_params": {}, "symbol": "AAPL", "bar_size": "5s",
                "confirmed": True, **options}
        with pytest.raises(DomainError, match=message):
            loop.run_until_complete(strategies.start(**call))
    assert strategies.runs == {} and session.store.live_runs.all() == []
    run = _start(loop, session)
    with pytest.raises(DomainError, match="already trades AAPL"):
        _start(loop, session)
    loop.run_until_complete(strategies.stop(run.run_id))


def test_a_restart_of_the_terminal_interrupts_the_run_and_resume_goes_on_without_sending_a_bar_twice(
        loop, sims, sessions):
    sim = sims()
    session = sessions(sim.port)
    run = _start(loop, session)
    wait(loop, lambda: len(run.fills) == 1, timeout=BARS, what="the strategy's first fill")
    sent = {o.client_order_id for o in _strategy_orders(session, run)}
    close(loop, session)  # the terminal exits with the strategy long 10
    assert session.store.live_runs.get(run.run_id).status == INTERRUPTED

    again = sessions(sim.port)
    kept = again.strategies.runs[run.run_id]
    assert kept.status == INTERRUPTED and kept.position == 10  # from the stored fills of its orders
    assert any("interrupted" in e.message for e in again.log.entries)
    decided = len(again.store.live_runs.bars(run.run_id))
    loop.run_until_complete(again.strategies.resume(run.run_id, confirmed=True))
    wait(loop, lambda: kept.position == 0, timeout=BARS, what="the resumed strategy to close its long")
    ids = [o.client_order_id for o in _strategy_orders(again, kept)]
    assert len(ids) == len(set(ids)) and sent < set(ids)
    assert len(again.store.live_runs.bars(run.run_id)) > decided
    loop.run_until_complete(again.strategies.stop(run.run_id))


def test_the_run_goes_on_after_the_simulator_restarts(loop, sims, sessions):
    sim = sims()
    session = sessions(sim.port)
    run = _start(loop, session)
    wait(loop, lambda: len(run.fills) == 2, timeout=BARS, what="a buy and a sell: flat again")
    port = sim.port
    loop.run_until_complete(sim.stop())  # TWS restarts: a fresh simulator on the same port
    sims(port=port)
    wait(loop, lambda: len(run.fills) >= 4, timeout=60, what="the strategy to trade on the restarted simulator")
    assert run.status == RUNNING
    ids = [f.client_order_id for f in run.fills]
    assert len(set(ids)) == len(ids)
    loop.run_until_complete(session.strategies.stop(run.run_id, flatten=True, confirmed=True))


def test_a_strategy_that_raises_fails_alone_and_the_terminal_keeps_trading(loop, sims, sessions):
    sim = sims()
    session = sessions(sim.port)
    run = _start(loop, session, RAISES_LATER, "breaks")
    wait(loop, lambda: run.status == FAILED, timeout=BARS, what="the strategy to fail on its second bar")
    assert run.record.message.startswith("breaks: ZeroDivisionError: it divides by zero on its second bar (line 14")
    assert session.store.live_runs.get(run.run_id).status == FAILED
    assert any(e.source == "strategy" and "ZeroDivisionError" in e.message for e in session.log.entries)
    aapl = run.instrument
    assert fill_order(loop, session, Order(aapl, OrderSide.BUY, 1, OrderType.MARKET)).status is OrderStatus.FILLED


def test_a_run_is_set_against_its_backtest_over_the_bars_it_saw(loop, sims, sessions):
    sim = sims()
    session = sessions(sim.port)
    run = _start(loop, session)
    wait(loop, lambda: len(run.fills) >= 5, timeout=60, what="five fills")
    loop.run_until_complete(session.strategies.stop(run.run_id))
    comparison, what, backtest_run = loop.run_until_complete(session.strategies.compare(run.run_id))
    assert f"live run {run.run_id}" in what
    assert len(comparison.matched) >= 1 and comparison.missed == []
    for m in comparison.matched:  # the backtest fills at the next bar's open; the simulator at its quote
        assert abs(m.entry_slippage) < 1.0 and abs(m.exit_slippage) < 1.0
        assert m.actual.quantity == m.backtest.quantity == 10
    saved = loop.run_until_complete(session.backtests.saved_run(backtest_run))
    assert saved is not None and saved["strategy_name"] == "flip"
    loop.run_until_complete(session.journal.sync())
    journaled = [t for t in loop.run_until_complete(session.journal.trips("sim")) if t.entry_order.startswith(run.prefix)]
    assert journaled and {t.strategy for t in journaled} == {"flip"}  # the journal names the live strategy


def test_a_strategys_stop_and_target_go_to_the_broker_as_a_bracket_and_its_next_order_cancels_them(
        loop, sims, sessions):
    from tests.strategies_live.conftest import BRACKETED

    sim = sims()
    session = sessions(sim.port)
    run = _start(loop, session, BRACKETED, "bracketed")
    wait(loop, lambda: len(run.fills) >= 1, timeout=BARS, what="the bracketed entry's fill")
    orders = _strategy_orders(session, run)
    entry = next(o for o in orders if not o.parent_ref)
    exits = {o.client_order_id: o for o in orders if o.parent_ref == entry.client_order_id}
    assert set(exits) == {f"{entry.client_order_id}-tp", f"{entry.client_order_id}-sl"}
    take, stop = exits[f"{entry.client_order_id}-tp"], exits[f"{entry.client_order_id}-sl"]
    assert take.order_type is OrderType.LIMIT and stop.order_type is OrderType.STOP
    fill = run.fills[0].price
    assert take.limit_price == pytest.approx(fill * 1.03, rel=0.01) and stop.stop_price == pytest.approx(fill * 0.97,
                                                                                                        rel=0.01)
    at_sim = {w.order.client_order_id for w in sim.engine.orders.values()}
    assert set(exits) <= at_sim  # the exits work at the broker
    wait(loop, lambda: run.position == 0 and all(not session.orders.orders[k].status.is_working for k in exits),
         timeout=BARS, what="the close on the next bar, its exits cancelled first")
    assert {session.orders.orders[k].status for k in exits} == {OrderStatus.CANCELLED}
    loop.run_until_complete(session.strategies.stop(run.run_id, flatten=True, confirmed=True))
    wait(loop, lambda: not [o for o in session.orders.working() if o.client_order_id.startswith(run.prefix)],
         what="nothing of the run working")
