"""The trade journal dock: every round trip (live, paper, simulator, replay, backtests) with P&L, R, MAE/MFE and
holding time; tags and notes edited in place; statistics by tag, symbol, source, hour or weekday; a click opens
the trade on the chart."""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from terminal.domain.journal import SOURCES, RoundTrip
from terminal.services.journal import BREAKDOWNS, breakdown
from terminal.ui.panels.common import spawn
from terminal.ui.panels.comparison import comparison_table, show_comparison

COLUMNS = ("Exit (UTC)", "Source", "Symbol", "Side", "Qty", "Entry", "Exit", "P&L", "R", "MAE", "MFE", "Held",
           "Tags", "Notes")
TAGS, NOTES = COLUMNS.index("Tags"), COLUMNS.index("Notes")


def held(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} d"


def _price(value: float) -> str:
    return f"{value:,.2f}" if abs(value) >= 10 else f"{value:.5g}"


class _Number(QTableWidgetItem):
    """Sorts by its number, not its text (−1,000 before 20)."""

    def __init__(self, text: str, value: float | None) -> None:
        super().__init__(text)
        self.value = -math.inf if value is None else value
        self.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def __lt__(self, other: QTableWidgetItem) -> bool:
        return self.value < getattr(other, "value", -math.inf)


class JournalPanel(QWidget):
    show_trade = Signal(object)  # RoundTrip
    replay_trade = Signal(object)  # RoundTrip: open the market replay of its recording at its entry

    def __init__(self, session, theme, parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self.session = session
        self.theme = theme
        self.trips: list[RoundTrip] = []
        self._loaded = False
        self.source = QComboBox()
        self.source.addItems(["all sources", *SOURCES])
        self.symbol = QLineEdit()
        self.symbol.setPlaceholderText("symbol")
        self.symbol.setMaximumWidth(90)
        self.by = QComboBox()
        self.by.addItems(BREAKDOWNS)
        self.summary = QLabel("")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QTableWidget.EditTrigger.DoubleClicked | QTableWidget.EditTrigger.EditKeyPressed)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setToolTip("Double-click Tags (comma-separated) or Notes to edit; click a trade to chart it")
        self.groups = QTableWidget(0, 6)
        self.groups.setHorizontalHeaderLabels(["Group", "Trades", "Win rate", "P&L", "Avg P&L", "Avg R"])
        self.groups.verticalHeader().setVisible(False)
        self.groups.verticalHeader().setDefaultSectionSize(22)
        self.groups.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.groups.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.group_plot = pg.PlotWidget(background=theme.base)
        self.group_plot.setMenuEnabled(False)
        self.group_plot.setMouseEnabled(False, False)
        self.group_plot.hideButtons()
        self.replay_button = QPushButton("Replay trade ▶")
        self.replay_button.setToolTip("Replay the recorded market around the selected trade (from 2 minutes before "
                                      "its entry, paused), to trade it again on the replay")
        bar = QHBoxLayout()
        for widget in (QLabel("Journal"), self.source, self.symbol, self.replay_button, self.summary):
            bar.addWidget(widget)
        bar.addStretch(1)
        bar.addWidget(QLabel("Statistics by"))
        bar.addWidget(self.by)
        side = QSplitter(Qt.Orientation.Vertical)
        side.addWidget(self.groups)
        side.addWidget(self.group_plot)
        tabs = QTabWidget()
        tabs.addTab(side, "Statistics")
        tabs.addTab(self._build_compare(), "Against a backtest")
        tabs.addTab(self._build_snapshots(), "Snapshots")
        self.side_tabs = tabs
        splitter = QSplitter()
        splitter.addWidget(self.table)
        splitter.addWidget(tabs)
        splitter.setSizes([760, 340])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(bar)
        layout.addWidget(splitter, 1)
        self._refresh_later = QTimer(self, singleShot=True, interval=1000)
        self._refresh_later.timeout.connect(lambda: spawn(self.refresh(), self.show_error))
        self.source.currentIndexChanged.connect(lambda _: spawn(self.refresh(sync=False), self.show_error))
        self.symbol.editingFinished.connect(lambda: spawn(self.refresh(sync=False), self.show_error))
        self.by.currentIndexChanged.connect(lambda _: self._show_groups())
        self.table.cellClicked.connect(self._clicked)
        self.replay_button.clicked.connect(self._replay_selected)
        self.table.itemChanged.connect(self._edited)
        session.orders.fill_added.connect(lambda _fill: self._refresh_later.start())
        session.backtests.run_recorded.connect(lambda _run: self._refresh_later.start())

    def _build_snapshots(self) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        self.snapshot_labels = {}
        for name in ("entry", "exit"):
            title = QLabel(f"Chart at {name}")
            picture = QLabel("click a trade: the chart as it was when its fill came in")
            picture.setWordWrap(True)
            picture.setMinimumHeight(120)
            picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.snapshot_labels[name] = picture
            layout.addWidget(title)
            layout.addWidget(picture, 1)
        return box

    async def show_snapshots(self, trip: RoundTrip) -> None:
        from PySide6.QtGui import QPixmap

        pictures = await self.session.journal.snapshots(trip)
        for name, png in zip(("entry", "exit"), pictures, strict=True):
            label = self.snapshot_labels[name]
            pixmap = QPixmap()
            if png and pixmap.loadFromData(png, "PNG"):
                label.setPixmap(pixmap.scaled(max(200, label.width()), max(120, label.height()),
                                              Qt.AspectRatioMode.KeepAspectRatio,
                                              Qt.TransformationMode.SmoothTransformation))
            else:
                label.setPixmap(QPixmap())
                label.setText("no snapshot: backtest trades have none, and a fill gets one only while the chart "
                              "shows its symbol" if trip.source != "backtest" else "a backtest trade: see it on "
                              "the chart or step through its run")

    def _build_compare(self) -> QWidget:
        """Live (or sim) trades against a saved backtest run of the same period: matched with slippage, missed,
        extra."""
        box = QWidget()
        self.compare_run = QSpinBox()
        self.compare_run.setRange(1, 10**9)
        self.compare_run.setPrefix("run #")
        self.compare_button = QPushButton("Compare")
        self.compare_summary = QLabel("Pick a saved run: its trades are paired with the account's in the same "
                                      "symbols and period (within one bar of the entry)")
        self.compare_summary.setWordWrap(True)
        self.compare_table = comparison_table()
        row = QHBoxLayout()
        row.addWidget(self.compare_run)
        row.addWidget(self.compare_button)
        row.addStretch(1)
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.compare_summary)
        layout.addWidget(self.compare_table, 1)
        self.compare_button.clicked.connect(lambda: spawn(self.compare(self.compare_run.value()),
                                                          lambda exc: self.compare_summary.setText(str(exc))))
        return box

    async def compare(self, run_id: int) -> None:
        result, what = await self.session.journal.compare_with_run(run_id)
        show_comparison(self.compare_table, self.compare_summary, result, what)

    def shown(self, visible: bool) -> None:
        """The dock came into view: the first time, read the journal (start-up does not pay for it)."""
        if visible and not self._loaded:
            spawn(self.refresh(), self.show_error)

    async def refresh(self, sync: bool = True) -> None:
        """Journal what is new in the store (fills, saved runs), then show the filtered round trips."""
        self._loaded = True
        if sync:
            await self.session.journal.sync()
        source = self.source.currentText() if self.source.currentIndex() > 0 else None
        symbol = self.symbol.text().strip().upper() or None
        self.trips = await self.session.journal.trips(source, symbol)
        self._fill()

    def _fill(self) -> None:
        self.table.blockSignals(True)
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(self.trips))
        up, down = QColor(self.theme.up), QColor(self.theme.down)
        for row, t in enumerate(self.trips):
            money = [(t.pnl, f"{t.pnl:,.2f}"), (t.r_multiple, "" if t.r_multiple is None else f"{t.r_multiple:.2f}"),
                     (t.mae, "" if t.mae is None else f"{t.mae:,.2f}"), (t.mfe, "" if t.mfe is None else f"{t.mfe:,.2f}")]
            cells: list[QTableWidgetItem] = [
                QTableWidgetItem(f"{t.exit_time:%Y-%m-%d %H:%M}"),
                QTableWidgetItem(f"{t.source} #{t.run_id}" if t.run_id is not None
                                 else f"{t.source} · {t.strategy}" if t.strategy else t.source),
                QTableWidgetItem(t.symbol), QTableWidgetItem(t.side), _Number(f"{t.quantity:g}", t.quantity),
                _Number(_price(t.entry_price), t.entry_price), _Number(_price(t.exit_price), t.exit_price),
                *(_Number(text, value) for value, text in money), _Number(held(t.holding_seconds), t.holding_seconds),
                QTableWidgetItem(", ".join(t.tags)), QTableWidgetItem(t.notes)]
            for col, item in enumerate(cells):
                item.setData(Qt.ItemDataRole.UserRole, row)
                if col not in (TAGS, NOTES):
                    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                self.table.setItem(row, col, item)
            cells[COLUMNS.index("P&L")].setForeground(up if t.pnl > 0 else down)
        self.table.setSortingEnabled(True)
        self.table.blockSignals(False)
        self.table.resizeColumnsToContents()
        total = sum(t.pnl for t in self.trips)
        wins = sum(1 for t in self.trips if t.pnl > 0)
        self.summary.setText(f"{len(self.trips)} round trips · {wins / len(self.trips):.0%} winners · P&L {total:,.2f}"
                             if self.trips else "no round trips yet: fills and saved backtest runs appear here")
        self._show_groups()

    def _show_groups(self) -> None:
        groups = breakdown(self.trips, self.by.currentText())
        self.groups.setRowCount(len(groups))
        for row, g in enumerate(groups):
            cells = [g.group, f"{g.trades}", f"{g.win_rate:.0%}", f"{g.pnl:,.2f}", f"{g.average_pnl:,.2f}",
                     "" if g.average_r is None else f"{g.average_r:.2f}"]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.groups.setItem(row, col, item)
        self.group_plot.clear()
        if groups:
            brushes = [pg.mkBrush(self.theme.up if g.pnl > 0 else self.theme.down) for g in groups]
            self.group_plot.addItem(pg.BarGraphItem(x=list(range(len(groups))), height=[g.pnl for g in groups],
                                                    width=0.7, brushes=brushes))
            self.group_plot.getAxis("bottom").setTicks([[(i, g.group) for i, g in enumerate(groups)]])

    def trip_at(self, row: int) -> RoundTrip:
        return self.trips[self.table.item(row, 0).data(Qt.ItemDataRole.UserRole)]

    def _clicked(self, row: int, column: int) -> None:
        if column not in (TAGS, NOTES):
            trip = self.trip_at(row)
            self.show_trade.emit(trip)
            spawn(self.show_snapshots(trip), self.show_error)

    def _replay_selected(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            self.summary.setText("pick a trade in the table to replay it")
            return
        self.replay_trade.emit(self.trip_at(rows[0].row()))

    def _edited(self, item: QTableWidgetItem) -> None:
        if item.column() not in (TAGS, NOTES):
            return
        trip = self.trip_at(item.row())
        if item.column() == TAGS:
            spawn(self._annotate(trip, tags=item.text().split(",")), self.show_error)
        else:
            spawn(self._annotate(trip, notes=item.text()), self.show_error)

    async def _annotate(self, trip: RoundTrip, tags: list[str] | None = None, notes: str | None = None) -> None:
        updated = await self.session.journal.annotate(trip.key, tags, notes)
        self.trips = [updated if t.key == updated.key else t for t in self.trips]
        self._show_groups()

    def show_error(self, exc: Exception) -> None:
        self.summary.setText(f"journal: {exc}")
