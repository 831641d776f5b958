"""Generic keyed table model and the column sets of the blotter, fills, positions and log tables."""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from terminal.domain import Fill, Order, OrderSide, Position
from terminal.ui.models import format as fmt
from terminal.ui.theme import DARK, Theme

T = TypeVar("T")
_Index = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True)
class Column(Generic[T]):
    header: str
    text: Callable[[T], str]
    right: bool = True
    tone: Callable[[T], float] | None = None  # sign picks the up/down colour
    sort_key: Callable[[T], Any] | None = None


class RecordTableModel(QAbstractTableModel, Generic[T]):
    """Rows of records identified by a key; ``upsert`` replaces a row in place or appends it."""

    def __init__(self, columns: list[Column[T]], key: Callable[[T], Hashable], theme: Theme = DARK,
                 newest_first: bool = False, max_rows: int = 10_000, parent=None) -> None:
        super().__init__(parent)
        self.columns = columns
        self._key = key
        self.theme = theme
        self._rows: list[T] = []
        self._index: dict[Hashable, int] = {}
        self._newest_first = newest_first
        self._max_rows = max_rows

    def records(self) -> list[T]:
        return list(self._rows)

    def record_at(self, row: int) -> T | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def set_records(self, records: Iterable[T]) -> None:
        self.beginResetModel()
        self._rows = list(records)[: self._max_rows]
        self._reindex()
        self.endResetModel()

    def upsert(self, record: T) -> None:
        key = self._key(record)
        row = self._index.get(key)
        if row is not None:
            self._rows[row] = record
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(self.columns) - 1))
            return
        position = 0 if self._newest_first else len(self._rows)
        self.beginInsertRows(QModelIndex(), position, position)
        self._rows.insert(position, record)
        self.endInsertRows()
        if len(self._rows) > self._max_rows:
            drop = len(self._rows) - 1 if self._newest_first else 0
            self.beginRemoveRows(QModelIndex(), drop, drop)
            self._rows.pop(drop)
            self.endRemoveRows()
        self._reindex()

    def remove(self, key: Hashable) -> None:
        row = self._index.get(key)
        if row is None:
            return
        self.beginRemoveRows(QModelIndex(), row, row)
        self._rows.pop(row)
        self.endRemoveRows()
        self._reindex()

    def _reindex(self) -> None:
        self._index = {self._key(r): n for n, r in enumerate(self._rows)}

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.columns[section].header
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        record, column = self._rows[index.row()], self.columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.text(record)
        if role == Qt.ItemDataRole.UserRole:
            return column.sort_key(record) if column.sort_key else column.text(record)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            horizontal = Qt.AlignmentFlag.AlignRight if column.right else Qt.AlignmentFlag.AlignLeft
            return int(Qt.AlignmentFlag.AlignVCenter | horizontal)
        if role == Qt.ItemDataRole.ForegroundRole and column.tone is not None:
            value = column.tone(record)
            if math.isfinite(value) and value != 0:
                return self.theme.color("up" if value > 0 else "down")
        return None


def _nd(order_or_fill: Order | Fill | Position) -> int:
    return order_or_fill.instrument.price_decimals()


def _side_tone(side: OrderSide) -> float:
    return 1.0 if side is OrderSide.BUY else -1.0


def _opt_price(value: float | None, decimals: int) -> str:
    return "" if value is None else fmt.price(value, decimals)


ORDER_COLUMNS: list[Column[Order]] = [
    Column("Time", lambda o: o.created.astimezone().strftime("%H:%M:%S") if o.created else "", right=False),
    Column("Id", lambda o: str(o.order_id or "")),
    Column("Symbol", lambda o: o.instrument.display_name, right=False),
    Column("Side", lambda o: o.side.value, right=False, tone=lambda o: _side_tone(o.side)),
    Column("Qty", lambda o: fmt.size(o.quantity)),
    Column("Type", lambda o: o.order_type.value, right=False),
    Column("Limit", lambda o: _opt_price(o.limit_price, _nd(o))),
    Column("Stop", lambda o: _opt_price(o.stop_price, _nd(o)) or (
        _opt_price(o.trail_amount, _nd(o)) if o.trail_amount else (f"{o.trail_percent:g}%" if o.trail_percent else ""))),
    Column("TIF", lambda o: o.time_in_force.value, right=False),
    Column("Filled", lambda o: fmt.size(o.filled_quantity)),
    Column("Avg price", lambda o: fmt.price(o.average_fill_price, _nd(o)) if o.filled_quantity else ""),
    Column("Status", lambda o: o.status.value, right=False),
    Column("Source", lambda o: o.source, right=False),
    Column("Reason", lambda o: o.reason, right=False),
]

FILL_COLUMNS: list[Column[Fill]] = [
    Column("Time", lambda f: f.time.astimezone().strftime("%Y-%m-%d %H:%M:%S"), right=False),
    Column("Symbol", lambda f: f.instrument.display_name, right=False),
    Column("Side", lambda f: f.side.value, right=False, tone=lambda f: _side_tone(f.side)),
    Column("Qty", lambda f: fmt.size(f.quantity)),
    Column("Price", lambda f: fmt.price(f.price, _nd(f))),
    Column("Commission", lambda f: fmt.price(f.commission, 2)),
    Column("Realized P&L", lambda f: fmt.signed(f.realized_pnl) if f.realized_pnl else "", tone=lambda f: f.realized_pnl),
    Column("Order", lambda f: str(f.order_id)),
    Column("Exec id", lambda f: f.execution_id, right=False),
]

POSITION_COLUMNS: list[Column[Position]] = [
    Column("Symbol", lambda p: p.instrument.display_name, right=False),
    Column("Position", lambda p: fmt.size(p.quantity), tone=lambda p: p.quantity),
    Column("Avg cost", lambda p: fmt.price(p.average_cost, _nd(p) + 2)),
    Column("Last", lambda p: fmt.price(p.market_price, _nd(p))),
    Column("Market value", lambda p: fmt.price(p.market_value, 2)),
    Column("Unrealized P&L", lambda p: fmt.signed(p.unrealized_pnl), tone=lambda p: p.unrealized_pnl),
    Column("Realized P&L", lambda p: fmt.signed(p.realized_pnl), tone=lambda p: p.realized_pnl),
]
