"""Backtest results: saved runs, statistics side by side (labels, units, definitions on hover, the difference of
two runs), equity/benchmark, drawdown, monthly heatmap, trade P&L distribution, trade list (click → the chart
shows the trade), HTML report and trades CSV export."""

from __future__ import annotations

import asyncio

import numpy as np
import pandas as pd
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from terminal.analytics import catalogue
from terminal.analytics import stats as statistics
from terminal.services.backtests import BacktestService
from terminal.ui.panels.common import spawn
from terminal.ui.research.heatmap import MonthlyHeatmap


def _series(pairs: list) -> pd.Series:
    if not pairs:
        return pd.Series(dtype=float)
    return pd.Series([v for _, v in pairs], index=pd.DatetimeIndex([t for t, _ in pairs]), dtype=float)


class ResultsPanel(QWidget):
    show_trade = Signal(object, object)  # run dict, trade dict
    step_through = Signal(object)  # run dict: play it bar by bar on the chart

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
        self.stats.verticalHeader().setDefaultSectionSize(self.stats.fontMetrics().height() + 6)
        self.stats.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.trades = QTableWidget(0, 9)
        self.trades.setHorizontalHeaderLabels(["Symbol", "Entry", "Price", "Exit", "Price", "Size", "P&L", "Exit by",
                                               "Path inside the bar"])
        self.trades.verticalHeader().setVisible(False)
        self.trades.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.trades.setSortingEnabled(True)
        pg.setConfigOptions(antialias=True)
        background = theme.base
        self.equity_plot = pg.PlotWidget(background=background, axisItems={"bottom": pg.DateAxisItem()})
        self.drawdown_plot = pg.PlotWidget(background=background, axisItems={"bottom": pg.DateAxisItem()})
        self.drawdown_plot.setXLink(self.equity_plot)
        self.pnl_plot = pg.PlotWidget(background=background)
        self.monthly = MonthlyHeatmap(theme)
        self.export_button = QPushButton("Export HTML…")
        self.export_button.setToolTip("A self-contained HTML report of the selected run")
        self.csv_button = QPushButton("Trades CSV…")
        self.csv_button.setToolTip("The selected run's trades as CSV (one row per round trip)")
        self.step_button = QPushButton("Step through ▶")
        self.step_button.setToolTip("Play the selected run bar by bar on the chart (it runs again in a worker, "
                                    "on backtrader, recording its orders and indicators)")
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
        monte = QWidget()
        monte_layout = QVBoxLayout(monte)
        monte_layout.setContentsMargins(0, 0, 0, 0)
        self.monte_plot = pg.PlotWidget(background=background)
        self.monte_plot.setLabel("bottom", "trade number")
        self.monte_text = QLabel("")
        self.monte_text.setWordWrap(True)
        monte_layout.addWidget(self.monte_plot, 1)
        monte_layout.addWidget(self.monte_text)
        pictures.addTab(monte, "Monte Carlo")
        self.monte_carlo = None
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(QLabel("Runs (select two to compare)"))
        left_layout.addWidget(self.run_list, 1)
        left_layout.addWidget(self.stats, 2)
        buttons = QHBoxLayout()
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.csv_button)
        buttons.addWidget(self.step_button)
        buttons.addStretch(1)
        left_layout.addLayout(buttons)
        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(pictures)
        splitter.setSizes([480, 660])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.data_warning)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.notes)
        self.run_list.itemSelectionChanged.connect(self._selection_changed)
        self.trades.cellClicked.connect(self._trade_clicked)
        self.export_button.clicked.connect(self.export_dialog)
        self.csv_button.clicked.connect(self.export_trades_dialog)
        self.step_button.clicked.connect(lambda: self.current is not None and self.step_through.emit(self.current))

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
                     catalogue.format_value("total_return", st.get("total_return")),
                     catalogue.format_value("sharpe", st.get("sharpe"))]
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
        self._show_statistics(runs)

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
                                  name=f"{self._run_title(run)} · {run.get('engine')}")
            if n == 0:
                benchmark = _series(run.get("benchmark", []))
                self.equity_plot.plot(x, benchmark.to_numpy(), pen=pg.mkPen(self.theme.muted, width=1),
                                      name="buy and hold")
                under = statistics.drawdown(equity).to_numpy() * 100
                self.drawdown_plot.plot(x, under, pen=pg.mkPen(self.theme.down), fillLevel=0,
                                        brush=pg.mkBrush(QColor(self.theme.down).lighter(100)))
        self.monthly.set_equity(_series(runs[0].get("equity", [])))
        self._show_trades(runs[0])
        self._show_monte_carlo(runs[0])
        self.notes.setText(runs[0].get("notes", "") if len(runs) > 1 or runs[0].get("engine") else "")
        warnings = [f"{r.get('strategy_name')}: {w[0].upper()}{w[1:]}" if len(runs) > 1 else w[0].upper() + w[1:]
                    for r in runs if (w := BacktestService.data_warning(r.get("data_provenance", "unknown")))]
        self.data_warning.setText("\n".join(dict.fromkeys(warnings)))
        self.data_warning.setVisible(bool(warnings))

    def _show_statistics(self, runs: list[dict]) -> None:
        """Rows in reading order with the trader's label (its definition on hover); with two runs, a
        Difference column (second − first, in points for percentages; green where the second is better)."""
        keys = catalogue.ordered(list(runs[0].get("statistics", {})))
        headers = ["Statistic"] + [self._run_title(r) for r in runs] + (["Difference"] if len(runs) == 2 else [])
        self.stats.setColumnCount(len(headers))
        self.stats.setHorizontalHeaderLabels(headers)
        self.stats.setRowCount(len(keys))
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        for row, key in enumerate(keys):
            entry = catalogue.statistic(key)
            label = QTableWidgetItem(entry.label)
            label.setToolTip(f"<b>{entry.label}</b><br>{entry.definition}" if entry.definition else key)
            label.setData(Qt.ItemDataRole.UserRole, key)
            self.stats.setItem(row, 0, label)
            values = [r.get("statistics", {}).get(key) for r in runs]
            for col, value in enumerate(values, start=1):
                item = QTableWidgetItem(catalogue.format_value(key, value))
                item.setTextAlignment(right)
                item.setToolTip(label.toolTip())
                self.stats.setItem(row, col, item)
            if len(runs) == 2:
                item = QTableWidgetItem(catalogue.format_difference(key, *values))
                item.setTextAlignment(right)
                better = catalogue.difference_is_better(key, *values)
                if better is not None:
                    item.setForeground(QColor(self.theme.up if better else self.theme.down))
                self.stats.setItem(row, len(runs) + 1, item)
        header = self.stats.horizontalHeader()  # every column as wide as its text: no value is ever cut off
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(False)

    @staticmethod
    def _run_title(run: dict) -> str:
        number = f"#{run['run_id']} " if run.get("run_id") is not None else ""
        return f"{number}{run.get('strategy_name', '')}"

    def _show_trades(self, run: dict) -> None:
        trades = run.get("trades", [])
        self.trades.setSortingEnabled(False)
        self.trades.setRowCount(len(trades))
        for row, t in enumerate(trades):
            cells = [t["symbol"], t["entry_time"][:16], f"{t['entry_price']:.2f}", t["exit_time"][:16],
                     f"{t['exit_price']:.2f}", f"{t['size']:g}", f"{t['pnl']:,.2f}", t.get("exit_reason", ""),
                     path_text(t.get("path"))]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, row)
                if col == 6:
                    item.setForeground(QColor(self.theme.up if t["pnl"] > 0 else self.theme.down))
                if col == 8 and t.get("path"):
                    item.setForeground(QColor("#e0a030"))  # amber: a warning, neither a gain nor a loss
                    item.setToolTip("The stop and the target both lay inside this bar's range: the engine assumed "
                                    "which came first. Finer stored bars of the bar, where there are any, say "
                                    "which really did.")
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

    def _show_monte_carlo(self, run: dict) -> None:
        """The run's trades resampled into equity paths: a hundred of them, the 5–95 % band, the median and
        the order the trades really came in; drawdown percentiles and risk of ruin under the plot."""
        from terminal.analytics.montecarlo import bootstrap, trade_returns

        self.monte_plot.clear()
        pnls = [t["pnl"] for t in run.get("trades", [])]
        equity = run.get("equity", [])
        if not pnls or not equity:
            self.monte_carlo = None
            self.monte_text.setText("Monte Carlo needs a run with trades.")
            return
        cash = float(equity[0][1])
        paths = min(1000, max(100, 2_000_000 // len(pnls)))  # a bounded amount of work however many trades
        returns = trade_returns(run["trades"], equity)
        mc = self.monte_carlo = bootstrap(returns, cash, paths=paths)
        x = np.arange(mc.paths.shape[1], dtype=float)
        faint = QColor(self.theme.muted)
        faint.setAlphaF(0.18)
        for path in mc.paths[:100]:
            self.monte_plot.plot(x, path, pen=pg.mkPen(faint, width=1))
        low, median, high = np.percentile(mc.paths, [5, 50, 95], axis=0)
        band = QColor(self.theme.accent)
        band.setAlphaF(0.2)
        lower = self.monte_plot.plot(x, low, pen=pg.mkPen(self.theme.accent, width=1))
        upper = self.monte_plot.plot(x, high, pen=pg.mkPen(self.theme.accent, width=1))
        self.monte_plot.addItem(pg.FillBetweenItem(lower, upper, brush=pg.mkBrush(band)))
        self.monte_plot.plot(x, median, pen=pg.mkPen(self.theme.accent, width=2))
        actual = cash * np.concatenate([[1.0], np.cumprod(1 + returns)])
        self.monte_plot.plot(x, actual, pen=pg.mkPen("#e5a50a", width=2))
        bottom, top = np.percentile(mc.paths, [0.5, 99.5])  # a few lucky paths must not flatten the rest
        self.monte_plot.setYRange(min(bottom, actual.min()), max(top, actual.max()), padding=0.05)
        dd = mc.drawdown_percentiles
        self.monte_text.setText(
            f"{len(mc.paths):,} paths of {len(pnls)} trade returns drawn with replacement (orange: the order they came in; "
            f"blue: median and 5–95 % band). Final equity: 5 % {mc.final_percentiles[5]:,.0f} · median "
            f"{mc.final_percentiles[50]:,.0f} · 95 % {mc.final_percentiles[95]:,.0f}. Max drawdown: median "
            f"{dd[50] * 100:.1f} % · 95th worst {dd[95] * 100:.1f} % · 99th {dd[99] * 100:.1f} %. Risk of ruin "
            f"(equity at {mc.ruin_level:.0%} of the start): {mc.risk_of_ruin:.1%}.")

    def _trade_clicked(self, row: int, _column: int) -> None:
        if self.current is None:
            return
        index = self.trades.item(row, 0).data(Qt.ItemDataRole.UserRole)
        self.show_trade.emit(self.current, self.current["trades"][index])

    def export_dialog(self) -> None:
        self._save_dialog("Export report", "backtest.html", "HTML (*.html)", self.export)

    def export_trades_dialog(self) -> None:
        self._save_dialog("Export trades", "trades.csv", "CSV (*.csv)", self.export_trades)

    def _save_dialog(self, title: str, name: str, kinds: str, export) -> None:  # type: ignore[no-untyped-def]
        if self.current is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, title, name, kinds)
        if path:
            spawn(export(path))

    async def export(self, path: str) -> None:
        from terminal.backtest.report import render_html

        text = render_html(self.current or {})
        await asyncio.to_thread(_write, path, text)

    async def export_trades(self, path: str) -> None:
        from terminal.backtest.report import trades_csv

        text = trades_csv(self.current or {})
        await asyncio.to_thread(_write, path, text)


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)


def path_text(path: dict | None) -> str:
    """A trade's path flag for the table: empty, "⚠ stop & target in one bar", or what finer bars settled."""
    if not path:
        return ""
    if path.get("settled") is None:
        on = f" (still both on {path['on']} bars)" if path.get("on") else " (no finer bars stored)"
        return f"⚠ stop & target in one bar, {path['assumed']} assumed{on}"
    if path["settled"] == path["assumed"]:
        return f"⚠ settled on {path['on']}: {path['settled']} first, as assumed"
    return (f"⚠ settled on {path['on']}: {path['settled']} first, not {path['assumed']} "
            f"(P&L {path['settled_pnl']:+,.2f})")
