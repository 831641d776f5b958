"""Things drawn over the price: fills as arrows, draggable working-order lines, backtest trades."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QPainterPath

from terminal.domain import Fill, Instrument, Order, OrderSide, OrderType
from terminal.ui.chart.data import BarSeries
from terminal.ui.chart.palette import ChartPalette


def _arrow(up: bool) -> QPainterPath:
    """Arrow symbol whose tip is the marked point: a buy points up from below, a sell down from above."""
    sign = 1.0 if up else -1.0
    points = [(0, 0), (-0.5, 0.55), (-0.17, 0.55), (-0.17, 1.1), (0.17, 1.1), (0.17, 0.55), (0.5, 0.55)]
    path = QPainterPath()
    path.moveTo(0, 0)
    for x, y in points[1:]:
        path.lineTo(x, sign * y)
    path.closeSubpath()
    return path


BUY_ARROW, SELL_ARROW = _arrow(True), _arrow(False)


@dataclass(frozen=True)
class TradeMark:
    """A closed backtest trade: entry and exit joined by a line, green if profitable."""

    entry_time: datetime
    entry_price: float
    exit_time: datetime
    exit_price: float
    is_long: bool = True
    pnl: float | None = None  # the trade's P&L, written at its exit when known

    @property
    def profitable(self) -> bool:
        if self.pnl is not None:
            return self.pnl > 0
        gain = self.exit_price - self.entry_price
        return gain > 0 if self.is_long else gain < 0

    @property
    def label(self) -> str:
        side = "long" if self.is_long else "short"
        return f"{side} {self.pnl:+,.2f}" if self.pnl is not None else side


class OrderLine(pg.InfiniteLine):
    """A horizontal working-order line; dragging it snaps to the tick grid and reports the new price."""

    def __init__(self, order_id: object, price: float, label: str, color: str,
                 snap: Callable[[float], float], on_moved: Callable[[object, float], None]) -> None:
        pen = pg.mkPen(color, width=1.5, style=Qt.PenStyle.DashLine)
        super().__init__(pos=price, angle=0, movable=True, pen=pen, hoverPen=pg.mkPen(color, width=3),
                         label=label, labelOpts={"position": 0.05, "color": color, "anchors": [(0, 1), (0, 1)]})
        self.order_id = order_id
        self._snap = snap
        self._on_moved = on_moved
        self._price_at_press = price
        self.sigDragged.connect(self._snap_while_dragging)
        self.sigPositionChangeFinished.connect(self._finished)

    def _snap_while_dragging(self) -> None:
        snapped = self._snap(self.value())
        if snapped != self.value():
            self.blockSignals(True)
            self.setValue(snapped)
            self.blockSignals(False)

    def _finished(self) -> None:
        price = self._snap(self.value())
        self.setValue(price)
        if price != self._price_at_press:
            self._price_at_press = price
            self._on_moved(self.order_id, price)

    def move_to(self, price: float) -> None:
        """Programmatic move (e.g. the order was modified elsewhere): no signal."""
        self._price_at_press = price
        self.setValue(price)


class MarksLayer(QObject):
    """Owns the marks on one price plot and re-places them when the bars change (timeframe switch)."""

    order_line_moved = Signal(object, float)

    def __init__(self, plot: pg.PlotItem, palette: ChartPalette) -> None:
        super().__init__()
        self.plot = plot
        self.palette = palette
        self.instrument: Instrument | None = None
        self.series: BarSeries | None = None
        self.fills: list[Fill] = []
        self.trades: list[TradeMark] = []
        self.order_lines: dict[object, OrderLine] = {}
        outline = pg.mkPen(palette.background, width=1)
        self._buy = pg.ScatterPlotItem(symbol=BUY_ARROW, size=22, pen=outline, brush=palette.up)
        self._sell = pg.ScatterPlotItem(symbol=SELL_ARROW, size=22, pen=outline, brush=palette.down)
        self._trade_items: list[pg.GraphicsObject] = []
        for item in (self._buy, self._sell):
            item.setZValue(20)
            plot.addItem(item)

    # positions --------------------------------------------------------------------------------
    def snap(self, price: float) -> float:
        return self.instrument.round_to_tick(price) if self.instrument else price

    def set_series(self, series: BarSeries) -> None:
        self.series = series
        self._place_fills()
        self._place_trades()

    def bar_index(self, when: datetime) -> int:
        if self.series is None or len(self.series) == 0:
            raise LookupError("no bars loaded; call set_data before adding marks")
        return self.series.index_of(when)

    # fills ------------------------------------------------------------------------------------
    def set_fills(self, fills: Iterable[Fill]) -> None:
        self.fills = list(fills)
        self._place_fills()

    def add_fill(self, fill: Fill) -> None:
        self.fills.append(fill)
        self._place_fills()

    def fill_positions(self) -> tuple[np.ndarray, np.ndarray]:
        """(bar index, price) of buy fills and of sell fills, as drawn."""
        return self._buy.getData()[0].copy(), self._sell.getData()[0].copy()

    def _place_fills(self) -> None:
        if self.series is None or len(self.series) == 0:
            return
        for item, side in ((self._buy, OrderSide.BUY), (self._sell, OrderSide.SELL)):
            fills = [f for f in self.fills if f.side == side]
            xs = np.array([self.bar_index(f.time) for f in fills], dtype=float)
            ys = np.array([f.price for f in fills], dtype=float)
            item.setData(xs, ys, data=[f.execution_id for f in fills])

    # trades -----------------------------------------------------------------------------------
    def set_trades(self, trades: Iterable[TradeMark]) -> None:
        self.trades = list(trades)
        self._place_trades()

    def _place_trades(self) -> None:
        for item in self._trade_items:
            self.plot.removeItem(item)
        self._trade_items = []
        if self.series is None or len(self.series) == 0:
            return
        for t in self.trades:
            color = self.palette.up if t.profitable else self.palette.down
            x = [self.bar_index(t.entry_time), self.bar_index(t.exit_time)]
            item = pg.PlotCurveItem(x, [t.entry_price, t.exit_price], pen=pg.mkPen(color, width=2,
                                                                                  style=Qt.PenStyle.DotLine))
            item.setZValue(15)
            self.plot.addItem(item)
            self._trade_items.append(item)
            # the result at the exit, above a long's exit and below a short's (clear of the candle's wick)
            text = pg.TextItem(t.label, color=color, anchor=(0.5, 1.2) if t.is_long else (0.5, -0.2),
                               fill=pg.mkBrush(self.palette.background), border=pg.mkPen(color))
            text.setPos(x[1], t.exit_price)
            text.setZValue(17)
            self.plot.addItem(text)
            self._trade_items.append(text)
        # entry/exit dots share one scatter per colour for speed
        if self.trades:
            xs, ys, brushes = [], [], []
            for t in self.trades:
                color = self.palette.up if t.profitable else self.palette.down
                xs += [self.bar_index(t.entry_time), self.bar_index(t.exit_time)]
                ys += [t.entry_price, t.exit_price]
                brushes += [pg.mkBrush(color)] * 2
            dots = pg.ScatterPlotItem(xs, ys, symbol="o", size=7, brush=brushes, pen=None)
            dots.setZValue(16)
            self.plot.addItem(dots)
            self._trade_items.append(dots)

    # working orders ---------------------------------------------------------------------------
    def set_order_line(self, order_id: object, price: float, label: str = "", side: OrderSide | None = None) -> None:
        color = {OrderSide.BUY: self.palette.up, OrderSide.SELL: self.palette.down}.get(side, self.palette.order_line)
        line = self.order_lines.get(order_id)
        if line is not None:
            line.move_to(price)
            return
        line = OrderLine(order_id, price, label or str(order_id), color, self.snap, self.order_line_moved.emit)
        line.setZValue(30)
        self.order_lines[order_id] = line
        self.plot.addItem(line)

    def remove_order_line(self, order_id: object) -> None:
        line = self.order_lines.pop(order_id, None)
        if line is not None:
            self.plot.removeItem(line)

    def show_orders(self, orders: Iterable[Order]) -> None:
        """One line per working order at its limit (or stop) price; others removed."""
        keep = set()
        for o in orders:
            price = o.limit_price if o.order_type != OrderType.STOP and o.limit_price else o.stop_price
            if price is None:
                continue
            key = o.client_order_id or o.order_id
            keep.add(key)
            label = f"{o.side.value} {o.quantity:g} {o.order_type.value} @ {price:g}"
            self.set_order_line(key, price, label, o.side)
        for key in list(self.order_lines):
            if key not in keep:
                self.remove_order_line(key)
