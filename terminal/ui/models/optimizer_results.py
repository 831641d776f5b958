"""Optimizer results table model: grid runs stream in and are appended in batches at display rate, never rebuilt.

A ``QSortFilterProxyModel`` over it (sort role ``SORT_ROLE``) keeps the view ordered, placing each new row by
itself. Past ``max_rows`` a run better than the worst one shown takes that row's place in the table, so the view
keeps the best runs while the grid goes on (the heatmap and the final table still use every run)."""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable
from typing import TypeGuard

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt

from terminal.ui.models.coalesce import DISPLAY_HZ, FlushTimer, emit_changed

SORT_ROLE = Qt.ItemDataRole.UserRole
PERCENT_STATS = frozenset({"total_return", "annualised_return", "max_drawdown", "win_rate"})
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)


def is_number(value: object) -> TypeGuard[int | float | np.number]:
    """A statistic or numeric parameter value (a bool is a parameter value of its own kind)."""
    return isinstance(value, int | float | np.number) and not isinstance(value, bool | np.bool_)


def format_stat(key: str, value: float) -> str:
    """A statistic as the tables show it: percentages for returns and rates, a dash for a missing value."""
    if value is None or not math.isfinite(float(value)):
        return "–"
    if key == "trades":
        return f"{value:.0f}"
    return f"{value * 100:.1f}%" if key in PERCENT_STATS else f"{value:,.2f}"


def param_value(value: object) -> object:
    """A parameter value as the user typed it: 10 not 10.0 for a whole number."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return int(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


class OptimizerResultsModel(QAbstractTableModel):
    """One row per grid run (a dict of parameters, statistics and ``error``), columns chosen by the panel."""

    def __init__(self, max_rows: int = 1_000, refresh_hz: float = DISPLAY_HZ, parent=None) -> None:
        super().__init__(parent)
        self.max_rows = max_rows
        self.names: list[str] = []  # the varied parameters
        self.columns: list[str] = []
        self.metric = ""
        self._rows: list[dict] = []
        self._worst: list[tuple[float, int, int]] = []  # min-heap of (metric score, arrival, row) of shown rows
        self._arrivals = 0
        self._pending: list[dict] = []
        self._timer = FlushTimer(self, self.flush, refresh_hz)
        self.flushes = 0

    def set_records(self, names: list[str], columns: list[str], metric: str, records: Iterable[dict] = ()) -> None:
        """Start over with these columns (and rows, at most ``max_rows`` of them)."""
        self.beginResetModel()
        self.names, self.columns, self.metric = list(names), list(columns), metric
        self._rows, self._worst, self._pending = [], [], []
        for record in records:
            if len(self._rows) >= self.max_rows:
                break
            self._keep(record, len(self._rows))
            self._rows.append(record)
        self.endResetModel()

    def add(self, record: dict) -> None:
        """Record one finished run; it is shown at the next flush. O(1)."""
        self._pending.append(record)
        self._timer.schedule()

    def flush(self) -> None:
        """Append the runs that arrived since the last flush in one insert; past ``max_rows``, replace worse rows."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        self.flushes += 1
        room = max(0, self.max_rows - len(self._rows))
        appended, rest = pending[:room], pending[room:]
        if appended:
            start = len(self._rows)
            self.beginInsertRows(QModelIndex(), start, start + len(appended) - 1)
            for n, record in enumerate(appended):
                self._keep(record, start + n)
            self._rows.extend(appended)
            self.endInsertRows()
        replaced = []
        for record in rest:  # O(log n) each: the heap names the worst row shown
            score = self._score(record)
            if self._worst and score > self._worst[0][0]:
                row = self._worst[0][2]
                self._arrivals += 1
                heapq.heapreplace(self._worst, (score, self._arrivals, row))
                self._rows[row] = record
                replaced.append((row, 0, len(self.columns) - 1))
        emit_changed(self, replaced)

    def _keep(self, record: dict, row: int) -> None:
        self._arrivals += 1
        heapq.heappush(self._worst, (self._score(record), self._arrivals, row))

    def _score(self, record: dict) -> float:
        value = record.get(self.metric)
        if record.get("error") or not is_number(value) or not math.isfinite(float(value)):
            return -math.inf
        return float(value)

    def record_at(self, row: int) -> dict | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def records(self) -> list[dict]:
        return list(self._rows)

    # --- Qt model API ------------------------------------------------------------------------
    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.columns[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        key = self.columns[index.column()]
        value = self._rows[index.row()].get(key, "")
        number = is_number(value)
        if role == Qt.ItemDataRole.DisplayRole:
            if not number:
                return str(value)
            return str(param_value(value)) if key in self.names else format_stat(key, float(value))
        if role == SORT_ROLE:  # numbers by value, failed or missing last in a descending sort; text as text
            if number:
                return float(value) if math.isfinite(float(value)) else -math.inf
            return str(value) if key in self.names or key == "error" else -math.inf
        if role == Qt.ItemDataRole.TextAlignmentRole and number:
            return _RIGHT
        return None
