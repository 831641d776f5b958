"""Item models: quotes are coalesced to display rate; keyed rows update in place."""

from datetime import UTC, datetime

from PySide6.QtCore import Qt

from terminal.domain import Instrument, Order, OrderSide, OrderStatus, OrderType, Quote
from terminal.ui.models.records import ORDER_COLUMNS, RecordTableModel
from terminal.ui.models.watchlist import WatchlistModel


def test_quote_flood_is_repainted_once_per_flush(qtbot):
    model = WatchlistModel(refresh_hz=20)
    instruments = [Instrument(f"S{i}") for i in range(3)]
    model.set_instruments(instruments)
    changes = []
    model.dataChanged.connect(lambda a, b: changes.append((a.row(), b.row())))
    for n in range(1000):
        model.update_quote(instruments[n % 3].key, Quote(instruments[n % 3].symbol, bid=10 + n * 0.01, ask=10.02 + n * 0.01, last=10 + n * 0.01))
    assert changes == []  # nothing painted per quote
    model.flush()
    assert changes == [(0, 2)]  # one contiguous repaint of the three rows
    assert model.updates_received == 1000 and model.updates_applied == 3
    assert model.data(model.index(0, 3)) == "19.99"


def test_price_change_flashes_up_then_clears(qtbot):
    model = WatchlistModel()
    ins = Instrument("AAPL")
    model.set_instruments([ins])
    model.update_quote(ins.key, Quote("AAPL", last=100.0, close=99.0))
    model.update_quote(ins.key, Quote("AAPL", last=100.5, close=99.0))
    flash = model.data(model.index(0, 3), Qt.ItemDataRole.BackgroundRole)
    assert flash == model.theme.color("flash_up")
    assert model.data(model.index(0, 4)) == "+1.50" and model.data(model.index(0, 5)) == "+1.52%"


def test_order_rows_update_in_place_by_client_id(qtbot):
    model = RecordTableModel(ORDER_COLUMNS, lambda o: o.client_order_id, newest_first=True)
    order = Order(Instrument("AAPL"), OrderSide.BUY, 10, OrderType.LIMIT, limit_price=100.0, client_order_id="a",
                  created=datetime.now(UTC))
    model.upsert(order)
    model.upsert(order.with_status(OrderStatus.SUBMITTED))
    assert model.rowCount() == 1 and model.data(model.index(0, 11)) == "Submitted"
    model.upsert(Order(Instrument("MSFT"), OrderSide.SELL, 5, client_order_id="b", created=datetime.now(UTC)))
    assert model.data(model.index(0, 2)) == "MSFT"  # newest first
    model.remove("a")
    assert model.rowCount() == 1


def test_a_slot_that_fires_after_the_loop_is_gone_starts_nothing_and_raises_nothing():
    # A QTimer can fire while the window closes, after the asyncio loop stopped (seen in CI teardown).
    import asyncio
    import warnings

    from terminal.ui.panels.common import spawn

    ran = []

    async def work():
        ran.append(True)

    asyncio.set_event_loop(None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an unawaited coroutine would warn
        assert spawn(work()) is None
    assert ran == []
