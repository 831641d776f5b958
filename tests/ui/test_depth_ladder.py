"""The depth ladder: rows keyed by price that update in place, recentre by moving rows only when the market
drifts, and hold still under a pressed mouse button so a click trades the price it was pressed on."""

from __future__ import annotations

import asyncio
import math

import pytest
from PySide6.QtCore import Qt

from terminal.domain import Instrument, Order, OrderSide, OrderStatus, OrderType
from terminal.services.market import DepthBook
from terminal.ui.panels.depth import HALF_BAND, RECENTRE_TICKS, LadderModel
from terminal.ui.theme import DARK
from tests.ui.conftest import open_with_symbol, wait_until

AAPL = Instrument("AAPL")


def _levels(instrument: Instrument, best_bid: float, size: float = 100.0, levels: int = 10):
    """Ten bid levels from ``best_bid`` down and ten ask levels from one tick above it, sizes ``size`` up."""
    tick = instrument.tick_size
    bids = tuple((instrument.round_to_tick(best_bid - i * tick), size + i) for i in range(levels))
    asks = tuple((instrument.round_to_tick(best_bid + (i + 1) * tick), size + i) for i in range(levels))
    return bids, asks


def _book(best_bid: float, size: float = 100.0) -> DepthBook:
    return DepthBook(AAPL, *_levels(AAPL, best_bid, size))


def _ladder(best_bid: float = 100.0) -> tuple[LadderModel, list]:
    model = LadderModel(DARK)
    model.set_instrument(AAPL)
    model.set_book(_book(best_bid))
    model.flush()
    events: list = []
    model.rowsInserted.connect(lambda _, first, last: events.append(("inserted", first, last)))
    model.rowsRemoved.connect(lambda _, first, last: events.append(("removed", first, last)))
    model.modelReset.connect(lambda: events.append(("reset",)))
    model.dataChanged.connect(lambda a, b: events.append(("changed", a.row(), a.column(), b.row(), b.column())))
    return model, events


def _prices(model: LadderModel) -> list[float]:
    return [price for price, _, _ in model.rows]


def test_the_ladder_is_a_band_of_tick_prices_centred_on_the_inside_market(qtbot):
    model, _ = _ladder(100.0)
    assert model.rowCount() == 2 * HALF_BAND + 1
    assert _prices(model) == [round(100.2 - r * 0.01, 2) for r in range(2 * HALF_BAND + 1)]  # highest on top
    best_bid = model.row_of_price(100.0)
    assert model.rows[best_bid][:2] == (100.0, 100.0) and math.isnan(model.rows[best_bid][2])
    assert model.data(model.index(best_bid, 1)) == "100" and model.data(model.index(best_bid - 1, 3)) == "100"
    assert model.data(model.index(best_bid - 11, 3)) == "" and model.data(model.index(best_bid, 2)) == "100.00"


def test_a_depth_update_changes_sizes_in_place_and_repaints_only_those_cells(qtbot):
    model, events = _ladder(100.0)
    prices = _prices(model)
    bids, asks = _levels(AAPL, 100.0)
    model.set_book(DepthBook(AAPL, ((100.0, 555.0),) + bids[1:], asks[:3] + ((100.04, 777.0),) + asks[4:]))
    assert events == []  # nothing until the flush
    model.flush()
    assert _prices(model) == prices
    assert events == [("changed", model.row_of_price(100.0), 1, model.row_of_price(100.0), 1),
                      ("changed", model.row_of_price(100.04), 3, model.row_of_price(100.04), 3)]
    assert model.data(model.index(model.row_of_price(100.04), 3)) == "777"


def test_the_ladder_recentres_by_moving_rows_only_when_the_market_drifts_past_the_band_centre(qtbot):
    model, events = _ladder(100.0)
    model.set_book(_book(100.0 + RECENTRE_TICKS * 0.01))  # drifted, but within the centre zone
    model.flush()
    assert not [e for e in events if e[0] != "changed"] and model.price_at(HALF_BAND) == 100.0
    events.clear()
    model.set_book(_book(100.08))  # 8 ticks up: 8 prices leave at the bottom, 8 enter on top
    model.flush()
    moved = [e for e in events if e[0] != "changed"]
    assert moved == [("removed", 2 * HALF_BAND + 1 - 8, 2 * HALF_BAND), ("inserted", 0, 7)]
    assert _prices(model) == [round(100.28 - r * 0.01, 2) for r in range(2 * HALF_BAND + 1)]
    assert model.rows[model.row_of_price(100.08)][1] == 100.0  # the new best bid, filled in as it entered
    events.clear()
    model.set_book(_book(90.0))  # a jump wider than the band: every row is replaced, still no reset
    model.flush()
    assert [e for e in events if e[0] != "changed"] == [("removed", 0, 2 * HALF_BAND), ("inserted", 0, 2 * HALF_BAND)]
    assert model.price_at(HALF_BAND) == 90.0


def test_a_held_ladder_updates_sizes_but_moves_no_rows_until_released(qtbot):
    model, events = _ladder(100.0)
    prices = _prices(model)
    model.hold(True)
    model.set_book(_book(100.08, size=300))
    model.flush()
    assert _prices(model) == prices
    assert not [e for e in events if e[0] != "changed"]
    assert model.data(model.index(model.row_of_price(100.08), 1)) == "300"  # sizes still live
    model.hold(False)
    assert _prices(model) == prices  # releasing moves nothing at once …
    model.flush()
    assert model.price_at(HALF_BAND) == 100.08  # … the next flush recentres


def test_own_working_orders_show_beside_their_price_and_only_those_cells_repaint(qtbot):
    model, events = _ladder(100.0)
    buy = Order(AAPL, OrderSide.BUY, 200, OrderType.LIMIT, limit_price=99.95, client_order_id="b")
    sell = Order(AAPL, OrderSide.SELL, 50, OrderType.LIMIT, limit_price=100.03, client_order_id="s")
    model.set_working([buy, sell])
    model.flush()
    buy_row, sell_row = model.row_of_price(99.95), model.row_of_price(100.03)
    assert sorted(events) == sorted([("changed", buy_row, 0, buy_row, 0), ("changed", sell_row, 4, sell_row, 4)])
    assert model.data(model.index(buy_row, 0)) == "200" and model.data(model.index(sell_row, 4)) == "50"
    assert model.orders_at(buy_row, OrderSide.BUY) == [buy] and model.orders_at(buy_row, OrderSide.SELL) == []


# --- the real window ------------------------------------------------------------------------------------------------

def _settle(qloop, seconds: float) -> None:
    qloop.run_until_complete(asyncio.sleep(seconds))


@pytest.mark.gui
def test_a_pressed_ladder_row_keeps_its_price_while_depth_streams_and_the_click_works_a_limit_there(
        terminal_window, qloop, qtbot):
    window, session, instrument = open_with_symbol(terminal_window, qloop)
    window.docks["Depth"].raise_()
    panel = window.depth
    model, table = panel.model, panel.table
    wait_until(qloop, lambda: any(not math.isnan(bid) for _, bid, _ in model.rows), message="the ladder's bids")
    row = next(r for r, (_, bid, _) in enumerate(model.rows) if not math.isnan(bid))  # the best bid
    price = model.price_at(row)
    table.scrollTo(model.index(row, 1))
    cursor = table.visualRect(model.index(row, 1)).center()
    assert table.indexAt(cursor).row() == row

    qtbot.mousePress(table.viewport(), Qt.MouseButton.LeftButton, pos=cursor)
    # Depth streams while the button is down: the simulator's own books, and books whose inside market is
    # 8 ticks higher (past the band's centre zone: a free ladder would recentre and shift every row by 8).
    tick = instrument.tick_size
    books, flushes = model.books_received, model.flushes
    for n in range(30):
        bids, asks = _levels(instrument, price + 8 * tick, size=1_000 + n)
        session.market.on_depth(instrument, bids, asks)
        _settle(qloop, 0.02)
        assert model.price_at(table.indexAt(cursor).row()) == price, f"the row under the cursor moved after {n} books"
    assert model.books_received - books >= 30 and model.flushes - flushes >= 5
    bids, asks = _levels(instrument, price + 8 * tick, size=4_242)
    session.market.on_depth(instrument, bids, asks)
    model.flush()
    under_cursor = table.indexAt(cursor)
    assert model.price_at(under_cursor.row()) == price
    assert model.data(model.index(under_cursor.row(), 1)) == "4,250"  # its size updated in place (level 8 of the pushed book)

    qtbot.mouseRelease(table.viewport(), Qt.MouseButton.LeftButton, pos=cursor)
    wait_until(qloop, lambda: any(o.source == "ladder" for o in session.orders.orders.values()),
               message="the ladder order")
    order = next(o for o in session.orders.orders.values() if o.source == "ladder")
    assert order.side is OrderSide.BUY and order.order_type is OrderType.LIMIT and order.limit_price == price

    # released, the ladder follows the market again
    session.market.on_depth(instrument, *_levels(instrument, price + 8 * tick))
    model.flush()
    assert model.price_at(table.indexAt(cursor).row()) != price


@pytest.mark.gui
def test_clicking_own_quantity_on_the_ladder_cancels_that_order(terminal_window, qloop, qtbot):
    window, session, instrument = open_with_symbol(terminal_window, qloop)
    window.docks["Depth"].raise_()
    model, table = window.depth.model, window.depth.table
    wait_until(qloop, lambda: any(not math.isnan(bid) for _, bid, _ in model.rows), message="the ladder's bids")
    best_bid = next(p for p, bid, _ in model.rows if not math.isnan(bid))
    price = instrument.round_to_tick(best_bid - 10 * instrument.tick_size)  # rests below the market

    def click(column: int) -> None:
        index = model.index(model.row_of_price(price), column)
        table.scrollTo(index)
        qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=table.visualRect(index).center())

    click(1)
    wait_until(qloop, lambda: session.orders.working() and session.orders.working()[0].order_id > 0,
               message="the resting ladder order")
    order = session.orders.working()[0]
    assert order.limit_price == price and order.side is OrderSide.BUY
    wait_until(qloop, lambda: model.row_of_price(price) >= 0
               and model.data(model.index(model.row_of_price(price), 0)) == "100", message="My bids showing 100")
    click(0)
    wait_until(qloop, lambda: session.orders.orders[order.client_order_id].status is OrderStatus.CANCELLED,
               message="the cancel")
    wait_until(qloop, lambda: model.data(model.index(model.row_of_price(price), 0)) == "", message="My bids cleared")
