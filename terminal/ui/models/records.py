"""Generic keyed table model and the column sets of the blotter, fills, positions and log tables.

Desk-scale streams (a fill or log line per event, a position re-marked on every tick of a held symbol) must cost
the same whatever the table holds: records are stored oldest first with a sequence number per key, so an insert is
an append (the view shows it at the top or the bottom) and an update is a dict lookup; neither rescans the rows.
Updates are repainted at display rate, and only in the cells whose text changed."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from terminal.domain import Fill, Order, OrderSide, Position
from terminal.ui.models import format as fmt
from terminal.ui.models.coalesce import DISPLAY_HZ, FlushTimer, emit_changed
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


@dataclass(slots=True)
class _Entry(Generic[T]):
    key: Hashable
    record: T
    cells: tuple[str, ...] | None = None  # texts as last formatted for the view


class RecordTableModel(QAbstractTableModel, Generic[T]):
    """Rows of records identified by a key; ``upsert`` replaces a row in place or inserts it.

    An insert is one ``beginInsertRows`` (at the top with ``newest_first``, else at the bottom); beyond
    ``max_rows`` the oldest row is dropped. An update of a known key takes effect for ``data()`` at once and is
    repainted by a flush at most ``refresh_hz`` times a second, as one ``dataChanged`` over the changed cells."""

    def __init__(self, columns: list[Column[T]], key: Callable[[T], Hashable], theme: Theme = DARK,
                 newest_first: bool = False, max_rows: int = 10_000, refresh_hz: float = DISPLAY_HZ,
                 parent=None) -> None:
        super().__init__(parent)
        self.columns = columns
        self._key = key
        self.theme = theme
        self._newest_first = newest_first
        self._max_rows = max_rows
        # storage oldest first: appends at the right, the oldest dropped at the left, both O(1)
        self._entries: deque[_Entry[T]] = deque()
        self._base = 0  # sequence number of _entries[0]
        self._seq: dict[Hashable, int] = {}
        self._dirty: dict[Hashable, tuple[str, ...] | None] = {}  # key -> its cells as the view last saw them
        self._timer = FlushTimer(self, self.flush, refresh_hz)
        self.flushes = 0

    # --- positions: view row <-> storage slot ----------------------------------------------------
    def _count(self) -> int:
        return len(self._entries)

    def _slot(self, row: int) -> int:
        return len(self._entries) - 1 - row if self._newest_first else row

    def _row(self, slot: int) -> int:
        return len(self._entries) - 1 - slot if self._newest_first else slot

    def _entry(self, row: int) -> _Entry[T]:
        return self._entries[self._slot(row)]

    def row_of(self, key: Hashable) -> int:
        """View row of ``key`` (before any sorting proxy), -1 if absent."""
        seq = self._seq.get(key)
        return -1 if seq is None else self._row(seq - self._base)

    # --- content -----------------------------------------------------------------------------
    def records(self) -> list[T]:
        """Every record in view order."""
        return [self._entry(row).record for row in range(self._count())]

    def record_at(self, row: int) -> T | None:
        return self._entry(row).record if 0 <= row < self._count() else None

    def set_records(self, records: Iterable[T]) -> None:
        """Replace every row (``records`` in view order; a repeated key keeps its first record)."""
        self.beginResetModel()
        entries: list[_Entry[T]] = []
        seen: set[Hashable] = set()
        for record in records:
            if len(entries) >= self._max_rows:
                break
            key = self._key(record)
            if key not in seen:
                seen.add(key)
                entries.append(_Entry(key, record))
        if self._newest_first:
            entries.reverse()
        self._entries = deque(entries)
        self._base = 0
        self._seq = {e.key: n for n, e in enumerate(entries)}
        self._dirty.clear()
        self.endResetModel()

    def upsert(self, record: T) -> None:
        """Insert ``record`` or replace the record of its key; O(1) either way."""
        key = self._key(record)
        seq = self._seq.get(key)
        if seq is not None:
            entry = self._entries[seq - self._base]
            if key not in self._dirty:
                self._dirty[key] = entry.cells
            entry.record = record
            entry.cells = None
            self._timer.schedule()
            return
        count = self._count()
        row = 0 if self._newest_first else count
        self.beginInsertRows(QModelIndex(), row, row)
        self._entries.append(_Entry(key, record))
        self._seq[key] = self._base + len(self._entries) - 1
        self.endInsertRows()
        if count + 1 > self._max_rows:
            self._drop_oldest()

    def remove(self, key: Hashable) -> None:
        """Remove the row of ``key``; the rows after it in storage are renumbered (rare: an order leaving the
        working list, a position closed)."""
        seq = self._seq.get(key)
        if seq is None:
            return
        slot = seq - self._base
        row = self._row(slot)
        self.beginRemoveRows(QModelIndex(), row, row)
        del self._entries[slot]
        del self._seq[key]
        self._dirty.pop(key, None)
        for later in range(slot, len(self._entries)):
            self._seq[self._entries[later].key] = self._base + later
        self.endRemoveRows()

    def _drop_oldest(self) -> None:
        row = self._row(0)
        self.beginRemoveRows(QModelIndex(), row, row)
        entry = self._entries.popleft()
        self._base += 1
        del self._seq[entry.key]
        self._dirty.pop(entry.key, None)
        self.endRemoveRows()

    def flush(self) -> None:
        """Repaint the rows updated since the last flush, only in the columns whose text changed."""
        if not self._dirty:
            return
        dirty, self._dirty = self._dirty, {}
        self.flushes += 1
        last_column = len(self.columns) - 1
        spans = []
        for key, old in dirty.items():
            seq = self._seq.get(key)
            if seq is None:
                continue
            slot = seq - self._base
            entry = self._entries[slot]
            new = self._cells(entry)
            if old is None:  # never painted: the whole row
                spans.append((self._row(slot), 0, last_column))
                continue
            changed = [c for c, (a, b) in enumerate(zip(old, new, strict=True)) if a != b]
            if changed:
                spans.append((self._row(slot), changed[0], changed[-1]))
        emit_changed(self, spans)

    def _cells(self, entry: _Entry[T]) -> tuple[str, ...]:
        if entry.cells is None:
            entry.cells = tuple(column.text(entry.record) for column in self.columns)
        return entry.cells

    # --- Qt model API ------------------------------------------------------------------------
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else self._count()

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.columns[section].header
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < self._count():
            return None
        entry, col = self._entry(index.row()), index.column()
        column = self.columns[col]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._cells(entry)[col]
        if role == Qt.ItemDataRole.UserRole:
            return column.sort_key(entry.record) if column.sort_key else self._cells(entry)[col]
        if role == Qt.ItemDataRole.TextAlignmentRole:
            horizontal = Qt.AlignmentFlag.AlignRight if column.right else Qt.AlignmentFlag.AlignLeft
            return int(Qt.AlignmentFlag.AlignVCenter | horizontal)
        if role == Qt.ItemDataRole.ForegroundRole and column.tone is not None:
            value = column.tone(entry.record)
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
    Column("Session", lambda o: o.provenance.label, right=False),  # SIMULATOR, PAPER, LIVE …: kept, never mixed
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
    Column("Account", lambda f: f.account, right=False),
    Column("Session", lambda f: f.provenance.label, right=False),
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
