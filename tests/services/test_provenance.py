"""Simulated never passes for real: simulator orders and fills keep their provenance and stay out of a live
account's P&L and daily-loss limit (and a live account's out of the simulator's)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from terminal.domain import Account, Fill, Order, OrderRejected, OrderSide, Provenance
from terminal.monitor import MonitorState
from terminal.monitor.session_feed import SessionFeed
from tests.support.trading import close, fill_order

LIVE_ACCOUNT = "U7654321"  # not DU…/DF…: what IB gives a live account


def _rule(loop, coroutine) -> str:
    with pytest.raises(OrderRejected) as info:
        loop.run_until_complete(coroutine)
    return f"{info.value.rule}: {info.value}"


def _flushed(loop, feed: SessionFeed) -> dict:
    async def flush() -> None:
        feed.flush()

    loop.run_until_complete(flush())
    return feed.state.section("account").value


def test_orders_and_fills_on_the_simulator_are_recorded_as_simulator(loop, sims, sessions):
    session = sessions(sims().port)
    assert session.status.provenance is Provenance.SIMULATOR
    aapl = loop.run_until_complete(session.market.qualify("AAPL"))
    filled = fill_order(loop, session, Order(aapl, OrderSide.BUY, 10))
    assert filled.provenance is Provenance.SIMULATOR
    loop.run_until_complete(session.records.flush())
    [stored] = session.store.orders.list()
    assert stored.provenance is Provenance.SIMULATOR
    assert {f.provenance for f in session.store.fills.list()} == {Provenance.SIMULATOR}


def test_simulator_fills_are_absent_from_a_live_accounts_realized_pnl_and_the_other_way_round(loop, sims, sessions):
    sim = sims()
    session = sessions(sim.port)
    aapl = loop.run_until_complete(session.market.qualify("AAPL"))
    fill_order(loop, session, Order(aapl, OrderSide.BUY, 100))
    fill_order(loop, session, Order(aapl, OrderSide.SELL, 100))
    loop.run_until_complete(session.records.flush())
    simulated = sum(f.realized_pnl for f in session.orders.fills)
    # the same terminal traded a live account today too: its session recorded this fill
    session.store.fills.save(Fill("live.0001", 9, aapl, OrderSide.SELL, 10, 200.0, datetime.now(UTC), 1.0,
                                  account=LIVE_ACCOUNT, realized_pnl=500.0, provenance=Provenance.LIVE))
    close(loop, session)
    restarted = sessions(sim.port)
    assert {f.provenance for f in restarted.orders.fills} == {Provenance.SIMULATOR, Provenance.LIVE}  # all kept
    feed = SessionFeed(restarted, MonitorState("terminal"), loop)
    feed.start()
    try:
        on_simulator = _flushed(loop, feed)
        assert on_simulator["provenance"] == "simulator"
        assert on_simulator["realized_pnl"] == pytest.approx(simulated)  # the live fill's 500 is not in it
        restarted.portfolio.on_account(Account(LIVE_ACCOUNT, net_liquidation=2_000_000, provenance=Provenance.LIVE))
        on_live = _flushed(loop, feed)
        assert (on_live["account"], on_live["provenance"]) == (LIVE_ACCOUNT, "live")
        assert on_live["realized_pnl"] == pytest.approx(500.0)  # and no simulator fill in the live figure
    finally:
        feed.stop()


def test_a_simulator_loss_never_counts_toward_a_live_daily_loss_limit_and_the_other_way_round(loop, sims, sessions):
    sim = sims()
    session = sessions(sim.port)
    portfolio = session.portfolio
    assert portfolio.account.provenance is Provenance.SIMULATOR and portfolio.daily_pnl() == pytest.approx(0, abs=1)
    live = Account(LIVE_ACCOUNT, net_liquidation=2_000_000, provenance=Provenance.LIVE)
    portfolio.on_account(live)  # one baseline for every account would make this a 1,000,000 gain
    assert portfolio.daily_pnl() == 0
    portfolio.on_account(replace(live, net_liquidation=1_930_000))
    assert portfolio.daily_pnl() == -70_000  # over the live account's limit
    loop.run_until_complete(session.reconcile())  # the simulator's account again
    assert portfolio.account.provenance is Provenance.SIMULATOR
    assert portfolio.daily_pnl() == pytest.approx(0, abs=1)
    aapl = loop.run_until_complete(session.market.qualify("AAPL"))
    fill_order(loop, session, Order(aapl, OrderSide.BUY, 1))  # the live loss does not stop simulator orders
    loop.run_until_complete(session.records.flush())
    close(loop, session)
    sim.accounts.cash["DU1234567"] -= 70_000  # now the simulator account loses
    restarted = sessions(sim.port)
    assert restarted.portfolio.daily_pnl() == pytest.approx(-70_000, abs=1_000)
    text = _rule(loop, restarted.orders.place(Order(aapl, OrderSide.BUY, 1)))
    assert text.startswith("daily_loss_limit:")
    restarted.portfolio.on_account(replace(live, net_liquidation=2_000_000))  # the live account, back to its start
    assert restarted.portfolio.daily_pnl() == 0  # its own baseline survived the restart; the simulator's loss is not in it
