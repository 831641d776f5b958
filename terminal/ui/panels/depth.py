"""Depth ladder: L2 price levels of the selected instrument; click a bid/ask cell to work a limit order there,
click a level holding your working order to cancel it.

The ladder is a band of prices on the instrument's tick grid, one row per tick, highest on top, keyed by price:
a depth message only records the latest book, and a display-rate flush writes the sizes that changed into their
rows and repaints just those cells. Rows are inserted and removed only to recentre the band when the inside
market drifts away from its centre, and never while a mouse button is down on the ladder, so the price under a
click cannot move between press and release."""

from __future__ import annotations

import math

from PySide6.QtCore import QAbstractTableModel, QEvent, QModelIndex, QObject, Qt, Signal
from PySide6.QtGui import QHideEvent, QMouseEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from terminal.domain import Instrument, Order, OrderSide, OrderType
from terminal.services.market import DepthBook
from terminal.ui.models import format as fmt
from terminal.ui.models.coalesce import DISPLAY_HZ, FlushTimer, emit_changed
from terminal.ui.order_entry import OrderEntry
from terminal.ui.panels.common import make_table

COLUMNS = ("My bids", "Bid size", "Price", "Ask size", "My asks")
HALF_BAND = 20  # rows above and below the centre price: ten levels a side, the spread and room to drift
RECENTRE_TICKS = 5  # how far the inside market may drift from the centre before the band follows it
_NO_ORDERS = (0.0, 0.0)


class LadderModel(QAbstractTableModel):
    """``2 * HALF_BAND + 1`` prices centred on the inside market; ``rows[r]`` is (price, bid size, ask size),
    NaN where the book has no level; own working orders are shown beside their prices.

    ``set_book`` and ``set_working`` only record; ``flush`` (at most ``refresh_hz`` times a second) applies
    them. While ``held`` the band does not move: sizes still update in place. While ``stale`` (the connection
    is not live) the book shown is the last received: greyed, without the bid/ask colours."""

    recentred = Signal()

    def __init__(self, theme, refresh_hz: float = DISPLAY_HZ, parent=None) -> None:
        super().__init__(parent)
        self.theme = theme
        self.instrument: Instrument | None = None
        self.rows: list[tuple[float, float, float]] = []
        self._top = 0  # tick number (price / tick size) of row 0
        self._bids: dict[int, float] = {}  # the applied book, by tick number
        self._asks: dict[int, float] = {}
        self._orders: dict[int, list[Order]] = {}  # working orders by tick number
        self._mine: dict[int, tuple[float, float]] = {}  # remaining (buy, sell) by tick number
        self._book: DepthBook | None = None  # latest, not applied yet
        self._working: list[Order] | None = None
        self._held = False
        self.stale = False
        self._timer = FlushTimer(self, self.flush, refresh_hz)
        self.books_received = 0
        self.flushes = 0

    # --- the price grid ----------------------------------------------------------------------
    def _tick(self, price: float) -> int:
        assert self.instrument is not None
        return round(price / self.instrument.tick_size)

    def _price(self, tick: int) -> float:
        assert self.instrument is not None
        return round(tick * self.instrument.tick_size, self.instrument.price_decimals())

    def _make_row(self, tick: int) -> tuple[float, float, float]:
        return self._price(tick), self._bids.get(tick, math.nan), self._asks.get(tick, math.nan)

    def row_of_price(self, price: float) -> int:
        """Row showing ``price``, -1 outside the band."""
        if self.instrument is None or not self.rows:
            return -1
        row = self._top - self._tick(price)
        return row if 0 <= row < len(self.rows) else -1

    def price_at(self, row: int) -> float | None:
        return self.rows[row][0] if 0 <= row < len(self.rows) else None

    @property
    def centre_row(self) -> int:
        return HALF_BAND

    # --- input -------------------------------------------------------------------------------
    def set_instrument(self, instrument: Instrument | None) -> None:
        """Show another instrument: the ladder empties until its first book."""
        self.beginResetModel()
        self.instrument = instrument
        self.rows = []
        self._bids, self._asks, self._orders, self._mine = {}, {}, {}, {}
        self._book = None
        self._working = None
        self.endResetModel()

    def set_book(self, book: DepthBook) -> None:
        """Record the latest book; cheap, so it can be called for every depth message."""
        if self.instrument is None or book.instrument.key != self.instrument.key:
            return
        self.books_received += 1
        self._book = book
        self._timer.schedule()

    def set_working(self, orders: list[Order]) -> None:
        """Record the instrument's working orders (shown in the My bids / My asks columns)."""
        self._working = list(orders)
        self._timer.schedule()

    def set_stale(self, stale: bool) -> None:
        """Grey the book while the connection is not live, or colour it again; repainted at once."""
        if stale == self.stale:
            return
        self.stale = stale
        if self.rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.rows) - 1, len(COLUMNS) - 1))

    @property
    def held(self) -> bool:
        return self._held

    def hold(self, held: bool) -> None:
        """Freeze the rows (a mouse button is down on them) or release them; a release never moves rows at once,
        only at the next flush, after the release itself has been handled."""
        self._held = held
        if not held:
            self._timer.schedule()

    # --- applying ----------------------------------------------------------------------------
    def flush(self) -> None:
        """Apply the latest book and working orders: changed cells are repainted, rows move only to recentre."""
        if self.instrument is None or (self._book is None and self._working is None and self._held):
            return
        spans: list[tuple[int, int, int]] = []
        book, self._book = self._book, None
        if book is not None or self._working is not None:
            self.flushes += 1
        if book is not None:
            old_bids, old_asks = self._bids, self._asks
            self._bids = {self._tick(price): size for price, size in book.bids}
            self._asks = {self._tick(price): size for price, size in book.asks}
            for column, old, new in ((1, old_bids, self._bids), (3, old_asks, self._asks)):
                for tick in old.keys() | new.keys():
                    if old.get(tick) != new.get(tick):
                        row = self._top - tick
                        if 0 <= row < len(self.rows):
                            self.rows[row] = self._make_row(tick)
                            spans.append((row, column, column))
        if self._working is not None:
            orders, self._working = self._working, None
            spans += self._apply_working(orders)
        emit_changed(self, spans)  # before any recentring: the spans are rows of the current layout
        if not self._held:
            self._recentre()

    def _apply_working(self, orders: list[Order]) -> list[tuple[int, int, int]]:
        by_tick: dict[int, list[Order]] = {}
        for order in orders:
            price = order.limit_price if order.limit_price is not None else order.stop_price
            if price is not None and math.isfinite(price):
                by_tick.setdefault(self._tick(price), []).append(order)
        mine = {tick: (sum(o.remaining for o in group if o.side is OrderSide.BUY),
                       sum(o.remaining for o in group if o.side is OrderSide.SELL)) for tick, group in by_tick.items()}
        old, self._orders, self._mine = self._mine, by_tick, mine
        spans = []
        for tick in old.keys() | mine.keys():
            before, after = old.get(tick, _NO_ORDERS), mine.get(tick, _NO_ORDERS)
            row = self._top - tick
            if 0 <= row < len(self.rows):
                if before[0] != after[0]:
                    spans.append((row, 0, 0))
                if before[1] != after[1]:
                    spans.append((row, 4, 4))
        return spans

    def _centre_tick(self) -> int | None:
        best_bid = max(self._bids, default=None)
        best_ask = min(self._asks, default=None)
        if best_bid is not None and best_ask is not None:
            return (best_bid + best_ask) // 2
        return best_bid if best_bid is not None else best_ask

    def _recentre(self) -> None:
        """Move the band onto the inside market if it drifted beyond ``RECENTRE_TICKS``: rows leave at one end
        and enter at the other (all of them after a jump wider than the band); the rest keep their place."""
        centre = self._centre_tick()
        if centre is None:
            return
        count = len(self.rows)
        if count and abs(centre - (self._top - HALF_BAND)) <= RECENTRE_TICKS:
            return
        target_top = centre + HALF_BAND
        if not count:
            size = 2 * HALF_BAND + 1
            self.beginInsertRows(QModelIndex(), 0, size - 1)
            self._top = target_top
            self.rows = [self._make_row(target_top - r) for r in range(size)]
            self.endInsertRows()
            self.recentred.emit()
            return
        shift = target_top - self._top
        moved = min(abs(shift), count)
        if shift > 0:  # the market rose: prices leave at the bottom, higher ones enter on top
            self.beginRemoveRows(QModelIndex(), count - moved, count - 1)
            del self.rows[count - moved:]
            self.endRemoveRows()
            self.beginInsertRows(QModelIndex(), 0, moved - 1)
            self._top = target_top
            self.rows[0:0] = [self._make_row(target_top - r) for r in range(moved)]
            self.endInsertRows()
        else:  # the market fell: prices leave on top, lower ones enter at the bottom
            self.beginRemoveRows(QModelIndex(), 0, moved - 1)
            del self.rows[:moved]
            self._top = target_top  # the rows kept start at the new top
            self.endRemoveRows()
            kept = count - moved
            self.beginInsertRows(QModelIndex(), kept, count - 1)
            self.rows += [self._make_row(target_top - r) for r in range(kept, count)]
            self.endInsertRows()
        self.recentred.emit()

    # --- queries -----------------------------------------------------------------------------
    def orders_at(self, row: int, side: OrderSide) -> list[Order]:
        if not 0 <= row < len(self.rows):
            return []
        return [o for o in self._orders.get(self._top - row, ()) if o.side is side]

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self.rows):
            return None
        price, bid_size, ask_size = self.rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col in (0, 4):
                mine = self._mine.get(self._top - index.row(), _NO_ORDERS)[0 if col == 0 else 1]
                return fmt.size(mine) if mine else ""
            if col == 2:
                return fmt.price(price, self.instrument.price_decimals() if self.instrument else 2)
            return fmt.size(bid_size if col == 1 else ask_size)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignCenter)
        if self.stale:
            if role == Qt.ItemDataRole.ForegroundRole:
                return self.theme.color("stale")
            if role == Qt.ItemDataRole.BackgroundRole and ((col == 1 and math.isfinite(bid_size))
                                                           or (col == 3 and math.isfinite(ask_size))):
                return self.theme.color("alternate")
            return None
        if role == Qt.ItemDataRole.BackgroundRole:
            if col == 1 and math.isfinite(bid_size):
                return self.theme.color("flash_up")
            if col == 3 and math.isfinite(ask_size):
                return self.theme.color("flash_down")
        return None


class DepthPanel(QWidget):
    def __init__(self, session, theme, entry: OrderEntry | None = None, parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self.session = session
        self.entry = entry or OrderEntry(session, self)
        self.model = LadderModel(theme)
        self.title = QLabel("Depth — select a symbol")
        self.quantity = QSpinBox()
        self.quantity.setRange(1, 1_000_000)
        self.quantity.setValue(100)
        self.quantity.setPrefix("Qty ")
        self.message = QLabel("")
        self.message.setObjectName("error")
        self.message.setWordWrap(True)
        self.table = make_table(self.model)
        self.table.setSelectionMode(self.table.SelectionMode.NoSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.quantity)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.message)
        self.table.clicked.connect(self.on_click)
        # the rows hold still from press to release: a click trades the price it was pressed on
        self.table.viewport().installEventFilter(self)
        self.model.recentred.connect(self.centre_view)
        session.market.depth_updated.connect(self.on_depth)
        session.orders.order_changed.connect(lambda _: self.refresh_orders())
        session.status_changed.connect(self.show_status)
        self.instrument: Instrument | None = None
        self.show_status(session.status)

    async def show_instrument(self, instrument: Instrument) -> None:
        if self.instrument is not None and self.instrument.key != instrument.key:
            await self.session.market.unsubscribe_depth(self.instrument)
        if self.instrument is None or self.instrument.key != instrument.key:
            self.instrument = instrument
            self._show_title()
            if instrument.sec_type.value == "FUT":
                self.quantity.setValue(1)
            self.model.set_instrument(instrument)
            self.refresh()
            await self.session.market.subscribe_depth(instrument)

    def show_status(self, status) -> None:  # type: ignore[no-untyped-def]
        """Grey the ladder while the session's prices are stale (``status.stale``), and say so in its title."""
        self.model.set_stale(status.stale)
        self._show_title()

    def _show_title(self) -> None:
        if self.instrument is not None:
            stale = "  (stale)" if self.session.status.stale else ""
            self.title.setText(f"Depth — {self.instrument.display_name}{stale}")

    def on_depth(self, book: DepthBook) -> None:
        if self.instrument is not None and book.instrument.key == self.instrument.key:
            self.model.set_book(book)

    def refresh(self) -> None:
        """Show the service's latest book and working orders for the instrument."""
        if self.instrument is None:
            return
        book = self.session.market.depth.get(self.instrument.key)
        if book is not None:
            self.model.set_book(book)
        self.refresh_orders()

    def refresh_orders(self) -> None:
        if self.instrument is not None:
            key = self.instrument.key
            self.model.set_working([o for o in self.session.orders.working() if o.instrument.key == key])

    def centre_view(self) -> None:
        """Scroll the centre price to the middle of the view (never while a button is held on it)."""
        if self.model.rows and not self.model.held:
            self.table.scrollTo(self.model.index(self.model.centre_row, 2),
                                QAbstractItemView.ScrollHint.PositionAtCenter)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if watched is self.table.viewport():
            kind = event.type()
            if kind in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonDblClick):
                self.model.hold(True)
            elif (kind == QEvent.Type.MouseButtonRelease and isinstance(event, QMouseEvent)
                  and event.buttons() == Qt.MouseButton.NoButton):
                self.model.hold(False)  # rows may move from the next flush on, after this release is handled
            elif kind == QEvent.Type.Resize:
                self.centre_view()
        return super().eventFilter(watched, event)

    def hideEvent(self, event: QHideEvent) -> None:  # noqa: N802
        self.model.hold(False)  # a release that went elsewhere must not freeze the ladder for good
        super().hideEvent(event)

    def on_click(self, index) -> None:  # type: ignore[no-untyped-def]
        row, col = index.row(), index.column()
        price = self.model.price_at(row)
        if self.instrument is None or price is None:
            return
        if col in (0, 4):
            side = OrderSide.BUY if col == 0 else OrderSide.SELL
            for order in self.model.orders_at(row, side):
                self.entry.cancel(order.client_order_id, self.show_error)
            return
        if col in (1, 3):
            side = OrderSide.BUY if col == 1 else OrderSide.SELL
            order = Order(self.instrument, side, float(self.quantity.value()), OrderType.LIMIT,
                          limit_price=self.instrument.round_to_tick(price), source="ladder")
            self.message.setText("")
            self.entry.place(order, self.show_error)

    def show_error(self, error: Exception) -> None:
        self.message.setText(str(error))
