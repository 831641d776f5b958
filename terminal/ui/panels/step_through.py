"""The step-through dock: a backtest played bar by bar on the real chart (bars so far, the strategy's indicators,
its working orders and fills), with the position, equity and drawdown at the bar, the equity and drawdown curves
growing as it goes, Next trade, and breaks on a signal, a fill or a rule. The replay's transport bar above the
window drives play/pause/step/speed/jump."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from terminal.backtest.step_trace import RULE_HELP, BarState
from terminal.domain import Bar, Fill, Instrument, OrderSide
from terminal.services.step_through import StepThroughController
from terminal.ui.chart import TradeMark

_OVERLAY_COLORS = ("#e5a50a", "#a78bfa", "#38bdf8", "#f472b6", "#84cc16")


class StepThroughPanel(QWidget):
    ended = Signal()  # End pressed: the window ends the step-through and shows the live chart again

    def __init__(self, theme, parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self.theme = theme
        self.controller: StepThroughController | None = None
        self.chart = None  # the ChartWidget it plays on
        self.instrument: Instrument | None = None
        self._shown = -1
        self._overlays: list[pg.PlotDataItem] = []
        self.title = QLabel("Step through a saved run: select it in Backtest results and press Step through")
        self.title.setWordWrap(True)
        self.values = {name: QLabel("—") for name in ("Bar", "Position", "Equity", "Drawdown", "Working orders",
                                                       "Fills at this bar", "Trades closed")}
        form = QFormLayout()
        for name, label in self.values.items():
            form.addRow(name, label)
        self.end_button = QPushButton("End ■")
        self.end_button.setToolTip("End the step-through: the chart shows the live feed again")
        self.next_trade = QPushButton("Next trade »")
        self.next_trade.setToolTip("Jump to the next bar where a trade opens, closes or reverses")
        self.on_signal = QCheckBox("break on signal")
        self.on_signal.setToolTip("Pause when the strategy sends an order (at that bar's close)")
        self.on_fill = QCheckBox("break on fill")
        self.rule = QLineEdit()
        self.rule.setPlaceholderText("break when… e.g. drawdown < -10%")
        self.rule.setToolTip(RULE_HELP[0].upper() + RULE_HELP[1:])
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.equity_plot = pg.PlotWidget(background=theme.base, axisItems={"bottom": pg.DateAxisItem()})
        self.drawdown_plot = pg.PlotWidget(background=theme.base, axisItems={"bottom": pg.DateAxisItem()})
        self.drawdown_plot.setXLink(self.equity_plot)
        self._equity_curve = self.equity_plot.plot(pen=pg.mkPen(theme.accent, width=1.5))
        self._drawdown_curve = self.drawdown_plot.plot(pen=pg.mkPen(theme.down), fillLevel=0,
                                                       brush=pg.mkBrush(theme.down))
        controls = QHBoxLayout()
        for widget in (self.next_trade, self.on_signal, self.on_fill):
            controls.addWidget(widget)
        controls.addWidget(self.rule, 1)
        heading = QHBoxLayout()
        heading.addWidget(self.title, 1)
        heading.addWidget(self.end_button, 0, Qt.AlignmentFlag.AlignTop)
        left = QVBoxLayout()
        left.addLayout(heading)
        left.addLayout(form)
        left.addLayout(controls)
        left.addWidget(self.message)
        left.addStretch(1)
        plots = QVBoxLayout()
        plots.addWidget(self.equity_plot, 2)
        plots.addWidget(self.drawdown_plot, 1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(left, 2)
        layout.addLayout(plots, 3)
        self.next_trade.clicked.connect(lambda: self.controller is not None and self.controller.next_trade())
        self.end_button.clicked.connect(self.ended.emit)
        self.on_signal.toggled.connect(lambda on: self._set("break_on_signal", on))
        self.on_fill.toggled.connect(lambda on: self._set("break_on_fill", on))
        self.rule.editingFinished.connect(self._rule_changed)
        self.setEnabled(False)

    def attach(self, controller: StepThroughController | None, chart=None, instrument=None) -> None:  # type: ignore[no-untyped-def]
        if self.controller is not None:
            self.controller.bar_changed.disconnect(self.show_state)
            self.controller.clock_changed.disconnect(self._clock)
            self.controller.refused.disconnect(self.message.setText)
            self.controller.close()
        self.controller, self.chart, self.instrument = controller, chart, instrument
        self._shown = -1
        self.setEnabled(controller is not None)
        if controller is None:
            return
        controller.break_on_signal = self.on_signal.isChecked()
        controller.break_on_fill = self.on_fill.isChecked()
        self._rule_changed()
        controller.bar_changed.connect(self.show_state)
        controller.clock_changed.connect(self._clock)
        controller.refused.connect(self.message.setText)
        self.title.setText(controller.title)
        if chart is not None:  # nothing of the live chart or of another run stays on it: no future, no orders
            chart.set_trades([])
            chart.show_orders([])
            chart.set_fills([])
        self._load_overlays()
        self.show_state(controller.state)

    def _set(self, name: str, on: bool) -> None:
        if self.controller is not None:
            setattr(self.controller, name, on)

    def _rule_changed(self) -> None:
        if self.controller is None:
            return
        try:
            self.controller.set_rule(self.rule.text())
            self.message.setText(f"breaks when {self.controller.rule_text}" if self.controller.rule_text else "")
        except ValueError as exc:
            self.message.setText(str(exc))

    def _clock(self, clock) -> None:  # type: ignore[no-untyped-def]
        if self.controller is not None and self.controller.stopped_by:
            self.message.setText(self.controller.stopped_by)

    # what the bar shows ------------------------------------------------------------------------------
    def show_state(self, state: BarState) -> None:
        controller = self.controller
        if controller is None:
            return
        trace = controller.trace
        i = state.index
        closed = [t for t in trace.trades if t.get("exit_bar", len(trace)) <= i and not t.get("open")]
        running = "" if trace.complete else f" (the worker has run {trace.available})"
        self.values["Bar"].setText(f"{state.time:%Y-%m-%d %H:%M} · {i + 1} of {len(trace)}{running} · close "
                                   f"{state.close:,.2f}")
        self.values["Position"].setText(", ".join(f"{s} {p:+g}" for s, p in state.positions.items()))
        self.values["Equity"].setText(f"{state.equity:,.2f}")
        self.values["Drawdown"].setText(f"{state.drawdown * 100:.2f} %")
        self.values["Working orders"].setText(", ".join(f"{'BUY' if q > 0 else 'SELL'} {abs(q):g} {s} MKT "
                                                         "(next open)" for s, q in state.orders) or "none")
        self.values["Fills at this bar"].setText(", ".join(f"{'bought' if q > 0 else 'sold'} {abs(q):g} {s} @ "
                                                           f"{p:,.2f}" for s, q, p in state.fills) or "none")
        self.values["Trades closed"].setText(f"{len(closed)} · P&L {sum(t['pnl'] for t in closed):,.2f}")
        x = trace.times[:i + 1].as_unit("s").asi8.astype(float)
        self._equity_curve.setData(x, trace.equity[:i + 1])
        self._drawdown_curve.setData(x, trace.drawdown()[:i + 1] * 100)
        self._show_on_chart(i, state)

    def _load_overlays(self) -> None:
        if self.chart is None or self.controller is None:
            return
        price = self.chart.plots["price"]
        for item in self._overlays:
            price.removeItem(item)
        self._overlays = []
        median = float(np.nanmedian(self.controller.trace.frame["close"]))
        for n, (name, values) in enumerate(self.controller.trace.indicators.items()):
            level = float(np.nanmedian(values)) if np.isfinite(values).any() else math.nan
            if not (math.isfinite(level) and 0.5 * median <= level <= 2 * median):
                continue  # only what reads on the price scale (moving averages, bands), not z-scores
            item = pg.PlotDataItem(pen=pg.mkPen(_OVERLAY_COLORS[n % len(_OVERLAY_COLORS)], width=1.3), name=name)
            item.setZValue(10)
            price.addItem(item)
            item.indicator = values  # type: ignore[attr-defined]
            self._overlays.append(item)

    def _show_on_chart(self, i: int, state: BarState) -> None:
        chart, trace = self.chart, self.controller.trace if self.controller else None
        if chart is None or trace is None:
            return
        frame = trace.frame
        jumped = not (i == self._shown + 1 and self._shown >= 0)
        if not jumped:
            row = frame.iloc[i]
            chart.append_bar(Bar(frame.index[i].to_pydatetime(), float(row.open), float(row.high), float(row.low),
                                 float(row.close), float(row.volume), chart.series.bar_size))
        else:
            chart.set_data(frame.iloc[:i + 1], self.instrument)
        self._shown = i
        for item in self._overlays:
            item.setData(np.arange(i + 1, dtype=float), item.indicator[:i + 1], connect="finite")
        if not (jumped or state.fills or state.orders or i - 1 in trace.orders):
            return  # nothing else changed on this bar: a step costs a bar, not a redraw of every mark
        fills = []
        for bar in sorted(b for b in trace.fills if b <= i):
            for k, (symbol, size, price) in enumerate(trace.fills[bar]):
                if symbol == trace.symbol and self.instrument is not None:
                    fills.append(Fill(f"step-{bar}-{k}", 0, self.instrument, OrderSide.BUY if size > 0 else
                                      OrderSide.SELL, abs(size), price, frame.index[bar].to_pydatetime()))
        chart.set_fills(fills)
        chart.set_trades([TradeMark(pd.Timestamp(t["entry_time"]).to_pydatetime(), t["entry_price"],
                                    pd.Timestamp(t["exit_time"]).to_pydatetime(), t["exit_price"], t["size"] > 0,
                                    t["pnl"]) for t in trace.trades
                          if t["symbol"] == trace.symbol and t["exit_bar"] <= i and not t.get("open")])
        for key in list(chart.marks.order_lines):
            if str(key).startswith("step-order"):
                chart.remove_order_line(key)
        for k, (symbol, size) in enumerate(state.orders):
            if symbol == trace.symbol:
                side = OrderSide.BUY if size > 0 else OrderSide.SELL
                chart.set_order_line(f"step-order-{k}", state.close, f"{side.value} {abs(size):g} MKT → next open",
                                     side)
