"""Analytics dock: pair scanner (Engle-Granger, hedge ratio, half-life, z-score), spread and z-score plots,
ADF and Johansen on the selection, and "backtest this pair" into the strategy editor."""

from __future__ import annotations

import asyncio

import numpy as np
import pandas as pd
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from terminal.analytics import quant
from terminal.domain import BarSize, DomainError
from terminal.ui.panels.common import spawn

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
        layout.addWidget(splitter, 1)
        self.closes: dict[str, pd.Series] = {}
        self.results = pd.DataFrame()
        self.scan_button.clicked.connect(lambda: spawn(self.scan(), self.show_error))
        self.table.itemSelectionChanged.connect(self._selected)
        self.backtest_button.clicked.connect(self._backtest)

    async def load_closes(self) -> dict[str, pd.Series]:
        size = BarSize.parse(self.bar_size.currentText())
        closes = {}
        for symbol in [s.strip().upper() for s in self.universe.text().split(",") if s.strip()]:
            found = await self.session.workspace.find_symbol(symbol)
            if not found:
                continue
            frame = await self.session.history.stored_or_aggregated(found[0], size)
            if len(frame) >= 30:
                closes[symbol] = frame["close"]
        return closes

    async def scan(self) -> pd.DataFrame:
        self.closes = await self.load_closes()
        if len(self.closes) < 2:
            raise DomainError("need stored bars of at least two symbols of the universe (open their charts or "
                              "import CSVs)")
        self.results = await asyncio.to_thread(quant.scan_pairs, self.closes)
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
        r = self.results.iloc[min(rows)]
        y, x = self.closes[r["y"]], self.closes[r["x"]]
        spread = quant.spread(y, x, r["hedge_ratio"], r["intercept"])
        z = quant.zscore(spread)
        index = np.arange(len(spread), dtype=float)
        self.spread_plot.clear()
        self.z_plot.clear()
        self.spread_plot.plot(index, spread.to_numpy(), pen=pg.mkPen(self.theme.accent))
        self.z_plot.plot(index, z.to_numpy(), pen=pg.mkPen(self.theme.text))
        for level, color in ((ENTRY_Z, self.theme.down), (-ENTRY_Z, self.theme.up), (0, self.theme.muted)):
            self.z_plot.addItem(pg.InfiniteLine(pos=level, angle=0, pen=pg.mkPen(color, style=pg.QtCore.Qt.PenStyle.DashLine)))
        test = quant.adf(spread)
        joh = quant.johansen(pd.DataFrame({"y": y, "x": x}))
        self.summary.setText(
            f"{r['y']} = {r['hedge_ratio']:.3f} × {r['x']} + {r['intercept']:.2f} + spread · Engle-Granger p "
            f"{r['p_value']:.4f} · ADF on spread {test.statistic:.2f} (p {test.p_value:.4f}) · half-life "
            f"{r['half_life']:.1f} bars · Johansen rank {joh.rank} (trace {joh.trace_statistics[0]:.1f} vs "
            f"{joh.critical_values_95[0]:.1f})")

    def _backtest(self) -> None:
        rows = {i.row() for i in self.table.selectedIndexes()}
        if rows and not self.results.empty:
            r = self.results.iloc[min(rows)]
            self.backtest_pair.emit(r["y"], r["x"])

    def show_error(self, error: Exception) -> None:
        self.summary.setText(str(error))
        self.session.log.warning("analytics", str(error))
