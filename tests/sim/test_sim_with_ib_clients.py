"""The unmodified ib_async and ib_insync clients against the simulator over loopback."""

from __future__ import annotations

import asyncio
import math

import pytest


def stock(lib, symbol="AAPL"):
    return lib.Stock(symbol, "SMART", "USD")


def test_connect_lists_the_account_and_answers_current_time(run, ib):
    assert ib.managedAccounts() == ["DU1234567"]
    assert run(ib.reqCurrentTimeAsync()).year >= 2024


def test_stock_future_and_fx_qualify_with_real_tick_rules(run, ib, ib_lib):
    aapl, es, eur = run(ib.qualifyContractsAsync(stock(ib_lib), ib_lib.Future("ES", exchange="CME"),
                                                 ib_lib.Forex("EURUSD")))
    assert aapl.conId == 265598 and aapl.primaryExchange == "NASDAQ"
    assert es.multiplier == "50" and es.lastTradeDateOrContractMonth == "20261218"
    assert eur.localSymbol == "EUR.USD"
    details = run(ib.reqContractDetailsAsync(es))
    assert details[0].minTick == 0.25


def test_unknown_symbol_gives_error_200_and_the_client_keeps_working(run, ib, ib_lib):
    errors = []
    ib.errorEvent += lambda req_id, code, message, *rest: errors.append(code)
    assert run(ib.qualifyContractsAsync(stock(ib_lib, "NOSUCH"))) in ([None], [])
    assert 200 in errors
    assert run(ib.qualifyContractsAsync(stock(ib_lib)))[0].conId == 265598


def test_quotes_stream_with_bid_below_ask(run, ib, ib_lib):
    [contract] = run(ib.qualifyContractsAsync(stock(ib_lib, "MSFT")))
    ticker = ib.reqMktData(contract)
    seen = []
    ticker.updateEvent += lambda t: seen.append((t.bid, t.ask, t.last))
    run(asyncio.sleep(0.6))
    assert len(seen) >= 3
    assert ticker.bid < ticker.ask and math.isfinite(ticker.last) and ticker.close > 0


def test_depth_has_several_levels_on_each_side(run, ib, ib_lib):
    [contract] = run(ib.qualifyContractsAsync(stock(ib_lib)))
    ticker = ib.reqMktDepth(contract, 5)
    run(asyncio.sleep(0.3))
    assert len(ticker.domBids) == 5 and len(ticker.domAsks) == 5
    assert ticker.domBids[0].price < ticker.domAsks[0].price
    assert [d.price for d in ticker.domBids] == sorted((d.price for d in ticker.domBids), reverse=True)


def _extended_hours_bars(first, last, minutes: int) -> set:
    """Bar times of a US stock's extended hours (04:00-20:00 New York) on XNYS trading days, from the calendar."""
    import exchange_calendars
    import pandas as pd

    times = set()
    for day in exchange_calendars.get_calendar("XNYS").sessions_in_range(first.date(), last.date()):
        local = pd.date_range(day + pd.Timedelta(hours=4), day + pd.Timedelta(hours=20), freq=f"{minutes}min",
                              inclusive="left").tz_localize("America/New_York").tz_convert("UTC")
        times |= {t.to_pydatetime() for t in local if first <= t <= last}
    return times


def test_historical_bars_are_ordered_and_keep_up_to_date(run, ib, ib_lib):
    from datetime import UTC, datetime, timedelta

    [contract] = run(ib.qualifyContractsAsync(stock(ib_lib)))
    before = datetime.now(UTC)
    bars = run(ib.reqHistoricalDataAsync(contract, "", "1 D", "5 mins", "TRADES", False, keepUpToDate=True))
    after = datetime.now(UTC)
    # the last day's 5-minute bars in the market's open hours (none at weekends); the day's ends move with the clock
    surely = _extended_hours_bars(after - timedelta(days=1) + timedelta(minutes=5), before - timedelta(minutes=5), 5)
    at_most = _extended_hours_bars(before - timedelta(days=1) - timedelta(minutes=5), after, 5)
    # the demo market trades round the clock: keepUpToDate may already have added the open bar, at any hour
    at_most |= {t.replace(minute=t.minute - t.minute % 5, second=0, microsecond=0) for t in (before, after)}
    got = {b.date for b in bars}
    assert surely <= got <= at_most, (sorted(surely - got), sorted(got - at_most))
    assert all(a.date < b.date for a, b in zip(bars, bars[1:], strict=False))
    assert all(b.low <= min(b.open, b.close) and b.high >= max(b.open, b.close) for b in bars)
    updates = []
    bars.updateEvent += lambda b, has_new: updates.append(has_new)

    async def first_update() -> None:  # the simulator updates the open bar with its ticks: a few a second
        for _ in range(60):
            if updates:
                return
            await asyncio.sleep(0.05)

    run(first_update())
    assert updates


def test_bad_history_request_gets_error_321(run, ib, ib_lib):
    [contract] = run(ib.qualifyContractsAsync(stock(ib_lib)))
    errors = []
    ib.errorEvent += lambda req_id, code, message, *rest: errors.append((code, message))
    bars = run(ib.reqHistoricalDataAsync(contract, "", "1 D", "7 mins", "TRADES", False, timeout=2))
    assert not bars and any(code == 321 and "bar size" in message for code, message in errors)


def _wait_status(run, trade, *statuses, timeout=3.0):
    async def wait():
        for _ in range(int(timeout / 0.02)):
            if trade.orderStatus.status in statuses:
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"order stayed {trade.orderStatus.status}, wanted {statuses}")

    run(wait())


def test_market_order_fills_and_position_and_account_follow(run, ib, ib_lib):
    [contract] = run(ib.qualifyContractsAsync(stock(ib_lib)))
    trade = ib.placeOrder(contract, ib_lib.MarketOrder("BUY", 100))
    _wait_status(run, trade, "Filled")
    run(asyncio.sleep(0.2))
    fill = trade.fills[0]
    assert fill.commissionReport.commission == pytest.approx(0.35)
    [position] = [p for p in ib.positions() if p.contract.conId == contract.conId]
    assert position.position == 100 and position.avgCost == pytest.approx(trade.orderStatus.avgFillPrice)
    cash = float(next(v.value for v in ib.accountValues() if v.tag == "TotalCashValue"))
    assert cash == pytest.approx(1_000_000 - 100 * fill.execution.price - 0.35, abs=0.01)


def test_large_market_order_fills_in_parts_across_levels(run, ib, ib_lib):
    [contract] = run(ib.qualifyContractsAsync(stock(ib_lib)))
    trade = ib.placeOrder(contract, ib_lib.MarketOrder("SELL", 5000))
    _wait_status(run, trade, "Filled")
    assert len(trade.fills) > 1
    assert trade.orderStatus.filled == 5000


def test_limit_modify_and_cancel(run, ib, ib_lib):
    [contract] = run(ib.qualifyContractsAsync(stock(ib_lib)))
    ticker = ib.reqMktData(contract)
    run(asyncio.sleep(0.3))
    order = ib_lib.LimitOrder("BUY", 10, round(ticker.bid * 0.95, 2))
    trade = ib.placeOrder(contract, order)
    _wait_status(run, trade, "Submitted")
    order.lmtPrice = round(ticker.bid * 0.96, 2)
    order.totalQuantity = 20
    ib.placeOrder(contract, order)
    run(asyncio.sleep(0.3))
    assert trade.orderStatus.remaining == 20
    ib.cancelOrder(order)
    _wait_status(run, trade, "Cancelled")


@pytest.mark.parametrize("kind", ["STP", "STP LMT", "TRAIL"])
def test_stop_orders_wait_then_trigger(run, ib, ib_lib, kind):
    [contract] = run(ib.qualifyContractsAsync(stock(ib_lib, "TSLA")))
    ticker = ib.reqMktData(contract)
    run(asyncio.sleep(0.3))
    last = ticker.last
    if kind == "STP":
        order = ib_lib.StopOrder("BUY", 10, round(last * 1.5, 2))
    elif kind == "STP LMT":
        order = ib_lib.StopLimitOrder("BUY", 10, round(last * 1.6, 2), round(last * 1.5, 2))
    else:
        order = ib_lib.Order(action="SELL", totalQuantity=10, orderType="TRAIL", trailingPercent=50.0)
    trade = ib.placeOrder(contract, order)
    _wait_status(run, trade, "PreSubmitted")
    run(asyncio.sleep(0.3))
    assert trade.orderStatus.status == "PreSubmitted" and not trade.fills
    # a stop touched by the market triggers and fills
    order = ib_lib.StopOrder("SELL", 10, round(last * 1.2, 2))  # sell stop above last: already through
    triggered = ib.placeOrder(contract, order)
    _wait_status(run, triggered, "Filled")


def test_bracket_parent_fill_activates_exits_and_oca_cancels_the_other(run, ib, ib_lib):
    [contract] = run(ib.qualifyContractsAsync(stock(ib_lib)))
    ticker = ib.reqMktData(contract)
    run(asyncio.sleep(0.3))
    last = ticker.last
    parent, take_profit, stop = ib.bracketOrder("BUY", 10, round(last * 1.01, 2), round(last * 1.5, 2),
                                                round(last * 1.005, 2))
    trades = [ib.placeOrder(contract, o) for o in (parent, take_profit, stop)]
    _wait_status(run, trades[0], "Filled")
    # the stop at 0.5% above last is a sell stop above the market: it triggers, and OCA cancels take-profit
    _wait_status(run, trades[2], "Filled")
    _wait_status(run, trades[1], "Cancelled")


def test_oca_group_fill_cancels_siblings(run, ib, ib_lib):
    [contract] = run(ib.qualifyContractsAsync(stock(ib_lib)))
    ticker = ib.reqMktData(contract)
    run(asyncio.sleep(0.3))
    first = ib_lib.LimitOrder("BUY", 5, round(ticker.ask * 1.01, 2), ocaGroup="g1", ocaType=1)
    second = ib_lib.LimitOrder("BUY", 5, round(ticker.bid * 0.9, 2), ocaGroup="g1", ocaType=1)
    resting = ib.placeOrder(contract, second)
    _wait_status(run, resting, "Submitted")
    filled = ib.placeOrder(contract, first)
    _wait_status(run, filled, "Filled")
    _wait_status(run, resting, "Cancelled")


def test_unknown_order_cancel_gives_10147(run, ib, ib_lib):
    errors = []
    ib.errorEvent += lambda req_id, code, message, *rest: errors.append(code)
    ib.client.cancelOrder(99999, "") if ib_lib.__name__ == "ib_async" else ib.client.cancelOrder(99999)
    run(asyncio.sleep(0.3))
    assert 10147 in errors


def test_two_clients_see_only_their_own_orders(run, server, ib, ib_lib):
    other = ib_lib.IB()
    run(other.connectAsync("127.0.0.1", server.port, clientId=2, timeout=5))
    try:
        [contract] = run(ib.qualifyContractsAsync(stock(ib_lib)))
        trade = ib.placeOrder(contract, ib_lib.LimitOrder("BUY", 1, 1.00))
        _wait_status(run, trade, "Submitted")
        run(other.reqOpenOrdersAsync())
        assert other.openTrades() == []
        assert [t.order.orderId for t in ib.openTrades()] == [trade.order.orderId]
    finally:
        other.disconnect()


def test_garbage_from_one_client_disconnects_only_that_client(run, server, ib):
    async def garbage():
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET / HTTP/1.1\r\n\r\n")
        await writer.drain()
        data = await reader.read()
        writer.close()
        return data

    assert run(garbage()) == b""
    assert run(ib.reqCurrentTimeAsync()).year >= 2024


def test_what_if_order_is_answered_and_nothing_is_executed_or_kept(run, ib, ib_lib, server):
    [contract] = run(ib.qualifyContractsAsync(stock(ib_lib)))
    state = run(asyncio.wait_for(ib.whatIfOrderAsync(contract, ib_lib.MarketOrder("BUY", 100)), 5))
    assert state.status == "PreSubmitted" and state.commission == pytest.approx(0.35)
    assert float(state.initMarginChange) > 0 and float(state.equityWithLoanAfter) > 0
    run(asyncio.sleep(0.3))
    assert server.engine.submitted_count == 0 and not server.engine.orders
    assert ib.positions() == [] and ib.openTrades() == []


def test_stock_order_without_an_exchange_gets_error_321(run, ib, ib_lib, server):
    errors = []
    ib.errorEvent += lambda req_id, code, message, *rest: errors.append((code, message))
    nowhere = ib_lib.Stock("AAPL", "", "USD")
    nowhere.conId = 265598
    ib.placeOrder(nowhere, ib_lib.MarketOrder("BUY", 1))
    run(asyncio.sleep(0.3))
    assert (321, "Error validating request.-'bN' : cause - Missing order exchange") in errors
    assert server.engine.submitted_count == 0


def test_completed_orders_carry_reference_status_and_filled_quantity(run, ib, ib_lib):
    [contract] = run(ib.qualifyContractsAsync(stock(ib_lib)))
    ib.placeOrder(contract, ib_lib.MarketOrder("BUY", 10, orderRef="qt-filled"))
    resting = ib.placeOrder(contract, ib_lib.LimitOrder("BUY", 5, 50.0, orderRef="qt-cancelled"))
    run(asyncio.sleep(0.3))
    ib.cancelOrder(resting.order)
    run(asyncio.sleep(0.3))
    done = {t.order.orderRef: t for t in run(ib.reqCompletedOrdersAsync(False))}
    assert done["qt-filled"].orderStatus.status == "Filled" and done["qt-filled"].order.filledQuantity == 10
    assert done["qt-cancelled"].orderStatus.status == "Cancelled" and done["qt-cancelled"].order.permId > 0


def test_snapshot_quote_ends_without_a_subscription(run, ib, ib_lib, server):
    [contract] = run(ib.qualifyContractsAsync(stock(ib_lib, "MSFT")))
    [ticker] = run(asyncio.wait_for(ib.reqTickersAsync(contract), 3))
    assert ticker.bid < ticker.ask
    assert not any(session.subs.quotes for session in server.sessions)


def test_orders_and_executions_survive_a_client_reconnect_with_the_same_id(run, server, ib_lib):
    first = ib_lib.IB()
    run(first.connectAsync("127.0.0.1", server.port, clientId=4, timeout=5))
    [contract] = run(first.qualifyContractsAsync(stock(ib_lib)))
    first.placeOrder(contract, ib_lib.LimitOrder("BUY", 5, 50.0, orderRef="qt-rests"))
    first.placeOrder(contract, ib_lib.MarketOrder("BUY", 3, orderRef="qt-fills"))
    run(asyncio.sleep(0.3))
    first.disconnect()
    again = ib_lib.IB()
    run(again.connectAsync("127.0.0.1", server.port, clientId=4, timeout=5))
    try:
        assert [t.order.orderRef for t in again.openTrades()] == ["qt-rests"]
        assert [f.execution.orderRef for f in again.fills()] == ["qt-fills"]
    finally:
        again.disconnect()


def test_permanent_and_execution_ids_are_new_after_a_restart(run, ib_lib):
    from terminal.sim.tws_server import SimServer

    seen = []
    for _ in range(2):
        sim = SimServer(port=0, seed=5, tick_interval=0.05)
        run(sim.start())
        client = ib_lib.IB()
        run(client.connectAsync("127.0.0.1", sim.port, clientId=1, timeout=5))
        [contract] = run(client.qualifyContractsAsync(stock(ib_lib)))
        trade = client.placeOrder(contract, ib_lib.MarketOrder("BUY", 1))
        run(asyncio.sleep(0.3))
        seen.append((trade.order.orderId, trade.order.permId, trade.fills[0].execution.execId))
        client.disconnect()
        run(sim.stop())
    assert seen[0][0] == seen[1][0]  # order ids start again, as a restarted Gateway's may
    assert seen[0][1] != seen[1][1] and seen[0][2] != seen[1][2]
