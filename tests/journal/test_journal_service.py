"""The journal in the store: fills from the simulator (real IB client over its socket) and saved backtest runs
become round trips with the right P&L, R-multiple and MAE/MFE; tags and notes survive a restart and a re-sync."""

from __future__ import annotations

import pytest

from terminal.backtest.runner import BacktestRequest, run_in_worker
from terminal.data import read_bars_csv
from terminal.domain import Order, OrderSide, OrderStatus, OrderType
from terminal.services.backtests import BacktestService
from terminal.services.journal import JournalService, breakdown
from tests.support.trading import fill_order, wait


def _flushed(loop, session):
    wait(loop, lambda: session.records.pending == 0, what="the fills to be written to the store")


def test_a_round_trip_on_the_simulator_is_journaled_with_its_pnl_and_r(loop, sims, sessions):
    sim = sims()
    session = sessions(sim.port)
    aapl = loop.run_until_complete(session.market.qualify("AAPL"))
    placed = loop.run_until_complete(session.orders.place_bracket(
        Order(aapl, OrderSide.BUY, 10, OrderType.MARKET), take_profit_offset=5.0, stop_loss_offset=2.0,
        confirmed=True))
    parent = placed[0]
    wait(loop, lambda: session.orders.orders[parent.client_order_id].status is OrderStatus.FILLED, what="entry")
    close = loop.run_until_complete(session.orders.close_position(aapl, confirmed=True))
    wait(loop, lambda: session.orders.orders[close.client_order_id].status is OrderStatus.FILLED, what="exit")
    _flushed(loop, session)
    assert loop.run_until_complete(session.journal.sync()) == 1
    [trip] = loop.run_until_complete(session.journal.trips(source="sim"))
    fills = session.store.fills.list()
    entry = [f for f in fills if f.side is OrderSide.BUY]
    exit_ = [f for f in fills if f.side is OrderSide.SELL]
    bought = sum(f.quantity * f.price for f in entry) / 10
    sold = sum(f.quantity * f.price for f in exit_) / 10
    commission = sum(f.commission for f in fills)
    assert (trip.symbol, trip.side, trip.quantity) == ("AAPL", "long", 10)
    assert trip.entry_price == pytest.approx(bought) and trip.exit_price == pytest.approx(sold)
    assert trip.pnl == pytest.approx(10 * (sold - bought) - commission)
    stop = next(o for o in session.store.orders.list() if o.order_type is OrderType.STOP)
    assert trip.stop_price == pytest.approx(stop.stop_price)
    assert trip.r_multiple == pytest.approx(10 * (sold - bought) / (10 * abs(bought - stop.stop_price)))
    assert loop.run_until_complete(session.journal.sync()) == 0  # idempotent


def test_tags_and_notes_survive_a_resync_and_a_restart(loop, sims, sessions):
    sim = sims()
    session = sessions(sim.port)
    aapl = loop.run_until_complete(session.market.qualify("AAPL"))
    fill_order(loop, session, Order(aapl, OrderSide.BUY, 5, OrderType.MARKET))
    fill_order(loop, session, Order(aapl, OrderSide.SELL, 5, OrderType.MARKET))
    _flushed(loop, session)
    loop.run_until_complete(session.journal.sync())
    [trip] = loop.run_until_complete(session.journal.trips())
    loop.run_until_complete(session.journal.annotate(trip.key, ["breakout", " A+ "], "chased the open"))
    loop.run_until_complete(session.stop())
    again = sessions(sim.port, client_id=2)  # the same store file, a new terminal
    assert loop.run_until_complete(again.journal.sync()) == 0
    [kept] = loop.run_until_complete(again.journal.trips())
    assert kept.tags == ("A+", "breakout") and kept.notes == "chased the open" and kept.pnl == trip.pnl
    [tagged] = [g for g in breakdown([kept], "tag") if g.group == "breakout"]
    assert tagged.trades == 1 and tagged.pnl == pytest.approx(kept.pnl)


def test_a_saved_backtests_journal_equals_its_trade_list(loop, sqlite_store, real_csv_dir):
    goog = read_bars_csv(real_csv_dir / "GOOG.csv")
    service = BacktestService(sqlite_store)
    request = BacktestRequest(BacktestService.template_source("sma_cross"), {"GOOG": goog}, "sma_cross",
                              params={"fast": 10, "slow": 30}, time_limit=120)
    result = run_in_worker(request)
    run_id = loop.run_until_complete(service.record(request, result))
    trips = loop.run_until_complete(service.journal.trips(source="backtest", run_id=run_id))
    assert len(trips) == len(result.trades) > 10
    for trip, trade in zip(trips, result.trades, strict=True):
        assert trip.entry_time.isoformat() == trade["entry_time"] and trip.exit_time.isoformat() == trade["exit_time"]
        assert (trip.entry_price, trip.exit_price, trip.pnl) == (trade["entry_price"], trade["exit_price"],
                                                                   trade["pnl"])
        assert trip.quantity == abs(trade["size"]) and trip.side == ("long" if trade["size"] > 0 else "short")
        # MAE/MFE by a plain loop over the bars held (entry at the entry bar's open, exit at the exit bar's open)
        sign, last = (1 if trade["size"] > 0 else -1), trade["exit_bar"] + (1 if trade.get("open") else 0)
        worst = best = 0.0
        for bar in range(trade["entry_bar"], last):
            for price in (goog["high"].iloc[bar], goog["low"].iloc[bar]):
                move = sign * abs(trade["size"]) * (price - trade["entry_price"])
                worst, best = min(worst, move), max(best, move)
        move = sign * abs(trade["size"]) * (trade["exit_price"] - trade["entry_price"])
        worst, best = min(worst, move), max(best, move)
        assert trip.mae == pytest.approx(worst) and trip.mfe == pytest.approx(best)
        assert trip.mae <= min(0.0, trip.pnl) + 1e-9 and trip.mfe >= max(0.0, trip.pnl) - 1e-9
    # a run saved before the journal existed (its rows removed here) is journaled on the next sync
    with sqlite_store.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM journal_trades")
    assert loop.run_until_complete(JournalService(sqlite_store).sync()) == len(result.trades)
