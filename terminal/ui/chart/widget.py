"""ChartWidget: price, volume and indicator panes over one bar axis, fed by a DataFrame and live Bars.

A live bar (``on_bar``) costs O(1) in the number of loaded bars: the series, its pyramid and the
studies update their tail only, the items repaint the last bar's strip, the time axis relabels
only when a tick lands on the new bar, and the view scrolls in whole device pixels (zoomed out, a
bar is a fraction of a pixel and moving by it would repaint everything for no visible change).
``rebuild`` redoes everything from the loaded bars, as every live bar once did; the bench times
both in the same run.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QLabel, QMenu, QVBoxLayout, QWidget

from terminal.domain import Bar, BarSize, Fill, Instrument, Order, OrderSide
from terminal.ui.chart.axis import CompactAxis, GridLines, TimeIndexAxis
from terminal.ui.chart.data import BarSeries, infer_bar_size
from terminal.ui.chart.drawings import HLINE, Drawing, DrawingsLayer
from terminal.ui.chart.items import CANDLE, PriceItem, StudyLine, VolumeItem
from terminal.ui.chart.marks import MarksLayer, TradeMark
from terminal.ui.chart.palette import DARK, ChartPalette
from terminal.ui.chart.panes import ChartViewBox
from terminal.ui.chart.studies import Study
from terminal.ui.chart.toolbar import ChartToolbar

_PANES = ("price", "volume", "rsi", "macd")
_STRETCH = {"price": 6, "volume": 1.6, "rsi": 2, "macd": 2.2}
_RIGHT_ROOM = 50  # bars the view may be panned past the last bar (or two pixels' worth, if more)


class ChartWidget(QWidget):
    """A standalone chart; the window wires its signals to services (orders, alerts, history)."""

    timeframe_changed = Signal(object)  # BarSize now shown
    history_requested = Signal(object)  # BarSize finer than the loaded bars: a service should fetch it
    order_line_moved = Signal(object, float)  # order id, new tick-snapped price
    alert_requested = Signal(float)  # price picked from the right-click menu
    drawings_changed = Signal()

    def __init__(self, parent: QWidget | None = None, theme: ChartPalette = DARK) -> None:
        super().__init__(parent)
        self.palette_ = theme
        self.instrument: Instrument | None = None
        self.base: BarSeries = BarSeries(np.empty(0, np.int64), np.empty((5, 0)))
        self.series: BarSeries = self.base
        self.studies: dict[str, Study] = {}
        self._study_items: dict[str, list[StudyLine]] = {}
        self.follow_latest = True
        self.toolbar = ChartToolbar(self)
        self.readout = QLabel(" ")
        self.readout.setTextFormat(Qt.TextFormat.PlainText)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground(theme.background)
        self.graphics.ci.layout.setSpacing(0)
        self.readout.setStyleSheet(f"background:{theme.background}; color:{theme.foreground}; padding:2px 6px;"
                                   "font-family: monospace;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        for w in (self.toolbar, self.readout, self.graphics):
            layout.addWidget(w)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._build_panes()
        self.price_item = PriceItem(self.series, theme, CANDLE)
        self.volume_item = VolumeItem(self.series, theme)
        self.plots["price"].addItem(self.price_item)
        self.plots["volume"].addItem(self.volume_item)
        self.marks = MarksLayer(self.plots["price"], theme)
        self.marks.order_line_moved.connect(self.order_line_moved)
        self.drawings = DrawingsLayer(self.plots["price"], theme)
        self.drawings.drawings_changed.connect(self.drawings_changed)
        self._build_crosshair()
        self._relayout()
        self.toolbar.timeframe_picked.connect(self.set_timeframe)
        self.toolbar.chart_type_picked.connect(self.set_chart_type)
        self.toolbar.study_toggled.connect(lambda k, on: self.add_study(k) if on else self.remove_study(k))
        self.toolbar.study_params_edited.connect(lambda k, p: self.add_study(k, **p))
        self.toolbar.drawing_tool_picked.connect(self.drawings.arm)
        self.toolbar.drawings_cleared.connect(self.drawings.clear)
        self.toolbar.follow_toggled.connect(self.set_follow_latest)

    # construction ----------------------------------------------------------------------------
    def _build_panes(self) -> None:
        p = self.palette_
        self.plots: dict[str, pg.PlotItem] = {}
        for name in _PANES:
            vb = ChartViewBox(self.drawings_click if name == "price" else None,
                              self.context_menu_for if name == "price" else None)
            axes = {"bottom": TimeIndexAxis("bottom")}
            if name == "volume":
                axes["right"] = CompactAxis("right")
            plot = pg.PlotItem(viewBox=vb, axisItems=axes)
            plot.hideButtons()
            plot.setMenuEnabled(False)
            plot.showAxis("right")
            plot.hideAxis("left")
            for side in ("left", "top", "right", "bottom"):  # hidden axes too: they follow the view
                plot.getAxis(side).enableAutoSIPrefix(False)  # no labels; it re-sets their HTML per range change
            for side in ("right", "bottom"):
                ax = plot.getAxis(side)
                ax.setPen(pg.mkPen(p.grid))
                ax.setTextPen(pg.mkPen(p.foreground))
            plot.getAxis("right").setWidth(70)
            vb.disableAutoRange()
            vb.addItem(GridLines(plot.getAxis("bottom"), plot.getAxis("right"), p.grid), ignoreBounds=True)
            if name != "price":
                vb.setXLink(self.plots["price"].getViewBox())
            self.plots[name] = plot
        self.plots["price"].getViewBox().sigXRangeChanged.connect(self._x_range_changed)
        self.plots["price"].getViewBox().sigResized.connect(self._x_range_changed)
        self.plots["rsi"].setYRange(3, 97, padding=0)  # labels 20..80 clear of the neighbouring panes
        for level in (30, 70):
            self.plots["rsi"].addItem(pg.InfiniteLine(pos=level, angle=0, pen=pg.mkPen(p.grid, style=Qt.PenStyle.DashLine)))

    def _build_crosshair(self) -> None:
        pen = pg.mkPen(self.palette_.crosshair, style=Qt.PenStyle.DotLine)
        self._vlines = {n: pg.InfiniteLine(angle=90, pen=pen, movable=False) for n in _PANES}
        self._hline = pg.InfiniteLine(angle=0, pen=pen, movable=False)
        for n, line in self._vlines.items():
            self.plots[n].addItem(line, ignoreBounds=True)
        self.plots["price"].addItem(self._hline, ignoreBounds=True)
        for line in [*self._vlines.values(), self._hline]:
            line.setZValue(50)
            line.hide()
        self._mouse_proxy = pg.SignalProxy(self.graphics.scene().sigMouseMoved, rateLimit=60, slot=self._mouse_moved)

    def _visible_panes(self) -> list[str]:
        shown = {"price", "volume"} | {s.pane for s in self.studies.values()}
        return [n for n in _PANES if n in shown]

    def _relayout(self) -> None:
        """Panes stay in the grid; a pane without studies collapses to zero height and is hidden."""
        ci = self.graphics.ci
        if not ci.items:
            for row, name in enumerate(_PANES):
                ci.addItem(self.plots[name], row=row, col=0)
        visible = self._visible_panes()
        for row, name in enumerate(_PANES):
            plot = self.plots[name]
            shown = name in visible
            plot.setVisible(shown)
            plot.setMaximumHeight(16_777_215 if shown else 0)
            plot.setMinimumHeight(40 if shown else 0)
            ci.layout.setRowStretchFactor(row, int(_STRETCH[name] * 10) if shown else 0)
            ci.layout.setRowSpacing(row, 0)
            plot.showAxis("bottom", name == visible[-1])
        ci.layout.invalidate()
        ci.layout.activate()
        self._fit_y()

    # data ------------------------------------------------------------------------------------
    def set_data(self, data: pd.DataFrame | BarSeries, instrument: Instrument | None = None,
                 bar_size: BarSize | None = None) -> None:
        """Load bars (DataFrame with UTC DatetimeIndex and open/high/low/close/volume, or a BarSeries)."""
        base = data if isinstance(data, BarSeries) else BarSeries.from_frame(data, bar_size)
        self.instrument = instrument
        self.marks.instrument = instrument
        self.base = base
        self._show_series(base)
        self.toolbar.show_timeframe(base.bar_size)
        self.show_last(min(len(base), 150))

    def set_arrays(self, times: np.ndarray, open_: np.ndarray, high: np.ndarray, low: np.ndarray,
                   close: np.ndarray, volume: np.ndarray, instrument: Instrument | None = None,
                   bar_size: BarSize | None = None) -> None:
        """Load bars from arrays; ``times`` are datetime64 (UTC), UTC Timestamps or int64 ns since the epoch."""
        t = np.asarray(times)
        if t.dtype.kind in "MO":
            index = pd.DatetimeIndex(t)
            index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
            t = index.as_unit("ns").asi8
        t = t.astype(np.int64)
        series = BarSeries(t, np.vstack([open_, high, low, close, volume]), bar_size or infer_bar_size(t))
        self.set_data(series, instrument)

    def _show_series(self, series: BarSeries) -> None:
        self.series = series
        self.price_item.set_series(series)
        self.volume_item.set_series(series)
        for plot in self.plots.values():
            plot.getAxis("bottom").set_times(series.times, series.bar_size.seconds)
            plot.getViewBox().setLimits(xMin=-50, xMax=len(series) + _RIGHT_ROOM, minXRange=8)
        for study in self.studies.values():
            self._draw_study(study)
        self.marks.set_series(series)
        self.drawings.set_series(series)

    def set_timeframe(self, size: BarSize) -> None:
        """Show ``size`` bars aggregated from the loaded bars; a finer size asks for history instead."""
        if len(self.base) == 0:
            return
        if size.seconds < self.base.bar_size.seconds:
            self.toolbar.show_timeframe(self.series.bar_size)
            self.history_requested.emit(size)
            return
        if size == self.series.bar_size:
            return
        first, last = self.visible_range()
        at_end = last >= len(self.series) - 1
        t_mid = self.series.times[min(max((first + last) // 2, 0), len(self.series) - 1)]
        self._show_series(self.base if size == self.base.bar_size else self.base.resample(size))
        self.toolbar.show_timeframe(size)
        bars = min(max(last - first, 20), len(self.series) + 2)  # same number of (now coarser) bars in view
        if at_end:
            self.show_last(bars)
        else:
            mid = int(np.searchsorted(self.series.times, t_mid, side="right")) - 1
            self.show_range(mid - bars / 2, mid + bars / 2)
        self.timeframe_changed.emit(size)

    @property
    def timeframe(self) -> BarSize:
        return self.series.bar_size

    # live updates ----------------------------------------------------------------------------
    def on_bar(self, bar: Bar) -> None:
        """A live bar at the loaded bar size: updates the last bar or appends a new one."""
        n = len(self.base)
        if n and pd.Timestamp(bar.time).value == int(self.base.times[-1]):
            self.update_last_bar(bar)
        else:
            self.append_bar(bar)

    def update_last_bar(self, bar: Bar) -> None:
        """Replace the last loaded bar; only the tail of series, pyramid and studies changes."""
        self.base.update_last(bar)
        self._propagate(appended=False)
        self._fit_y()

    def append_bar(self, bar: Bar) -> None:
        """Add a bar after the last; when following and at the end, the view keeps the new bar in sight."""
        was_at_end = self.visible_range()[1] >= len(self.series) - 2
        self.base.append(bar)
        appended = self._propagate(appended=True)
        if not (appended and self.follow_latest and was_at_end and self._scroll_to_latest()):
            self._fit_y()  # a scroll refits y through the range signal

    def rebuild(self) -> None:
        """Recompute everything from the loaded bars (series copy, pyramid, studies, axes) keeping the view.

        O(n): what every live bar cost before the tail-only updates; the bench times it as the baseline.
        """
        (x0, x1), _ = self.plots["price"].getViewBox().viewRange()
        base = BarSeries(self.base.times.copy(), np.vstack([self.base.column(k) for k in range(5)]),
                         self.base.bar_size)
        shown = base if self.series is self.base else base.resample(self.series.bar_size)
        self.base = base
        self._show_series(shown)
        self.show_range(x0, x1)
        self._fit_y()

    def _scroll_to_latest(self) -> bool:
        """After an append: move the view to keep the newest bar in sight, in whole pixels; True if it moved.

        Zoomed in (a bar is at least a pixel) the view moves one bar per new bar, keeping its right
        margin. Zoomed out, it waits until the newest bar passes the right edge, then moves a
        pixel's worth of bars at once.
        """
        (x0, x1), _ = self.plots["price"].getViewBox().viewRange()
        bars_per_pixel = self._bars_per_pixel()
        if bars_per_pixel <= 1.0:
            shift = 1.0
        elif len(self.series) - 1 <= x1:
            return False
        else:
            shift = float(math.ceil(bars_per_pixel))  # within the limit: the room is two pixels' worth
        self.show_range(x0 + shift, x1 + shift)
        return True

    def _bars_per_pixel(self) -> float:
        vb = self.plots["price"].getViewBox()
        (x0, x1), _ = vb.viewRange()
        return (x1 - x0) / max(1.0, vb.width())

    def _right_limit(self) -> float:
        """How far right the view may go: the last bar plus the room (two pixels' worth when zoomed out)."""
        return len(self.series) + max(float(_RIGHT_ROOM), 2.0 * math.ceil(self._bars_per_pixel()))

    def _propagate(self, appended: bool) -> bool:
        """Carry a base-series change into the shown (possibly aggregated) series; True if it grew."""
        shown = self.series
        if shown is not self.base:
            period = np.int64(shown.bar_size.seconds * 1_000_000_000)
            start = (int(self.base.times[-1]) // period) * period
            j = int(np.searchsorted(self.base.times, start))
            v = np.vstack([self.base.column(k)[j:] for k in range(5)])
            agg = Bar(pd.Timestamp(start, tz="UTC").to_pydatetime(), float(v[0, 0]), float(v[1].max()),
                      float(v[2].min()), float(v[3, -1]), float(v[4].sum()), shown.bar_size)
            appended = start != int(shown.times[-1])
            if appended:
                shown.append(agg)
            else:
                shown.update_last(agg)
        for item in (self.price_item, self.volume_item):
            item.bars_changed()
        for kind, study in self.studies.items():
            values = study.update_last(shown, appended)
            for line in self._study_items.get(kind, []):
                if appended:
                    line.extended(study.lines[line.name])
                line.tail_changed(values[line.name])
        if appended:
            for plot in self.plots.values():
                plot.getAxis("bottom").extend(shown.times)
                plot.getViewBox().setLimits(xMax=self._right_limit())
        return appended

    # studies ---------------------------------------------------------------------------------
    def add_study(self, kind: str, **params: float) -> Study:
        """Show an indicator (replacing one of the same kind, e.g. with new parameters)."""
        study = Study(kind, dict(params))
        if kind in self.studies:
            self._remove_study_items(kind)
        self.studies[kind] = study
        self.toolbar.show_study(kind, True, study.params)
        self._draw_study(study)
        self._relayout()
        return study

    def remove_study(self, kind: str) -> None:
        if self.studies.pop(kind, None) is not None:
            self._remove_study_items(kind)
            self.toolbar.show_study(kind, False)
            self._relayout()

    def _remove_study_items(self, kind: str) -> None:
        for line in self._study_items.pop(kind, []):
            line.scene() and line.getViewBox() and line.getViewBox().removeItem(line)

    def _draw_study(self, study: Study) -> None:
        self._remove_study_items(study.kind)
        if len(self.series) == 0:
            return
        study.compute(self.series)
        plot = self.plots[study.pane]
        items = []
        for name, values in study.lines.items():
            color = self.palette_.line_color(study.kind, name)
            width = 1  # whole-pixel cosmetic pens take Qt's fast line path; 1.3 px cost ~1 ms per line
            item = StudyLine(values, color, name, width, histogram=(name == "histogram"), palette=self.palette_)
            item.setZValue(5 if name != "histogram" else 1)
            plot.addItem(item)
            items.append(item)
        self._study_items[study.kind] = items

    # view ------------------------------------------------------------------------------------
    def visible_range(self) -> tuple[int, int]:
        (x0, x1), _ = self.plots["price"].getViewBox().viewRange()
        return int(math.floor(x0)), int(math.ceil(x1))

    def show_range(self, first: float, last: float) -> None:
        self.plots["price"].getViewBox().setXRange(first, last, padding=0)

    def show_last(self, bars: int) -> None:
        n = len(self.series)
        self.show_range(n - bars - 0.5, n + 2)

    def zoom(self, factor: float) -> None:
        """factor > 1 zooms in; the right edge stays put when following the latest bar."""
        first, last = self.visible_range()
        width = max(8.0, (last - first) / factor)
        if self.follow_latest and last >= len(self.series) - 1:
            self.show_range(last - width, last)
        else:
            mid = (first + last) / 2
            self.show_range(mid - width / 2, mid + width / 2)

    def pan(self, bars: float) -> None:
        first, last = self.visible_range()
        self.show_range(first + bars, last + bars)

    def set_follow_latest(self, on: bool) -> None:
        self.follow_latest = on
        self.toolbar.follow.setChecked(on)

    def set_chart_type(self, chart_type: str) -> None:
        """``candle``, ``ohlc`` or ``line``."""
        self.price_item.set_chart_type(chart_type)
        self.toolbar.chart_type.setCurrentText(chart_type)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        first, last = self.visible_range()
        step = max(1, (last - first) // 10)
        key = event.key()
        if key == Qt.Key.Key_Left:
            self.pan(-step)
        elif key == Qt.Key.Key_Right:
            self.pan(step)
        elif key == Qt.Key.Key_Home:
            self.show_range(-1, last - first - 1)
        elif key == Qt.Key.Key_End:
            self.show_last(last - first)
        elif key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom(1.25)
        elif key == Qt.Key.Key_Minus:
            self.zoom(0.8)
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    def _x_range_changed(self, *_args) -> None:
        self._fit_y()

    def _fit_y(self) -> None:
        if len(self.series) == 0:
            return
        first, last = self.visible_range()
        first, last = max(first, 0), min(last, len(self.series) - 1)
        if last < first:
            return
        pixels = max(1.0, self.plots["price"].getViewBox().width())
        lo, hi, vmax = self.series.visible_extent(first, last, pixels)
        step = 1 << BarSeries.level_for(last - first + 1, pixels)
        extents: dict[str, list[float]] = {"price": [lo, hi], "macd": []}
        for kind, study in self.studies.items():
            if study.pane in extents:
                for line in self._study_items.get(kind, []):
                    extents[study.pane] += list(line.visible_extent(first, last, step))
        for pane, values in extents.items():
            vals = [v for v in values if math.isfinite(v)]
            if vals:
                self.plots[pane].getViewBox().setYRange(min(vals), max(vals), padding=0.06)
        if math.isfinite(vmax) and vmax > 0:
            self.plots["volume"].getViewBox().setYRange(0, vmax * 1.05, padding=0)
        # pyqtgraph applies a new range to the view transform at paint time, which marks the panes
        # dirty again and costs a second full repaint; applying it now folds that into this one
        for plot in self.plots.values():
            plot.getViewBox().updateMatrix()

    # crosshair -------------------------------------------------------------------------------
    def _mouse_moved(self, event) -> None:
        pos = event[0]
        vb = self.plots["price"].getViewBox()
        for name in self._visible_panes():
            plot = self.plots[name]
            if plot.sceneBoundingRect().contains(pos):
                p = plot.getViewBox().mapSceneToView(pos)
                self.crosshair_at(p.x(), p.y() if plot.getViewBox() is vb else None)
                return

    def crosshair_at(self, x: float, price: float | None = None) -> str:
        """Move the crosshair to bar x (and price) and return the readout shown above the chart."""
        n = len(self.series)
        if n == 0:
            return ""
        i = min(max(int(round(x)), 0), n - 1)
        for line in self._vlines.values():
            line.setValue(i)
            line.show()
        if price is not None:
            self._hline.setValue(price)
            self._hline.show()
        t, o, h, lo, c, v = self.series.bar_at(i)
        nd = self.instrument.price_decimals() if self.instrument else 4
        when = f"{t:%Y-%m-%d}" if self.series.bar_size.seconds >= 86400 else f"{t:%Y-%m-%d %H:%M}"
        text = f"{when}  O {o:.{nd}f}  H {h:.{nd}f}  L {lo:.{nd}f}  C {c:.{nd}f}  V {v:,.0f}"
        for study in self.studies.values():
            parts = " ".join(f"{val[i]:.{nd}f}" for val in study.lines.values() if math.isfinite(val[i]))
            text += f"  {study.label} {parts}"
        self.readout.setText(text)
        return text

    # marks, orders, drawings, alerts ---------------------------------------------------------
    def set_fills(self, fills: Iterable[Fill]) -> None:
        self.marks.set_fills(fills)

    def add_fill(self, fill: Fill) -> None:
        self.marks.add_fill(fill)

    def set_trades(self, trades: Iterable[TradeMark]) -> None:
        self.marks.set_trades(trades)

    def show_orders(self, orders: Iterable[Order]) -> None:
        self.marks.show_orders(orders)

    def set_order_line(self, order_id: object, price: float, label: str = "", side: OrderSide | None = None) -> None:
        self.marks.set_order_line(order_id, price, label, side)

    def remove_order_line(self, order_id: object) -> None:
        self.marks.remove_order_line(order_id)

    def drawings_to_list(self) -> list[dict]:
        return self.drawings.to_list()

    def load_drawings(self, data: list[dict]) -> None:
        self.drawings.load(data)

    def add_drawing(self, drawing: Drawing) -> None:
        self.drawings.add(drawing)

    def drawings_click(self, x: float, price: float) -> bool:
        return self.drawings.click(x, price)

    def context_menu_for(self, price: float) -> QMenu:
        """The price pane's right-click menu at ``price`` (alert and horizontal line there)."""
        snapped = self.marks.snap(price)
        menu = QMenu(self)
        menu.addAction(f"Alert at {snapped:g}").triggered.connect(lambda: self.alert_requested.emit(snapped))
        first = self.series.bar_at(max(0, min(self.visible_range()[0], len(self.series) - 1)))[0] \
            if len(self.series) else None
        if first is not None:
            menu.addAction(f"Horizontal line at {snapped:g}").triggered.connect(
                lambda: self.drawings.add(Drawing(HLINE, [(first, snapped)])))
        return menu

