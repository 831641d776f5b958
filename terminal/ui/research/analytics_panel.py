"""Analytics dock: pair scanner (Engle-Granger, hedge ratio, half-life, z-score), spread and z-score plots,
ADF and Johansen on the selection, and "backtest this pair" into the strategy editor.

The scan and the tests of a selected pair run in the session's analytics worker process
(``services.analytics``); the dock only sends the series and paints the answer. A newer selection
supersedes an older one: a test still queued is cancelled, one already running is ignored when it ends.
A universe whose bars are not stored offers to fetch them first (``fetch_offer``), with progress in the dock.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from terminal.domain import BarSize, DomainError
from terminal.ui.panels.common import spawn
from terminal.ui.research.fetch_offer import MissingDataFetch

if TYPE_CHECKING:  # statsmodels loads in the analytics worker, not when the window starts
    from terminal.analytics import quant

ENTRY_Z = 2.0
class AnalyticsPanel(QWidget):
    backtest_pair = Signal(str, str)  # y, x

    def __init__(self, session, theme, parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self.session = session
        self.theme = theme
        self.universe = QLineEdit("KO,PEP,XOM,CVX,SPY,QQQ")
        self.bar_size = QComboBox()
        self.bar_size.addItems([b.short for b in BarSize])
        self.bar_size.setCurrentText("1m")
        self.scan_button = QPushButton("Scan pairs")
        self.backtest_button = QPushButton("Backtest this pair")
        self.table = QTableWidget(0, 6)
        self.table.setHorizontalHeaderLabels(["Y", "X", "p-value", "Hedge ratio", "Half-life", "z-score"])
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.busy = QProgressBar()  # indeterminate while the worker scans or tests
        self.busy.setRange(0, 0)
        self.busy.setMaximumHeight(4)
        self.busy.setTextVisible(False)
        self.busy.hide()
        self.fetcher = MissingDataFetch(session, self.summary.setText)
        self.spread_plot = pg.PlotWidget(background=theme.base, title="Spread")
        self.z_plot = pg.PlotWidget(background=theme.base, title="z-score")
        self.z_plot.setXLink(self.spread_plot)
        top = QHBoxLayout()
        top.addWidget(QLabel("Universe"))
        top.addWidget(self.universe, 1)
        top.addWidget(self.bar_size)
        top.addWidget(self.scan_button)
        top.addWidget(self.backtest_button)
        plots = QWidget()
        plots_layout = QVBoxLayout(plots)
        plots_layout.setContentsMargins(0, 0, 0, 0)
        plots_layout.addWidget(self.spread_plot)
        plots_layout.addWidget(self.z_plot)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.table, 1)
        left_layout.addWidget(self.summary)
        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(plots)
        splitter.setSizes([420, 600])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(self.busy)
        layout.addWidget(self.fetcher)
        layout.addWidget(splitter, 1)
        self.closes: dict[str, pd.Series] = {}
        self.results = pd.DataFrame()
        self._jobs = 0  # scans and tests under way, for the busy bar
        self._selection = 0  # number of the newest selection: only its test result is painted
        self._test_task: asyncio.Task | None = None
        self.scan_button.clicked.connect(lambda: spawn(self.scan(), self.show_error))
        self.table.itemSelectionChanged.connect(self._selected)
        self.backtest_button.clicked.connect(self._backtest)

    def symbols(self) -> list[str]:
        return list(dict.fromkeys(s.strip().upper() for s in self.universe.text().split(",") if s.strip()))

    async def load_closes(self) -> dict[str, pd.Series]:
        """Closes of the universe's symbols with 30 bars or more; MissingBars when one has none stored."""
        size = BarSize.parse(self.bar_size.currentText())
        closes = {}
        for symbol in self.symbols():
            frame = (await self.session.backtests.frames([symbol], size))[symbol]
            if len(frame) >= 30:
                closes[symbol] = frame["close"]
        return closes

    async def scan(self) -> pd.DataFrame | None:
        """Scan the universe's pairs; when bars are missing, offer to fetch them first (None: not fetched)."""
        self.scan_button.setEnabled(False)  # not twice while the offer or the fetch is open
        try:
            closes = await self.fetcher.load(self.load_closes, self.symbols(), self.bar_size.currentText())
        finally:
            self.scan_button.setEnabled(True)
        if closes is None:
            return None
        if len(closes) < 2:
            raise DomainError("need 30 or more stored bars of at least two symbols of the universe (open their "
                              "charts, import CSVs or fetch them in the Data dock)")
        self._set_busy(+1)
        try:
            results = await self.session.analytics.scan_pairs(closes)
        finally:
            self._set_busy(-1)
        self.closes, self.results = closes, results  # together: a selection always finds its pair's closes
        self.table.setRowCount(len(self.results))
        for row, r in enumerate(self.results.itertuples()):
            cells = [r.y, r.x, f"{r.p_value:.4f}", f"{r.hedge_ratio:.3f}",
                     "∞" if not np.isfinite(r.half_life) else f"{r.half_life:.1f}", f"{r.zscore:+.2f}"]
            for col, text in enumerate(cells):
                self.table.setItem(row, col, QTableWidgetItem(text))
        if len(self.results):
            self.table.selectRow(0)
        return self.results

    def _selected(self) -> None:
        rows = {i.row() for i in self.table.selectedIndexes()}
        if not rows or self.results.empty:
            return
        self._selection += 1
        if self._test_task is not None and not self._test_task.done():
            self._test_task.cancel()  # a test still queued is dropped; a running one ends unseen
        number = self._selection
        self._test_task = spawn(self._test_pair(number, self.results.iloc[min(rows)]),
                                lambda error: self.show_error(error) if number == self._selection else None)

    async def _test_pair(self, number: int, r: pd.Series) -> None:
        """Spread, z-score, ADF and Johansen of the pair in the worker; painted if still the newest selection."""
        self.spread_plot.clear()
        self.z_plot.clear()
        self.summary.setText(f"Testing {r['y']} against {r['x']}…")
        self._set_busy(+1)
        try:
            tests = await self.session.analytics.pair_tests(self.closes[r["y"]], self.closes[r["x"]],
                                                            float(r["hedge_ratio"]), float(r["intercept"]))
        finally:
            self._set_busy(-1)
        if number == self._selection:
            self._paint(r, tests)

    def _paint(self, r: pd.Series, tests: quant.PairTests) -> None:
        index = np.arange(len(tests.spread), dtype=float)
        self.spread_plot.plot(index, tests.spread.to_numpy(), pen=pg.mkPen(self.theme.accent))
        self.z_plot.plot(index, tests.zscore.to_numpy(), pen=pg.mkPen(self.theme.text))
        for level, color in ((ENTRY_Z, self.theme.down), (-ENTRY_Z, self.theme.up), (0, self.theme.muted)):
            self.z_plot.addItem(pg.InfiniteLine(pos=level, angle=0, pen=pg.mkPen(color, style=pg.QtCore.Qt.PenStyle.DashLine)))
        test, joh = tests.adf, tests.johansen
        self.summary.setText(
            f"{r['y']} = {r['hedge_ratio']:.3f} × {r['x']} + {r['intercept']:.2f} + spread · Engle-Granger p "
            f"{r['p_value']:.4f} · ADF on spread {test.statistic:.2f} (p {test.p_value:.4f}) · half-life "
            f"{r['half_life']:.1f} bars · Johansen rank {joh.rank} (trace {joh.trace_statistics[0]:.1f} vs "
            f"{joh.critical_values_95[0]:.1f})")

    def _set_busy(self, change: int) -> None:
        self._jobs += change
        self.busy.setVisible(self._jobs > 0)

    def _backtest(self) -> None:
        rows = {i.row() for i in self.table.selectedIndexes()}
        if rows and not self.results.empty:
            r = self.results.iloc[min(rows)]
            self.backtest_pair.emit(r["y"], r["x"])

    def show_error(self, error: Exception) -> None:
        self.summary.setText(str(error))
        self.session.log.warning("analytics", str(error))
