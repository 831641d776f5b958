"""Backtest results: saved runs, statistics side by side, equity/benchmark, drawdown, monthly heatmap,
trade P&L distribution, trade list (click → the chart shows the trade), HTML export."""

from __future__ import annotations

import asyncio
import math

import numpy as np
import pandas as pd
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from terminal.analytics import stats as statistics
from terminal.services.backtests import BacktestService
from terminal.ui.panels.common import spawn


def _series(pairs: list) -> pd.Series:
    if not pairs:
        return pd.Series(dtype=float)
    return pd.Series([v for _, v in pairs], index=pd.DatetimeIndex([t for t, _ in pairs]), dtype=float)


class ResultsPanel(QWidget):
    show_trade = Signal(object, object)  # run dict, trade dict

    def __init__(self, session, theme, parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self.session = session
        self.theme = theme
        self.runs: list[dict] = []
        self.current: dict | None = None
        self.run_list = QTableWidget(0, 5)
        self.run_list.setHorizontalHeaderLabels(["Run", "Strategy", "Engine", "Return", "Sharpe"])
        self.run_list.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.run_list.verticalHeader().setVisible(False)
        self.stats = QTableWidget(0, 2)
        self.stats.verticalHeader().setVisible(False)
        self.trades = QTableWidget(0, 7)
        self.trades.setHorizontalHeaderLabels(["Symbol", "Entry", "Price", "Exit", "Price", "Size", "P&L"])
        self.trades.verticalHeader().setVisible(False)
        self.trades.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.trades.setSortingEnabled(True)
        pg.setConfigOptions(antialias=True)
        background = theme.base
        self.equity_plot = pg.PlotWidget(background=background, axisItems={"bottom": pg.DateAxisItem()})
        self.drawdown_plot = pg.PlotWidget(background=background, axisItems={"bottom": pg.DateAxisItem()})
        self.drawdown_plot.setXLink(self.equity_plot)
        self.pnl_plot = pg.PlotWidget(background=background)
        self.monthly = QTableWidget(0, 13)
        self.monthly.setHorizontalHeaderLabels([*"JFMAMJJASOND"] + ["Year"])
        self.export_button = QPushButton("Export HTML…")
        self.notes = QLabel("")
        self.notes.setWordWrap(True)
        self.notes.setObjectName("preview")
        # Where the run's bars came from; loud when they are the simulator's (or nobody knows).
        self.data_warning = QLabel("")
        self.data_warning.setWordWrap(True)
        self.data_warning.setObjectName("dataWarning")
        self.data_warning.setStyleSheet("QLabel#dataWarning { background: #fde68a; color: #1f2937; "
                                        "border: 2px solid #b45309; padding: 6px; font-weight: bold; }")
        self.data_warning.setVisible(False)
        pictures = QTabWidget()
        curves = QWidget()
        curves_layout = QVBoxLayout(curves)
        curves_layout.setContentsMargins(0, 0, 0, 0)
        curves_layout.addWidget(self.equity_plot, 3)
        curves_layout.addWidget(self.drawdown_plot, 1)
        pictures.addTab(curves, "Equity / drawdown")
        pictures.addTab(self.monthly, "Monthly returns")
        pictures.addTab(self.pnl_plot, "Trade P&L")
        pictures.addTab(self.trades, "Trades")
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(QLabel("Runs (select two to compare)"))
        left_layout.addWidget(self.run_list, 1)
        left_layout.addWidget(self.stats, 2)
        buttons = QHBoxLayout()
        buttons.addWidget(self.export_button)
        buttons.addStretch(1)
        left_layout.addLayout(buttons)
        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(pictures)
        splitter.setSizes([330, 700])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.data_warning)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.notes)
        self.run_list.itemSelectionChanged.connect(self._selection_changed)
        self.trades.cellClicked.connect(self._trade_clicked)
        self.export_button.clicked.connect(self.export_dialog)

    async def load_saved(self) -> None:
        self.runs = await self.session.backtests.saved_runs(50)
        self._fill_run_list()

    def add_run(self, run: dict) -> None:
        self.runs.append(run)
        self._fill_run_list()
        self.run_list.selectRow(len(self.runs) - 1)

    def _fill_run_list(self) -> None:
        self.run_list.setRowCount(len(self.runs))
        for row, run in enumerate(self.runs):
            st = run.get("statistics", {})
            cells = [str(run.get("run_id", row + 1)), run.get("strategy_name", ""), run.get("engine", ""),
                     _pct(st.get("total_return")), _num(st.get("sharpe"))]
            for col, text in enumerate(cells):
                self.run_list.setItem(row, col, QTableWidgetItem(text))

    def _selection_changed(self) -> None:
        rows = sorted({i.row() for i in self.run_list.selectedIndexes()})
        chosen = [self.runs[r] for r in rows[:2]]
        if chosen:
            self.show_runs(chosen)

    def show_runs(self, runs: list[dict]) -> None:
        """One run in full; with two, their statistics side by side and both equity curves."""
        self.current = runs[0]
        keys = list(runs[0].get("statistics", {}))
        self.stats.setColumnCount(1 + len(runs))
        self.stats.setHorizontalHeaderLabels(["Statistic"] + [f"{r.get('strategy_name')} ({r.get('engine')})"
                                                              for r in runs])
        self.stats.setRowCount(len(keys))
        for row, key in enumerate(keys):
            self.stats.setItem(row, 0, QTableWidgetItem(key))
            for col, run in enumerate(runs, start=1):
                value = run.get("statistics", {}).get(key)
                text = _pct(value) if key in _PERCENT_KEYS else _num(value)
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.stats.setItem(row, col, item)
        self.stats.resizeColumnsToContents()
        self.equity_plot.clear()
        self.drawdown_plot.clear()
        self.equity_plot.addLegend(offset=(10, 10))
        colors = [self.theme.accent, "#e5a50a"]
        for n, run in enumerate(runs):
            equity = _series(run.get("equity", []))
            if equity.empty:
                continue
            x = (equity.index.as_unit("s").asi8).astype(float)
            self.equity_plot.plot(x, equity.to_numpy(), pen=pg.mkPen(colors[n % 2], width=1.5),
                                  name=f"{run.get('strategy_name')} {run.get('engine')}")
            if n == 0:
                benchmark = _series(run.get("benchmark", []))
                self.equity_plot.plot(x, benchmark.to_numpy(), pen=pg.mkPen(self.theme.muted, width=1),
                                      name="buy and hold")
                under = statistics.drawdown(equity).to_numpy() * 100
                self.drawdown_plot.plot(x, under, pen=pg.mkPen(self.theme.down), fillLevel=0,
                                        brush=pg.mkBrush(QColor(self.theme.down).lighter(100)))
        self._show_monthly(_series(runs[0].get("equity", [])))
        self._show_trades(runs[0])
        self.notes.setText(runs[0].get("notes", "") if len(runs) > 1 or runs[0].get("engine") else "")
        warnings = [f"{r.get('strategy_name')}: {w[0].upper()}{w[1:]}" if len(runs) > 1 else w[0].upper() + w[1:]
                    for r in runs if (w := BacktestService.data_warning(r.get("data_provenance", "unknown")))]
        self.data_warning.setText("\n".join(warnings))
        self.data_warning.setVisible(bool(warnings))

    def _show_monthly(self, equity: pd.Series) -> None:
        if equity.empty:
            self.monthly.setRowCount(0)
            return
        table = statistics.monthly_returns(equity)
        self.monthly.setRowCount(len(table))
        for row, (year, values) in enumerate(table.iterrows()):
            for month in range(1, 13):
                value = values.get(month, math.nan)
                item = QTableWidgetItem("" if pd.isna(value) else f"{value * 100:.1f}")
                if not pd.isna(value):
                    strength = min(1.0, abs(value) / 0.08)
                    base = QColor(self.theme.up if value > 0 else self.theme.down)
                    base.setAlphaF(0.15 + 0.75 * strength)
                    item.setBackground(base)
                self.monthly.setItem(row, month - 1, item)
            self.monthly.setItem(row, 12, QTableWidgetItem(str(year)))
        self.monthly.resizeColumnsToContents()

    def _show_trades(self, run: dict) -> None:
        trades = run.get("trades", [])
        self.trades.setSortingEnabled(False)
        self.trades.setRowCount(len(trades))
        for row, t in enumerate(trades):
            cells = [t["symbol"], t["entry_time"][:16], f"{t['entry_price']:.2f}", t["exit_time"][:16],
                     f"{t['exit_price']:.2f}", f"{t['size']:g}", f"{t['pnl']:,.2f}"]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, row)
                if col == 6:
                    item.setForeground(QColor(self.theme.up if t["pnl"] > 0 else self.theme.down))
                self.trades.setItem(row, col, item)
        self.trades.setSortingEnabled(True)
        self.pnl_plot.clear()
        pnl = np.array([t["pnl"] for t in trades], dtype=float)
        if len(pnl):
            counts, edges = np.histogram(pnl, bins=min(40, max(5, len(pnl) // 3)))
            centers = (edges[:-1] + edges[1:]) / 2
            brushes = [pg.mkBrush(self.theme.up if c > 0 else self.theme.down) for c in centers]
            self.pnl_plot.addItem(pg.BarGraphItem(x=centers, height=counts, width=(edges[1] - edges[0]) * 0.9,
                                                  brushes=brushes))

    def _trade_clicked(self, row: int, _column: int) -> None:
        if self.current is None:
            return
        index = self.trades.item(row, 0).data(Qt.ItemDataRole.UserRole)
        self.show_trade.emit(self.current, self.current["trades"][index])

    def export_dialog(self) -> None:
        if self.current is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export report", "backtest.html", "HTML (*.html)")
        if path:
            spawn(self.export(path))

    async def export(self, path: str) -> None:
        from terminal.backtest.report import render_html

        text = render_html(self.current or {})
        await asyncio.to_thread(lambda: open(path, "w", encoding="utf-8").write(text))


_PERCENT_KEYS = {"total_return", "annualised_return", "volatility", "max_drawdown", "win_rate", "exposure",
                 "benchmark_return"}


def _num(value) -> str:  # type: ignore[no-untyped-def]
    return "" if value is None or (isinstance(value, float) and not math.isfinite(value)) else f"{value:,.3f}"


def _pct(value) -> str:  # type: ignore[no-untyped-def]
    return "" if value is None or (isinstance(value, float) and not math.isfinite(value)) else f"{value * 100:.2f}%"
