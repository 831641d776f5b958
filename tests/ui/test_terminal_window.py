"""The real terminal window against the built-in simulator: quotes, every order type, risk rules, restart."""

from __future__ import annotations

import math

import pytest

from terminal.domain import OrderSide, OrderStatus, OrderType
from tests.ui.conftest import answer_confirmation, open_with_symbol, wait_until

pytestmark = pytest.mark.gui


def _set_ticket(window, order_type: OrderType, quantity=10, limit="", stop="", trail=""):
    ticket = window.ticket
    ticket.order_type.setCurrentIndex(ticket.order_type.findData(order_type))
    ticket.quantity.setValue(quantity)
    ticket.limit_price.setText(limit)
    ticket.stop_price.setText(stop)
    ticket.trail.setText(trail)


def _last_order(session):
    return max(session.orders.orders.values(), key=lambda o: o.created)


def test_adding_a_symbol_shows_moving_quotes(terminal_window, qloop):
    window, session, instrument = open_with_symbol(terminal_window, qloop, "MSFT")
    row = window.watchlist.model.row_of(instrument.key)
    assert row >= 0
    first = session.market.quotes[instrument.key]
    wait_until(qloop, lambda: session.market.quotes[instrument.key] != first, message="the quote to change")
    quote = session.market.quotes[instrument.key]
    assert quote.bid < quote.ask
    wait_until(qloop, lambda: window.watchlist.model.data(window.watchlist.model.index(row, 1)) != "",
               message="the bid cell to be painted")


def test_unknown_symbol_shows_a_message_and_keeps_the_list(terminal_window, qloop):
    window, session = terminal_window()
    before = window.watchlist.model.instruments()
    window.watchlist.entry.setText("NOSUCH")
    window.watchlist.entry.returnPressed.emit()
    wait_until(qloop, lambda: window.watchlist.message.isVisible(), message="an error message")
    assert "NOSUCH" in window.watchlist.message.text()
    assert window.watchlist.model.instruments() == before


def test_market_order_from_the_ticket_fills_and_shows_a_position(terminal_window, qloop, qtbot):
    window, session, instrument = open_with_symbol(terminal_window, qloop)
    _set_ticket(window, OrderType.MARKET, quantity=25)
    window.ticket.buy.click()
    wait_until(qloop, lambda: session.orders.orders and _last_order(session).status is OrderStatus.FILLED,
               message="the market order to fill")
    wait_until(qloop, lambda: session.portfolio.position_quantity(instrument) == 25, message="a 25-share position")
    wait_until(qloop, lambda: window.positions.model.rowCount() == 1, message="the position row")
    assert window.blotter.executions.rowCount() >= 1
    fill = session.orders.fills[-1]
    assert fill.quantity == 25 and fill.commission > 0


@pytest.mark.parametrize("order_type", [OrderType.LIMIT, OrderType.STOP, OrderType.STOP_LIMIT, OrderType.TRAIL])
def test_resting_order_types_work_and_can_be_cancelled(terminal_window, qloop, qtbot, order_type):
    window, session, instrument = open_with_symbol(terminal_window, qloop)
    last = session.market.quotes[instrument.key].reference_price
    below = f"{instrument.round_to_tick(last * 0.97):.2f}"
    above = f"{instrument.round_to_tick(last * 1.03):.2f}"
    fields = {
        OrderType.LIMIT: {"limit": below},  # buy below the market: rests
        OrderType.STOP: {"stop": above},  # buy stop above the market: waits
        OrderType.STOP_LIMIT: {"stop": above, "limit": f"{instrument.round_to_tick(last * 1.04):.2f}"},
        OrderType.TRAIL: {"trail": "5%"},
    }[order_type]
    _set_ticket(window, order_type, quantity=10, **fields)
    window.ticket.buy.click()
    wait_until(qloop, lambda: session.orders.orders and _last_order(session).order_id > 0
               and _last_order(session).status in (OrderStatus.SUBMITTED, OrderStatus.PRE_SUBMITTED),
               message=f"the {order_type.value} order to work")
    order = _last_order(session)
    assert order.order_type is order_type
    wait_until(qloop, lambda: window.blotter.working.rowCount() == 1, message="the working row")
    window.blotter.working_view.selectRow(0)
    window.blotter.cancel_selected()
    wait_until(qloop, lambda: session.orders.orders[order.client_order_id].status is OrderStatus.CANCELLED,
               message="the cancel")
    wait_until(qloop, lambda: window.blotter.working.rowCount() == 0, message="the working list to empty")


def test_modify_moves_a_working_limit_order(terminal_window, qloop):
    window, session, instrument = open_with_symbol(terminal_window, qloop)
    last = session.market.quotes[instrument.key].reference_price
    low = instrument.round_to_tick(last * 0.97)
    _set_ticket(window, OrderType.LIMIT, quantity=10, limit=f"{low:.2f}")
    window.ticket.submit(OrderSide.BUY)
    wait_until(qloop, lambda: session.orders.orders and _last_order(session).status is OrderStatus.SUBMITTED,
               message="the limit to work")
    order = _last_order(session)
    new_price = instrument.round_to_tick(last * 0.98)
    qloop.run_until_complete(session.orders.modify(order.client_order_id, quantity=20, limit_price=new_price))
    wait_until(qloop, lambda: session.orders.orders[order.client_order_id].quantity == 20, message="the modify")
    assert session.orders.orders[order.client_order_id].limit_price == new_price
    assert len([o for o in session.orders.orders.values() if o.status.is_working]) == 1


@pytest.mark.parametrize(
    ("rule", "limits", "ticket"),
    [
        ("max_order_quantity", {"max_order_quantity": 5}, {"order_type": OrderType.MARKET, "quantity": 10}),
        ("max_notional", {"max_notional": 100}, {"order_type": OrderType.MARKET, "quantity": 10}),
        ("price_band", {"price_band_percent": 1}, {"order_type": OrderType.LIMIT, "quantity": 1, "limit": "far"}),
        ("max_position", {"max_position": 5}, {"order_type": OrderType.MARKET, "quantity": 6}),
    ],
)
def test_each_risk_rule_rejects_inline_and_sends_nothing(terminal_window, qloop, rule, limits, ticket):
    window, session, instrument = open_with_symbol(terminal_window, qloop)
    session.risk.update(**limits)
    if ticket.get("limit") == "far":
        ticket["limit"] = f"{instrument.round_to_tick(session.market.quotes[instrument.key].reference_price * 0.8):.2f}"
    _set_ticket(window, **ticket)
    window.ticket.submit(OrderSide.BUY)
    assert window.ticket.error.text().startswith(f"[{rule}]")
    assert session.orders.orders == {}


def test_daily_loss_limit_blocks_new_exposure(terminal_window, qloop):
    window, session, instrument = open_with_symbol(terminal_window, qloop)
    from dataclasses import replace

    start = session.portfolio.trading_day.start_equity  # the day's loss: net liquidation below the day's start
    session.portfolio.on_account(replace(session.portfolio.account, net_liquidation=start - 60_000.0))
    _set_ticket(window, OrderType.MARKET, quantity=1)
    window.ticket.submit(OrderSide.BUY)
    assert window.ticket.error.text().startswith("[daily_loss_limit]")


def test_bad_ticket_input_is_shown_inline(terminal_window, qloop):
    window, session, instrument = open_with_symbol(terminal_window, qloop)
    _set_ticket(window, OrderType.LIMIT, quantity=10, limit="abc")
    window.ticket.submit(OrderSide.BUY)
    assert "limit price 'abc' is not a number" in window.ticket.error.text()
    _set_ticket(window, OrderType.LIMIT, quantity=10, limit="100.003")
    window.ticket.submit(OrderSide.BUY)
    assert "not on the 0.01 tick grid" in window.ticket.error.text()
    _set_ticket(window, OrderType.LIMIT, quantity=0, limit="100.00")
    window.ticket.submit(OrderSide.BUY)
    assert "quantity 0 must be > 0" in window.ticket.error.text()
    _set_ticket(window, OrderType.LIMIT, quantity=10, limit="nan")
    window.ticket.submit(OrderSide.BUY)
    assert "not a finite number" in window.ticket.error.text()
    assert session.orders.orders == {}


def test_kill_switch_cancels_working_orders_and_blocks_new_ones(terminal_window, qloop, qtbot):
    window, session, instrument = open_with_symbol(terminal_window, qloop)
    last = session.market.quotes[instrument.key].reference_price
    _set_ticket(window, OrderType.LIMIT, quantity=10, limit=f"{instrument.round_to_tick(last * 0.97):.2f}")
    window.ticket.submit(OrderSide.BUY)
    wait_until(qloop, lambda: session.orders.working() and session.orders.working()[0].order_id > 0,
               message="a working order")
    window.kill_action.setChecked(True)
    wait_until(qloop, lambda: not session.orders.working(), message="every order cancelled")
    window.ticket.submit(OrderSide.BUY)
    assert window.ticket.error.text().startswith("[kill_switch]")
    window.kill_action.setChecked(False)
    assert "Turn it off and allow orders again?" in answer_confirmation(qloop, qtbot, window)
    assert not session.risk.kill_switch and not window.kill_action.isChecked()
    window.ticket.submit(OrderSide.BUY)
    if session.orders.confirmation._duplicate(session.orders.orders[next(iter(session.orders.orders))]):
        assert "Send it again?" in answer_confirmation(qloop, qtbot, window)  # the same order within 2 s
    wait_until(qloop, lambda: len(session.orders.working()) == 1, message="orders allowed again")


def test_bracket_from_the_ticket_sends_parent_and_two_exits(terminal_window, qloop):
    window, session, instrument = open_with_symbol(terminal_window, qloop)
    _set_ticket(window, OrderType.MARKET, quantity=10)
    window.ticket.bracket.setChecked(True)
    window.ticket.take_profit.setText("2.00")
    window.ticket.stop_loss.setText("1.00")
    window.ticket.submit(OrderSide.BUY)
    wait_until(qloop, lambda: len(session.orders.orders) == 3, message="three bracket orders")
    wait_until(qloop, lambda: session.portfolio.position_quantity(instrument) == 10, message="the entry fill")
    exits = [o for o in session.orders.orders.values() if o.side is OrderSide.SELL]
    assert {o.order_type for o in exits} == {OrderType.LIMIT, OrderType.STOP}
    wait_until(qloop, lambda: all(o.status.is_working for o in (session.orders.orders[e.client_order_id] for e in exits)),
               message="both exits working after the parent fill")


def test_depth_ladder_click_places_a_limit_at_that_level(terminal_window, qloop):
    window, session, instrument = open_with_symbol(terminal_window, qloop)
    wait_until(qloop, lambda: window.depth.model.rowCount() >= 6, message="depth levels")
    model = window.depth.model
    bid_row = next(r for r, (_, bid, _) in enumerate(model.rows) if not math.isnan(bid))
    price = model.rows[bid_row][0]
    window.depth.on_click(model.index(bid_row, 1))
    wait_until(qloop, lambda: session.orders.working(), message="the ladder order")
    order = session.orders.working()[0]
    assert order.side is OrderSide.BUY and order.limit_price == price and order.source == "ladder"


def test_restart_brings_back_layout_theme_and_order_history(terminal_window, qloop, settings_factory):
    window, session, instrument = open_with_symbol(terminal_window, qloop)
    _set_ticket(window, OrderType.MARKET, quantity=5)
    window.ticket.submit(OrderSide.BUY)
    wait_until(qloop, lambda: session.orders.fills, message="a fill")
    window.docks["Depth"].hide()
    window.set_theme("light")
    window.close()
    qloop.run_until_complete(session.stop())
    again, session2 = terminal_window()
    assert again.theme.name == "light"
    assert not again.docks["Depth"].isVisible()
    assert any(o.instrument.symbol == "AAPL" for o in session2.orders.orders.values())
    assert again.blotter.history.rowCount() >= 1 and again.blotter.executions.rowCount() >= 1
    assert instrument.key in [i.key for i in again.watchlist.model.instruments()]


def _working_order_line(terminal_window, qloop):
    """A buy limit 1 % under the market, and its line on the chart (the exchange in-process, to look at it)."""
    window, session, instrument = open_with_symbol(terminal_window, qloop, in_process_simulator=True)
    last = session.market.quotes[instrument.key].reference_price
    _set_ticket(window, OrderType.LIMIT, quantity=10, limit=f"{instrument.round_to_tick(last * 0.99):.2f}")
    window.ticket.submit(OrderSide.BUY)
    wait_until(qloop, lambda: session.orders.working() and session.orders.working()[0].order_id > 0,
               message="a working order")
    order = session.orders.working()[0]
    chart = window.chart.chart
    wait_until(qloop, lambda: order.client_order_id in chart.marks.order_lines, message="the order line")
    return window, session, instrument, order, chart.marks.order_lines[order.client_order_id], last


def test_dragging_an_order_line_on_the_chart_modifies_the_order_in_the_simulator(terminal_window, qloop):
    window, session, instrument, order, line, last = _working_order_line(terminal_window, qloop)
    target = instrument.round_to_tick(last * 0.985)
    line.setValue(target + instrument.tick_size * 0.3)  # a drag ends between ticks …
    line.sigDragged.emit(line)
    line.sigPositionChangeFinished.emit(line)  # … and is snapped to the grid on release
    wait_until(qloop, lambda: session.orders.orders[order.client_order_id].limit_price == target,
               message="the modified limit price")
    wait_until(qloop, lambda: session.simulator.engine.orders[(1, order.order_id)].order.limit_price == target,
               message="the simulator to hold the new price")


def test_dragging_an_order_line_outside_the_price_band_is_refused_and_snaps_back(terminal_window, qloop):
    window, session, instrument, order, line, last = _working_order_line(terminal_window, qloop)
    line.setValue(instrument.round_to_tick(last * 0.5))
    line.sigPositionChangeFinished.emit(line)
    wait_until(qloop, lambda: "price_band" in " ".join(e.message for e in session.log.entries[-5:]),
               message="the price-band rejection in the log")
    wait_until(qloop, lambda: abs(line.value() - order.limit_price) < 1e-9, message="the line back at the order price")
    assert session.orders.orders[order.client_order_id].limit_price == order.limit_price


def test_switching_to_another_tws_endpoint_moves_the_quotes_there(terminal_window, qloop):
    from terminal.sim.tws_server import SimServer

    window, session, instrument = open_with_symbol(terminal_window, qloop, "MSFT")
    gateway = SimServer(port=0, seed=99, tick_interval=0.05)  # stands in for TWS / IB Gateway
    qloop.run_until_complete(gateway.start())
    try:
        qloop.run_until_complete(session.switch_to("127.0.0.1", gateway.port, 7))
        assert session.simulator is None and session.status.endpoint == f"127.0.0.1:{gateway.port}"
        wait_until(qloop, lambda: any(s.client_id == 7 and s.subs.quotes for s in gateway.sessions),
                   message="the watchlist subscribed at the new endpoint")
        before = session.market.quotes[instrument.key]
        wait_until(qloop, lambda: session.market.quotes[instrument.key] != before, message="quotes from the new server")
    finally:
        qloop.run_until_complete(session.stop())
        qloop.run_until_complete(gateway.stop())


def test_the_window_says_which_session_it_trades_simulator_then_replay(terminal_window, qloop):
    from terminal.domain import Provenance
    from terminal.sim.tws_server import SimServer

    window, session, _ = open_with_symbol(terminal_window, qloop, "MSFT")
    wait_until(qloop, lambda: window.provenance_label.text() == "SIMULATOR", message="the status bar's badge")
    assert window.provenance_label.isVisible()
    assert window.positions.provenance_label.text() == "SIMULATOR" and window.positions.provenance_label.isVisible()
    replay = SimServer(port=0, seed=99, tick_interval=0.05, provenance=Provenance.REPLAY)  # another engineer's replay
    qloop.run_until_complete(replay.start())
    try:
        qloop.run_until_complete(session.switch_to("127.0.0.1", replay.port, 7))
        wait_until(qloop, lambda: window.provenance_label.text() == "REPLAY", message="the badge to say REPLAY")
        assert window.positions.provenance_label.text() == "REPLAY"
    finally:
        qloop.run_until_complete(session.stop())
        qloop.run_until_complete(replay.stop())


def test_help_about_shows_the_versions_and_where_the_data_is(terminal_window, qapp):
    import terminal

    window, session = terminal_window()
    menus = [action.text() for action in window.menuBar().actions()]
    assert menus[-1] == "&Help"
    dialog = window.about_dialog()
    text = dialog.text()
    assert f"Version: {terminal.__version__}" in text
    for label in ("Qt runtime", "Qt for Python", "IB client", "backtrader", "Database", "Data folder"):
        assert f"\n{label}: " in text
    assert "sqlite:///" in text and "connected 127.0.0.1:" in text
    dialog.copy()
    assert qapp.clipboard().text() == text
    dialog.close()
