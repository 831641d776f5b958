"""Watchlist table model: quotes arrive at any rate, the view repaints changed cells at display rate; greyed
while the connection is not live (the prices shown are then the last received, not the market's)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, QTimer

from terminal.domain import Instrument, Quote
from terminal.ui.models import format as fmt
from terminal.ui.models.coalesce import emit_changed
from terminal.ui.theme import DARK, Theme

COLUMNS = ("Symbol", "Bid", "Ask", "Last", "Chg", "Chg %", "Volume", "Bid size", "Ask size")
FLASH_SECONDS = 0.6
_Index = QModelIndex | QPersistentModelIndex
_ROLES = frozenset({Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.TextAlignmentRole, Qt.ItemDataRole.ForegroundRole,
                    Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.ToolTipRole})
_ALIGN_LEFT = int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft)
_ALIGN_RIGHT = int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight)


@dataclass
class _Row:
    instrument: Instrument
    quote: Quote
    flash_until: float = 0.0
    flash_up: bool = True
    cells: tuple[str, ...] | None = None  # formatted texts, made once per quote when the view asks


class WatchlistModel(QAbstractTableModel):
    """Rows of instruments with their latest quote; ``update_quote`` only records, a timer repaints.
    ``set_stale(True)`` greys every row (and stops flashes) at once, until ``set_stale(False)``."""

    def __init__(self, theme: Theme = DARK, refresh_hz: float = 20.0, parent=None) -> None:
        super().__init__(parent)
        self.theme = theme
        self._rows: list[_Row] = []
        self._row_of: dict[str, int] = {}
        self._dirty: set[int] = set()
        self.updates_received = 0
        self.updates_applied = 0
        self.stale = False
        self._timer = QTimer(self)
        self._timer.setInterval(int(1000 / refresh_hz))
        self._timer.timeout.connect(self.flush)
        self._timer.start()

    # --- content -----------------------------------------------------------------
    def set_instruments(self, instruments: list[Instrument], quotes: dict[str, Quote] | None = None) -> None:
        self.beginResetModel()
        quotes = quotes or {}
        self._rows = [_Row(i, quotes.get(i.key, Quote(i.symbol))) for i in instruments]
        self._row_of = {r.instrument.key: n for n, r in enumerate(self._rows)}
        self._dirty.clear()
        self.endResetModel()

    def instruments(self) -> list[Instrument]:
        return [r.instrument for r in self._rows]

    def instrument_at(self, row: int) -> Instrument | None:
        return self._rows[row].instrument if 0 <= row < len(self._rows) else None

    def row_of(self, key: str) -> int:
        return self._row_of.get(key, -1)

    def quote(self, key: str) -> Quote | None:
        row = self._row_of.get(key)
        return None if row is None else self._rows[row].quote

    def update_quote(self, key: str, quote: Quote) -> None:
        """Record a quote; cheap, so it can be called for every tick."""
        row = self._row_of.get(key)
        self.updates_received += 1
        if row is None:
            return
        entry = self._rows[row]
        old = entry.quote.last
        if math.isfinite(quote.last) and math.isfinite(old) and quote.last != old:
            entry.flash_until = time.monotonic() + FLASH_SECONDS
            entry.flash_up = quote.last > old
        entry.quote = quote
        entry.cells = None
        self._dirty.add(row)

    def set_stale(self, stale: bool) -> None:
        """Grey every quote (no up/down colours, no flash) while the connection is not live, or show them live
        again. Repainted now, not at the next flush: a stale feed must not look live for a moment longer."""
        if stale == self.stale:
            return
        self.stale = stale
        if self._rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._rows) - 1, len(COLUMNS) - 1))

    def flush(self) -> None:
        """Repaint rows changed since the last flush (and rows whose flash just ended)."""
        now = time.monotonic()
        for n, entry in enumerate(self._rows):
            if entry.flash_until and entry.flash_until <= now:
                entry.flash_until = 0.0
                self._dirty.add(n)
        if not self._dirty:
            return
        rows, self._dirty = self._dirty, set()
        self.updates_applied += len(rows)
        last_column = len(COLUMNS) - 1
        emit_changed(self, [(row, 0, last_column) for row in rows])  # one dataChanged per run of rows

    # --- Qt model API ------------------------------------------------------------
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole):
        # A repaint asks for a dozen roles per cell: answer the unused ones first and format a row once.
        if role not in _ROLES or not index.isValid():
            return None
        entry = self._rows[index.row()]
        q, col = entry.quote, index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if entry.cells is None:
                nd = entry.instrument.price_decimals()
                entry.cells = (
                    entry.instrument.display_name, fmt.price(q.bid, nd), fmt.price(q.ask, nd), fmt.price(q.last, nd),
                    fmt.signed(q.change, nd), fmt.percent(q.change_percent), fmt.size(q.volume),
                    fmt.size(q.bid_size), fmt.size(q.ask_size),
                )
            return entry.cells[col]
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _ALIGN_LEFT if col == 0 else _ALIGN_RIGHT
        if self.stale:
            if role == Qt.ItemDataRole.ForegroundRole:
                return self.theme.color("stale")
            if role == Qt.ItemDataRole.ToolTipRole:
                return f"{entry.instrument.display_name}: stale, the last quote received; the connection is not live"
            return None
        if role == Qt.ItemDataRole.ForegroundRole and col in (4, 5):
            change = q.change
            if math.isfinite(change) and change != 0:
                return self.theme.color("up" if change > 0 else "down")
        if role == Qt.ItemDataRole.BackgroundRole and col == 3 and entry.flash_until > time.monotonic():
            return self.theme.color("flash_up" if entry.flash_up else "flash_down")
        if role == Qt.ItemDataRole.ToolTipRole and col == 0:
            return entry.instrument.description or entry.instrument.key
        return None
