"""Depth ladder: L2 price levels of the selected instrument; click a bid/ask cell to work a limit order there,
click a level holding your working order to cancel it."""

from __future__ import annotations

import math

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PySide6.QtWidgets import QHBoxLayout, QHeaderView, QLabel, QSpinBox, QVBoxLayout, QWidget

from terminal.domain import Instrument, Order, OrderSide, OrderType
from terminal.services.market import DepthBook
from terminal.ui.models import format as fmt
from terminal.ui.order_entry import OrderEntry
from terminal.ui.panels.common import make_table

COLUMNS = ("My bids", "Bid size", "Price", "Ask size", "My asks")


class LadderModel(QAbstractTableModel):
    """Rows are prices, best ask levels on top, then best bid levels; own working orders shown beside them."""

    def __init__(self, theme, parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self.theme = theme
        self.instrument: Instrument | None = None
        self.rows: list[tuple[float, float, float]] = []  # price, bid size, ask size
        self.working: dict[float, list[Order]] = {}

    def set_book(self, book: DepthBook | None, working: list[Order]) -> None:
        self.beginResetModel()
        self.instrument = book.instrument if book else self.instrument
        rows: list[tuple[float, float, float]] = []
        if book is not None:
            rows += [(price, math.nan, size) for price, size in sorted(book.asks, key=lambda level: -level[0])]
            rows += [(price, size, math.nan) for price, size in book.bids]
        self.rows = rows
        self.working = {}
        for order in working:
            price = order.limit_price if order.limit_price is not None else order.stop_price
            if price is not None:
                self.working.setdefault(round(price, 8), []).append(order)
        self.endResetModel()

    def orders_at(self, row: int, side: OrderSide) -> list[Order]:
        if not 0 <= row < len(self.rows):
            return []
        return [o for o in self.working.get(round(self.rows[row][0], 8), []) if o.side is side]

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        price, bid_size, ask_size = self.rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            nd = self.instrument.price_decimals() if self.instrument else 2
            if col == 0:
                mine = sum(o.remaining for o in self.orders_at(index.row(), OrderSide.BUY))
                return fmt.size(mine) if mine else ""
            if col == 4:
                mine = sum(o.remaining for o in self.orders_at(index.row(), OrderSide.SELL))
                return fmt.size(mine) if mine else ""
            return (None, fmt.size(bid_size), fmt.price(price, nd), fmt.size(ask_size))[col]
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignCenter)
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
        session.market.depth_updated.connect(self.on_depth)
        session.orders.order_changed.connect(lambda _: self.refresh())
        self.instrument: Instrument | None = None

    async def show_instrument(self, instrument: Instrument) -> None:
        if self.instrument is not None and self.instrument.key != instrument.key:
            await self.session.market.unsubscribe_depth(self.instrument)
        if self.instrument is None or self.instrument.key != instrument.key:
            self.instrument = instrument
            self.title.setText(f"Depth — {instrument.display_name}")
            if instrument.sec_type.value == "FUT":
                self.quantity.setValue(1)
            self.refresh()
            await self.session.market.subscribe_depth(instrument)

    def on_depth(self, book: DepthBook) -> None:
        if self.instrument is not None and book.instrument.key == self.instrument.key:
            self.refresh(book)

    def refresh(self, book: DepthBook | None = None) -> None:
        if self.instrument is None:
            return
        book = book or self.session.market.depth.get(self.instrument.key)
        working = [o for o in self.session.orders.working() if o.instrument.key == self.instrument.key]
        self.model.set_book(book, working)

    def on_click(self, index) -> None:  # type: ignore[no-untyped-def]
        row, col = index.row(), index.column()
        if self.instrument is None or not 0 <= row < len(self.model.rows):
            return
        price = self.model.rows[row][0]
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
