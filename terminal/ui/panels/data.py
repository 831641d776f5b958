"""Data dock: what the store holds per symbol and bar size (first, last, bars, coverage, gaps), and backfills.

"Fill gaps" backfills the selected series over their own first..last (their gaps against the exchange
calendar); "Add…" backfills a new symbol, bar size and range. Fills run on the app's loop through the
session's backfill service, so every request passes the broker's pacing limiter; progress shows in
the dock and Cancel stops after the request in flight (what arrived is stored).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from PySide6.QtCore import QDate
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from terminal.domain import BarSize
from terminal.services.backfill import BackfillCancelled, BackfillProgress, day_range
from terminal.services.coverage import Coverage
from terminal.ui.models.records import Column, RecordTableModel
from terminal.ui.panels.common import make_table, spawn


def _when(c: Coverage, t: datetime | None) -> str:
    if t is None:
        return "-"
    return f"{t:%Y-%m-%d}" if c.bar_size is BarSize.DAY_1 else f"{t:%Y-%m-%d %H:%M}"


DATA_COLUMNS: list[Column[Coverage]] = [
    Column("Symbol", lambda c: c.instrument.display_name, right=False),
    Column("Size", lambda c: c.bar_size.short, right=False, sort_key=lambda c: c.bar_size.seconds),
    Column("Calendar", lambda c: c.calendar + (" +ext" if c.extended_hours else ""), right=False),
    Column("First (UTC)", lambda c: _when(c, c.first), right=False),
    Column("Last (UTC)", lambda c: _when(c, c.last), right=False),
    Column("Bars", lambda c: f"{c.bars:,}", sort_key=lambda c: c.bars),
    Column("Coverage", lambda c: f"{c.percent:.1f}%", sort_key=lambda c: c.percent,
           tone=lambda c: 0.0 if c.percent >= 99.95 else -1.0),
    Column("Gaps", lambda c: str(len(c.gaps)), sort_key=lambda c: len(c.gaps),
           tone=lambda c: -1.0 if c.gaps else 0.0),
    Column("Largest gap", lambda c: max(c.gaps, key=lambda g: g.bars).describe() if c.gaps else "", right=False),
]


class AddSeriesDialog(QDialog):
    """Symbol, bar size and trading days to backfill."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Backfill a series")
        self.symbol = QLineEdit()
        self.symbol.setPlaceholderText("AAPL")
        self.bar_size = QComboBox()
        self.bar_size.addItems([b.short for b in BarSize])
        self.bar_size.setCurrentText(BarSize.MIN_1.short)
        today = QDate.currentDate()
        self.first = QDateEdit(today.addDays(-30), calendarPopup=True, displayFormat="yyyy-MM-dd")
        self.last = QDateEdit(today, calendarPopup=True, displayFormat="yyyy-MM-dd")
        form = QFormLayout(self)
        form.addRow("Symbol", self.symbol)
        form.addRow("Bar size", self.bar_size)
        form.addRow("From", self.first)
        form.addRow("To", self.last)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)


class DataPanel(QWidget):
    def __init__(self, session, theme, parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self.session = session
        self.model = RecordTableModel(DATA_COLUMNS, lambda c: (c.instrument.key, c.bar_size.seconds), theme)
        self.table = make_table(self.model)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.fill_button = QPushButton("Fill gaps")
        self.add_button = QPushButton("Add…")
        self.refresh_button = QPushButton("Refresh")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.setFormat("")
        self.progress.setMinimumWidth(300)
        self.status = QLabel("")
        bar = QHBoxLayout()
        for button in (self.fill_button, self.add_button, self.refresh_button, self.cancel_button):
            bar.addWidget(button)
        bar.addWidget(self.progress, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(bar)
        layout.addWidget(self.table)
        layout.addWidget(self.status)
        self.fill_button.clicked.connect(self.fill_selected)
        self.add_button.clicked.connect(self.add_dialog)
        self.refresh_button.clicked.connect(lambda: spawn(self.refresh(), self._show_error))
        self.cancel_button.clicked.connect(self.cancel)
        self._cancelled = False
        self.filling = False
        self.rows: list[Coverage] = []
        spawn(self.refresh(), self._show_error)

    async def refresh(self) -> None:
        """Measure every stored series again."""
        self.rows = await self.session.backfill.status()
        self.model.set_records(self.rows)
        self.model.flush()
        self.table.resizeColumnsToContents()

    def selected(self) -> list[Coverage]:
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        return [self.model.record_at(r) for r in rows]

    def fill_selected(self) -> None:
        jobs = [(c.instrument, c.bar_size, c.first, c.last) for c in self.selected() if c.first and c.last]
        if jobs:
            spawn(self.fill(jobs), self._show_error)

    def add_dialog(self) -> None:
        dialog = AddSeriesDialog(self)
        if dialog.exec() != QDialog.DialogCode.Accepted or not dialog.symbol.text().strip():
            return
        spawn(self.add(dialog.symbol.text(), BarSize.parse(dialog.bar_size.currentText()),
                       dialog.first.date().toPython(), dialog.last.date().toPython()), self._show_error)

    async def add(self, symbol: str, bar_size: BarSize, first_day, last_day) -> None:  # type: ignore[no-untyped-def]
        """Backfill a symbol over the trading days first_day..last_day."""
        instrument = await self.session.backfill.resolve(symbol)
        span = await asyncio.to_thread(day_range, instrument, first_day, last_day)  # builds the calendar
        if span is None:
            self.status.setText(f"{instrument.display_name}: no trading session from {first_day} to {last_day}")
            return
        await self.fill([(instrument, bar_size, *span)])

    async def fill(self, jobs: list) -> None:  # type: ignore[type-arg]
        """Backfill each (instrument, bar size, start, end), one after the other, with progress in the dock."""
        if self.filling:
            return
        self.filling, self._cancelled = True, False
        self.cancel_button.setEnabled(True)
        self.fill_button.setEnabled(False)
        self.add_button.setEnabled(False)
        fetched = 0
        try:
            for instrument, bar_size, start, end in jobs:
                end = min(end, datetime.now(UTC) - timedelta(seconds=1))
                result = await self.session.backfill.fill(instrument, bar_size, start, end, self._on_progress,
                                                          lambda: self._cancelled)
                fetched += result.bars
            self.status.setText(f"filled: {fetched:,} bars fetched and stored")
        except BackfillCancelled as exc:
            self.status.setText(str(exc))
        finally:
            try:
                await self.refresh()
            finally:
                self.filling = False
                self.cancel_button.setEnabled(False)
                self.fill_button.setEnabled(True)
                self.add_button.setEnabled(True)

    def cancel(self) -> None:
        self._cancelled = True
        self.status.setText("cancelling after the request in flight…")

    def _on_progress(self, progress: BackfillProgress) -> None:
        self.progress.setValue(int(1000 * progress.fraction))
        self.progress.setFormat(f"{progress.instrument.display_name} {progress.bar_size.short}  "
                                f"{progress.requests_done}/{progress.requests} requests  {progress.bars:,} bars")

    def _show_error(self, error: Exception) -> None:
        self.status.setText(f"error: {error}")
