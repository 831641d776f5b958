"""The Strategies dock: run the editor's strategy live (or on the simulator), watch its runs, stop, flatten,
resume, and set a run against its own backtest.

Starting asks the trader once (its orders are then sent without asking, each through the order
service's risk rules); the question goes through the same OrderEntry as every order action.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from terminal.services.strategies import FAILED, INTERRUPTED, LIVE_BAR_SIZES, RUNNING, LiveRun
from terminal.ui.panels.common import spawn
from terminal.ui.panels.comparison import comparison_table, show_comparison

COLUMNS = ("Run", "Strategy", "Symbol", "Bar", "Status", "Position", "P&L", "Orders", "Refused", "Last bar (UTC)",
           "Message")
STATUS, PNL = COLUMNS.index("Status"), COLUMNS.index("P&L")


class StrategiesPanel(QWidget):
    def __init__(self, session: Any, theme: Any, entry: Any, editor: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.theme = theme
        self.entry = entry
        self.editor = editor
        self.run_ids: list[str] = []
        self.symbol = QLineEdit()
        self.symbol.setPlaceholderText("symbol")
        self.symbol.setMaximumWidth(110)
        self.symbol.setToolTip("The symbol it trades (empty: the editor's first symbol)")
        self.bar = QComboBox()
        self.bar.addItems([b.short for b in LIVE_BAR_SIZES])
        self.bar.setCurrentText("1m")
        self.units = QDoubleSpinBox(decimals=0, maximum=1e7, prefix="units ", specialValueText="units: auto")
        self.units.setToolTip("Units per position; auto sizes each position at 95 % of the capital, as a backtest")
        self.capital = QDoubleSpinBox(decimals=0, minimum=1, maximum=1e10, value=100_000, prefix="capital ")
        self.capital.setToolTip("The money the strategy sizes from; its equity is this plus its own P&L")
        self.warmup = QSpinBox(minimum=0, maximum=20_000, value=200, prefix="warm-up ")
        self.warmup.setToolTip("Bars of history it sees (without trading) before its first live bar")
        for box in (self.units, self.capital, self.warmup):
            box.setMaximumWidth(150)
        self.start_button = QPushButton("Run live ▶")
        self.start_button.setToolTip("Runs the strategy in the editor, with its parameters, on the symbol: each "
                                     "closed bar it decides on sends market orders through the order service "
                                     "(risk limits and the kill switch apply)")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.stop_button = QPushButton("Stop")
        self.flatten_button = QPushButton("Stop && flatten")
        self.resume_button = QPushButton("Resume")
        self.compare_button = QPushButton("Against its backtest")
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.compare_summary = QLabel("Pick a run and compare: its strategy is run again as a backtest over the bars "
                                      "the run saw, and the two sets of trades are paired within one bar")
        self.compare_summary.setWordWrap(True)
        self.compare_table = comparison_table()
        form = QHBoxLayout()
        for widget in (QLabel("Strategies"), self.symbol, self.bar, self.units, self.capital, self.warmup,
                       self.start_button):
            form.addWidget(widget)
        form.addStretch(1)
        actions = QHBoxLayout()
        for button in (self.stop_button, self.flatten_button, self.resume_button, self.compare_button):
            actions.addWidget(button)
        actions.addWidget(self.message, 1)
        runs = QWidget()
        runs_layout = QVBoxLayout(runs)
        runs_layout.setContentsMargins(0, 0, 0, 0)
        runs_layout.addWidget(self.table, 1)
        runs_layout.addLayout(actions)
        compared = QWidget()
        compared_layout = QVBoxLayout(compared)
        compared_layout.setContentsMargins(0, 0, 0, 0)
        compared_layout.addWidget(self.compare_summary)
        compared_layout.addWidget(self.compare_table, 1)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(runs)
        splitter.addWidget(compared)
        splitter.setSizes([220, 160])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(form)
        layout.addWidget(splitter, 1)
        self._repaint = QTimer(self, singleShot=True, interval=250)  # fills and bars coalesced: 4 repaints a second
        self._repaint.timeout.connect(self.refresh)
        self.start_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(lambda: self._act("stop"))
        self.flatten_button.clicked.connect(lambda: self._act("flatten"))
        self.resume_button.clicked.connect(lambda: self._act("resume"))
        self.compare_button.clicked.connect(lambda: self._act("compare"))
        self.table.itemSelectionChanged.connect(self._enable)
        session.strategies.changed.connect(lambda _run: self._repaint.start())
        # Open positions are marked to the last price once a second, not on every quote of every instrument.
        self._marks = QTimer(self, interval=1000)
        self._marks.timeout.connect(self._remark)
        self._marks.start()
        self.refresh()

    # --- actions -------------------------------------------------------------------------------------
    def start(self) -> None:
        symbol = self.symbol.text().strip().upper() or self.editor.data()[0][0].strip().upper()
        name, source, params = self.editor.name(), self.editor.source(), self.editor.raw_param_values()
        bar, units, capital, warmup = self.bar.currentText(), self.units.value(), self.capital.value(), \
            self.warmup.value()
        self.message.setText(f"starting {name} on {symbol} …")

        def started(run: LiveRun) -> None:
            self.message.setText(f"{run.describe()}: running as {run.run_id}")
            self.refresh()
            self.table.selectRow(self.run_ids.index(run.run_id))

        self.entry.run(lambda confirmed: self.session.strategies.start(
            name, source, params, symbol, bar, units=units, capital=capital, warmup_bars=warmup, confirmed=confirmed),
            self._show_error, started, on_declined=lambda: self.message.setText("not started"))

    def selected(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        return self.run_ids[rows[0].row()] if rows else None

    def _act(self, action: str) -> None:
        run_id = self.selected()
        if run_id is None:
            self.message.setText("pick a run in the table first")
            return
        strategies = self.session.strategies
        if action == "compare":
            self.compare_summary.setText(f"running the backtest of {run_id} over the bars it saw …")
            spawn(self._compare(run_id), lambda exc: self.compare_summary.setText(str(exc)))
        elif action == "resume":
            self.entry.run(lambda confirmed: strategies.resume(run_id, confirmed=confirmed), self._show_error,
                           lambda run: self.message.setText(f"resumed {run.run_id}, holding {run.position:g}"))
        else:
            flatten = action == "flatten"
            self.entry.run(lambda confirmed: strategies.stop(run_id, flatten=flatten, confirmed=confirmed),
                           self._show_error, lambda order: self.message.setText(
                               f"stopped {run_id}" + (f"; closing with {order.describe()}" if order else "")))

    async def _compare(self, run_id: str) -> None:
        result, what, _ = await self.session.strategies.compare(run_id)
        show_comparison(self.compare_table, self.compare_summary, result, what, "%Y-%m-%d %H:%M:%S")

    def _show_error(self, error: Exception) -> None:
        self.message.setText(str(error).splitlines()[0] if str(error) else type(error).__name__)

    # --- the table -----------------------------------------------------------------------------------
    def _remark(self) -> None:
        if self.isVisible() and any(r.position for r in self.session.strategies.runs.values()):
            self.refresh()

    def _mark(self, run: LiveRun) -> float | None:
        quote = self.session.market.quotes.get(run.instrument.key)
        last = getattr(quote, "last", math.nan) if quote is not None else math.nan
        return last if isinstance(last, float) and math.isfinite(last) and last > 0 else None

    def refresh(self) -> None:
        runs = sorted(self.session.strategies.runs.values(), key=lambda r: r.record.started, reverse=True)
        selected = self.selected()
        self.run_ids = [r.run_id for r in runs]
        self.table.setRowCount(len(runs))
        colours = {RUNNING: self.theme.up, FAILED: self.theme.down, INTERRUPTED: "#e0a030"}
        for row, run in enumerate(runs):
            r = run.record
            pnl = run.pnl(self._mark(run))
            cells = (run.run_id, f"{r.strategy}({', '.join(f'{k}={v}' for k, v in r.params.items())})", r.symbol,
                     run.bar_size.short, r.status, f"{run.position:g}", f"{pnl:,.2f}", str(run.orders),
                     str(run.rejected), f"{run.last_bar:%H:%M:%S}" if run.last_bar else "", r.message)
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col == STATUS and r.status in colours:
                    item.setForeground(QColor(colours[r.status]))
                if col == PNL and pnl:
                    item.setForeground(QColor(self.theme.up if pnl > 0 else self.theme.down))
                self.table.setItem(row, col, item)
        self.table.resizeColumnsToContents()
        if selected in self.run_ids:
            self.table.selectRow(self.run_ids.index(selected))
        self._enable()

    def _enable(self) -> None:
        run = self.session.strategies.runs.get(self.selected() or "")
        running = run is not None and run.status == RUNNING
        self.stop_button.setEnabled(running or (run is not None and run.status == INTERRUPTED))
        self.flatten_button.setEnabled(run is not None and (running or bool(run.position)))
        self.resume_button.setEnabled(run is not None and not running)
        self.compare_button.setEnabled(run is not None)
