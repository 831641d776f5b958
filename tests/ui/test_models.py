"""Item models: quotes are coalesced to display rate; keyed rows update in place."""

import time
from datetime import UTC, datetime

from PySide6.QtCore import Qt

from terminal.domain import Instrument, Order, OrderSide, OrderStatus, OrderType, Position, Quote
from terminal.ui.models.records import ORDER_COLUMNS, POSITION_COLUMNS, RecordTableModel
from terminal.ui.models.watchlist import WatchlistModel
from terminal.ui.theme import DARK


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


def test_a_stale_watchlist_greys_every_cell_without_flashes_and_repaints_every_row_at_once(qtbot):
    model = WatchlistModel()
    aapl, msft = Instrument("AAPL"), Instrument("MSFT")
    model.set_instruments([aapl, msft])
    model.update_quote(aapl.key, Quote("AAPL", bid=100.4, ask=100.6, last=100.0, close=99.0))
    model.update_quote(aapl.key, Quote("AAPL", bid=100.4, ask=100.6, last=100.5, close=99.0))  # flashes up
    model.flush()
    changes = []
    model.dataChanged.connect(lambda a, b: changes.append((a.row(), a.column(), b.row(), b.column())))
    model.set_stale(True)
    assert changes == [(0, 0, 1, 8)]  # at once, not at the next flush
    grey = model.theme.color("stale")
    fg, bg = Qt.ItemDataRole.ForegroundRole, Qt.ItemDataRole.BackgroundRole
    assert all(model.data(model.index(r, c), fg) == grey for r in range(2) for c in range(9))
    assert model.data(model.index(0, 3), bg) is None  # no flash on a stale price
    assert model.data(model.index(0, 3)) == "100.50"  # the last quote stays readable
    assert "stale" in model.data(model.index(0, 0), Qt.ItemDataRole.ToolTipRole)
    model.set_stale(True)
    assert len(changes) == 1
    model.set_stale(False)
    assert len(changes) == 2 and model.data(model.index(0, 4), fg) == model.theme.color("up")
    assert model.data(model.index(0, 1), fg) is None


def test_a_stale_ladder_greys_its_sizes_and_drops_the_bid_and_ask_colours(qtbot):
    from terminal.services.market import DepthBook
    from terminal.ui.panels.depth import LadderModel

    instrument = Instrument("AAPL")
    model = LadderModel(DARK)
    model.set_instrument(instrument)
    model.set_book(DepthBook(instrument, ((100.0, 300),), ((100.01, 200),)))
    model.flush()
    bid_row, ask_row = model.row_of_price(100.0), model.row_of_price(100.01)
    bg, fg = Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.ForegroundRole
    assert model.data(model.index(bid_row, 1), bg) == DARK.color("flash_up")
    model.set_stale(True)
    assert model.data(model.index(bid_row, 1), bg) == model.data(model.index(ask_row, 3), bg) == DARK.color("alternate")
    assert model.data(model.index(bid_row, 1)) == "300" and model.data(model.index(bid_row, 1), fg) == DARK.color("stale")
    model.set_stale(False)
    assert model.data(model.index(ask_row, 3), bg) == DARK.color("flash_down")


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


def test_a_slot_that_fires_after_the_loop_is_gone_starts_nothing_and_raises_nothing(qloop):
    # A QTimer can fire while the window closes, after the asyncio loop stopped (seen in CI teardown).
    import asyncio
    import warnings

    from terminal.ui.panels.common import spawn

    ran = []

    async def work():
        ran.append(True)

    asyncio.set_event_loop(None)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # an unawaited coroutine would warn
            assert spawn(work()) is None
    finally:
        asyncio.set_event_loop(qloop)  # the GUI tests after this one share that loop
    assert ran == []


# --- keyed records: O(1) upserts, updates repainted at display rate -----------------------------------------------

def _order(client_id: str, symbol: str = "AAPL", status: OrderStatus = OrderStatus.PENDING_SUBMIT) -> Order:
    order = Order(Instrument(symbol), OrderSide.BUY, 10, OrderType.LIMIT, limit_price=100.0, client_order_id=client_id,
                  created=datetime.now(UTC))
    return order if status is OrderStatus.PENDING_SUBMIT else order.with_status(status)


def _structure_events(model):
    events = []
    model.rowsInserted.connect(lambda _, first, last: events.append(("inserted", first, last)))
    model.rowsRemoved.connect(lambda _, first, last: events.append(("removed", first, last)))
    model.modelReset.connect(lambda: events.append(("reset",)))
    return events


def test_record_inserts_are_one_row_each_at_the_newest_end_and_keep_the_order(qtbot):
    newest_first = RecordTableModel(ORDER_COLUMNS, lambda o: o.client_order_id, newest_first=True)
    oldest_first = RecordTableModel(ORDER_COLUMNS, lambda o: o.client_order_id)
    newest_first.set_records([_order("x"), _order("y")])  # given in view order: x is the newest
    oldest_first.set_records([_order("x"), _order("y")])
    new_events, old_events = _structure_events(newest_first), _structure_events(oldest_first)
    for client_id in "abc":
        newest_first.upsert(_order(client_id))
        oldest_first.upsert(_order(client_id))
    assert new_events == [("inserted", 0, 0)] * 3
    assert old_events == [("inserted", 2, 2), ("inserted", 3, 3), ("inserted", 4, 4)]
    assert [o.client_order_id for o in newest_first.records()] == ["c", "b", "a", "x", "y"]
    assert [o.client_order_id for o in oldest_first.records()] == ["x", "y", "a", "b", "c"]
    assert [newest_first.data(newest_first.index(r, 1)) for r in range(5)] == [""] * 5  # no order ids yet
    assert newest_first.row_of("a") == 2 and oldest_first.row_of("a") == 2


def test_record_update_repaints_one_row_at_the_next_flush_in_the_changed_cells_only(qtbot):
    model = RecordTableModel(ORDER_COLUMNS, lambda o: o.client_order_id, newest_first=True)
    model.set_records([_order(c) for c in "abcde"])
    for row in range(model.rowCount()):  # the view has painted every cell once
        [model.data(model.index(row, col)) for col in range(model.columnCount())]
    events = _structure_events(model)
    changes = []
    model.dataChanged.connect(lambda a, b: changes.append((a.row(), a.column(), b.row(), b.column())))
    model.upsert(_order("c", status=OrderStatus.SUBMITTED))
    model.upsert(_order("c", status=OrderStatus.FILLED))
    assert model.data(model.index(2, 11)) == "Filled"  # what the model answers is current at once …
    assert changes == []  # … and repainted at the flush
    model.flush()
    status = [c.header for c in ORDER_COLUMNS].index("Status")
    assert changes == [(2, status, 2, status)]
    assert events == []
    model.flush()
    assert changes == [(2, status, 2, status)]  # nothing more to paint


def test_record_upserts_look_at_no_other_row(qtbot):
    calls = []

    def key(order):
        calls.append(order.client_order_id)
        return order.client_order_id

    model = RecordTableModel(ORDER_COLUMNS, key, newest_first=True)
    model.set_records([_order(f"o{n}") for n in range(5_000)])
    calls.clear()
    model.upsert(_order("new"))
    model.upsert(_order("o4321", status=OrderStatus.CANCELLED))
    assert calls == ["new", "o4321"]  # one key per upsert, not a reindex of 5,000 rows
    model.flush()
    assert model.record_at(model.row_of("o4321")).status is OrderStatus.CANCELLED
    assert model.row_of("new") == 0 and model.rowCount() == 5_001


def test_records_beyond_max_rows_drop_the_oldest_row_and_keys_still_find_their_rows(qtbot):
    model = RecordTableModel(ORDER_COLUMNS, lambda o: o.client_order_id, newest_first=True, max_rows=100)
    events = _structure_events(model)
    for n in range(1_000):  # far past the trimming and compaction of the storage
        model.upsert(_order(f"o{n}"))
    assert model.rowCount() == 100
    assert events[-2:] == [("inserted", 0, 0), ("removed", 100, 100)]
    assert [o.client_order_id for o in model.records()][:3] == ["o999", "o998", "o997"]
    assert model.record_at(99).client_order_id == "o900" and model.row_of("o899") == -1
    model.remove("o950")  # a row in the middle: the rows after it are found again
    assert model.rowCount() == 99 and model.row_of("o951") == 48 and model.row_of("o949") == 49
    assert model.record_at(49).client_order_id == "o949"
    model.upsert(_order("o949", status=OrderStatus.SUBMITTED))
    model.flush()
    assert model.data(model.index(49, 11)) == "Submitted" and model.data(model.index(48, 11)) != "Submitted"


def _stream(qtbot, seconds: float, push) -> None:
    """Call ``push(n)`` about every millisecond for ``seconds`` while the Qt event loop runs (timers fire)."""
    start, n = time.monotonic(), 0
    while time.monotonic() - start < seconds:
        push(n)
        n += 1
        if n % 5 == 0:
            qtbot.wait(1)
    qtbot.wait(120)


def test_position_ticks_repaint_at_most_once_per_interval_and_only_the_marked_cells(qtbot):
    model = RecordTableModel(POSITION_COLUMNS, lambda p: p.instrument.key, refresh_hz=20)
    held, other = Instrument("AAPL"), Instrument("MSFT")
    model.upsert(Position(held, 100, 150.0, market_price=150.0))
    model.upsert(Position(other, -50, 300.0, market_price=301.0))
    for row in range(2):
        [model.data(model.index(row, col)) for col in range(model.columnCount())]
    painted = []
    model.dataChanged.connect(lambda a, b: painted.append((time.monotonic(), a.row(), a.column(), b.row(), b.column())))
    _stream(qtbot, 0.5, lambda n: model.upsert(Position(held, 100, 150.0, market_price=150.0 + (n % 50) * 0.01 + 0.01)))
    assert 3 <= len(painted) <= 0.5 * 20 + 2, len(painted)  # thousands of ticks, a handful of repaints
    gaps = [b[0] - a[0] for a, b in zip(painted, painted[1:], strict=False)]
    assert min(gaps) >= 0.045
    columns = [c.header for c in POSITION_COLUMNS]
    marked = (columns.index("Last"), columns.index("Unrealized P&L"))
    assert {(row, first, last_row, last) for _, row, first, last_row, last in painted} == {(0, *marked[:1], 0, marked[1])}
    assert model.data(model.index(1, columns.index("Last"))) == "301.00"


def test_ladder_depth_flood_is_applied_once_per_interval_without_moving_rows(qtbot):
    from terminal.services.market import DepthBook
    from terminal.ui.panels.depth import LadderModel

    instrument = Instrument("AAPL")
    model = LadderModel(DARK, refresh_hz=20)
    model.set_instrument(instrument)
    model.set_book(DepthBook(instrument, ((100.0, 100),), ((100.01, 100),)))
    model.flush()
    events = _structure_events(model)
    painted = []
    model.dataChanged.connect(lambda a, b: painted.append((model.flushes, time.monotonic())))

    def push(n):
        size = 100 + n % 97
        model.set_book(DepthBook(instrument, tuple((round(100.0 - i * 0.01, 2), size + i) for i in range(10)),
                                 tuple((round(100.01 + i * 0.01, 2), size + i) for i in range(10))))

    flushes = model.flushes
    _stream(qtbot, 0.5, push)
    assert model.books_received > 200
    assert 3 <= model.flushes - flushes <= 0.5 * 20 + 2
    assert events == []  # the inside market did not move: sizes change in place
    frames = sorted(dict(reversed(painted)).values())  # the first repaint of each flush
    assert len(frames) == model.flushes - flushes
    assert min(b - a for a, b in zip(frames, frames[1:], strict=False)) >= 0.045


def test_optimizer_runs_are_appended_in_one_insert_per_flush_and_the_best_replace_the_worst_past_the_cap(qtbot):
    from PySide6.QtCore import QSortFilterProxyModel

    from terminal.ui.models.optimizer_results import SORT_ROLE, OptimizerResultsModel

    model = OptimizerResultsModel(max_rows=4)
    model.set_records(["fast"], ["fast", "sharpe", "error"], "sharpe")
    proxy = QSortFilterProxyModel()
    proxy.setSourceModel(model)
    proxy.setSortRole(SORT_ROLE)
    proxy.sort(1, Qt.SortOrder.DescendingOrder)
    events = _structure_events(model)
    changed = []
    model.dataChanged.connect(lambda a, b: changed.append((a.row(), b.row())))
    for fast, sharpe in ((5, 0.5), (10, 1.5), (15, float("nan")), (20, 1.0)):
        model.add({"fast": fast, "sharpe": sharpe, "error": ""})
    assert model.rowCount() == 0  # shown at the flush, all four in one insert
    model.flush()
    assert events == [("inserted", 0, 3)]
    assert [proxy.index(r, 0).data() for r in range(4)] == ["10", "20", "5", "15"]  # best first, NaN last
    model.add({"fast": 25, "sharpe": 2.0, "error": ""})  # better than the worst shown: takes the NaN run's row
    model.add({"fast": 30, "sharpe": 0.1, "error": ""})  # worse than every run shown: not listed
    model.add({"fast": 35, "sharpe": 9.0, "error": "boom"})  # a failed run ranks last
    model.flush()
    assert events == [("inserted", 0, 3)] and changed == [(2, 2)]
    assert [proxy.index(r, 0).data() for r in range(4)] == ["25", "10", "20", "5"]
    assert proxy.index(0, 1).data() == "2.00"
