"""Candlestick, OHLC, line and volume items that paint only the visible bars, aggregated to ≤ 2 per pixel.

Each paint picks the pyramid level of ``BarSeries`` whose buckets give at most two per device
pixel, and hands numpy-filled QLineF/QRectF arrays to QPainter in a few batched calls; the
cost of a frame follows the widget's width, not the number of bars.

A live bar repaints only the last buckets' columns: items mark just that strip dirty (Qt's
minimal viewport update then repaints only it) and paint only the buckets inside the exposed
rect, with the level still chosen from the whole view so the strip matches a full repaint pixel
for pixel. Bounds carry headroom (x to the next power of two, y a quarter of the range beyond the
extremes) because a change of bounds makes Qt repaint the whole item.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from pyqtgraph.Qt.internals import PrimitiveArray
from PySide6.QtCore import QLineF, QRectF
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem

from terminal.ui.chart.data import BarSeries, Buckets
from terminal.ui.chart.palette import ChartPalette

CANDLE, OHLC, LINE = "candle", "ohlc", "line"
CHART_TYPES = (CANDLE, OHLC, LINE)


def _with_headroom(left: float, right: float, low: float, high: float) -> QRectF:
    """Bounds around a data rect with room to grow: x to the next power of two, y a quarter of the range."""
    x1 = float(1 << max(4, int(right) + 1).bit_length())
    pad = max(high - low, abs(high) * 1e-6, 1e-9) * 0.25
    return QRectF(left, low - pad, x1 - left, high - low + 2 * pad)


def _covers(bounds: QRectF, data: QRectF) -> bool:
    """``bounds`` holds ``data`` (QRectF.contains says no for a flat rect, e.g. bars without volume)."""
    return (bounds.left() <= data.left() and data.right() <= bounds.right()
            and bounds.top() <= data.top() and data.bottom() <= bounds.bottom())


def _exposed(args: tuple) -> QRectF | None:
    """The exposed rect a paint call was given (item coordinates), if any."""
    option = args[0] if args else None
    return option.exposedRect if isinstance(option, QStyleOptionGraphicsItem) else None


def _clip_to(first: int, last: int, exposed: QRectF | None, margin: int) -> tuple[int, int]:
    """Bars first..last narrowed to those within ``margin`` bars of the exposed rect."""
    if exposed is None or exposed.isEmpty():
        return first, last
    return max(first, int(math.floor(exposed.left())) - margin), min(last, int(math.ceil(exposed.right())) + margin)


class _SeriesItem(pg.GraphicsObject):
    """Common part: the series, the palette and which range/level the last paint drew."""

    per_pixel = 2.0

    def __init__(self, series: BarSeries, palette: ChartPalette) -> None:
        super().__init__()
        self.series = series
        self.palette = palette
        self.drawn_buckets = 0  # what the last paint drew, for tests and the bench
        self.drawn_width = 1
        self.drawn_pixels = 0.0
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption)  # paint gets the exposed rect
        self._bounds = self._bounds_for()
        self._lines = PrimitiveArray(QLineF, 4)
        self._rects = PrimitiveArray(QRectF, 4)
        self._up_pen = QPen(palette.color("up"), 0)
        self._down_pen = QPen(palette.color("down"), 0)
        for pen in (self._up_pen, self._down_pen):
            pen.setCosmetic(True)

    def set_series(self, series: BarSeries) -> None:
        self.prepareGeometryChange()
        self.series = series
        self._bounds = self._bounds_for()
        self.update()

    def _data_rect(self) -> QRectF | None:
        """The rect the data needs (x over the bars, y over their values); None when empty."""
        raise NotImplementedError

    def _bounds_for(self) -> QRectF:
        data = self._data_rect()
        return QRectF() if data is None else _with_headroom(data.left(), data.right(), data.top(), data.bottom())

    def boundingRect(self) -> QRectF:
        return self._bounds

    def bars_changed(self) -> None:
        """The last bar changed or a bar was appended: repaint the last buckets' strip only.

        If the data outgrew the bounds' headroom, the bounds move and the whole item repaints.
        """
        data = self._data_rect()
        if data is None:
            return
        if not _covers(self._bounds, data):
            self.prepareGeometryChange()
            self._bounds = self._bounds_for()
            self.update()
            return
        n, w = len(self.series), self.drawn_width
        bucket = ((n - 1) // w) * w
        left, right = bucket - 2 * w - 1, bucket + 2 * w + 1  # the previous bucket too: a line joins it
        self.update(QRectF(left, self._bounds.top(), right - left, self._bounds.height()))

    def visible_buckets(self, painter: QPainter, exposed: QRectF | None = None) -> Buckets | None:
        """Buckets of the level the whole view needs, only those within reach of the exposed rect."""
        n = len(self.series)
        if n == 0:
            return None
        view = self.viewRect()
        if view is None:
            return None
        first, last = int(math.floor(view.left())) - 1, int(math.ceil(view.right())) + 1
        scale = abs(painter.transform().m11())  # device pixels per bar
        pixels = max(1.0, (last - first) * scale)
        level = self.series.level_for(last - first + 1, pixels, self.per_pixel)
        first, last = _clip_to(first, last, exposed, 2 * (1 << level) + 1)
        buckets = self.series.buckets(first, last, level)
        self.drawn_buckets, self.drawn_width, self.drawn_pixels = len(buckets), buckets.width, pixels
        return buckets

    def _draw_lines(self, painter: QPainter, coords: np.ndarray, pen: QPen) -> None:
        if len(coords) == 0:
            return
        self._lines.resize(len(coords))
        self._lines.ndarray()[:] = coords
        painter.setPen(pen)
        painter.drawLines(*self._lines.drawargs())

    def _draw_rects(self, painter: QPainter, coords: np.ndarray, pen: QPen) -> None:
        if len(coords) == 0:
            return
        self._rects.resize(len(coords))
        self._rects.ndarray()[:] = coords
        painter.setPen(pen)
        painter.setBrush(pen.color())
        painter.drawRects(*self._rects.drawargs())


class PriceItem(_SeriesItem):
    """Price bars as candles, OHLC bars or a line, switchable with ``set_chart_type``."""

    def __init__(self, series: BarSeries, palette: ChartPalette, chart_type: str = CANDLE) -> None:
        super().__init__(series, palette)
        self.chart_type = chart_type

    def set_chart_type(self, chart_type: str) -> None:
        if chart_type not in CHART_TYPES:
            raise ValueError(f"chart type {chart_type!r} is not known; use one of {CHART_TYPES}")
        self.chart_type = chart_type
        self.update()

    def _data_rect(self) -> QRectF | None:
        s = self.series
        if len(s) == 0 or math.isnan(s.low_min):
            return None
        return QRectF(-1.0, s.low_min, len(s) + 1.0, s.high_max - s.low_min)

    def paint(self, painter: QPainter, *args) -> None:
        b = self.visible_buckets(painter, _exposed(args))
        if b is None or len(b) == 0:
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        w = float(b.width)
        center = b.x + (w - 1) / 2.0
        if self.chart_type == LINE:
            self._paint_line(painter, b, center)
            return
        up = b.close >= b.open
        for mask, pen in ((up, self._up_pen), (~up, self._down_pen)):
            xs = center[mask]
            wicks = np.column_stack([xs, b.low[mask], xs, b.high[mask]])
            self._draw_lines(painter, wicks, pen)
            half = 0.4 * w
            if self.chart_type == CANDLE:
                top, bottom = np.maximum(b.open[mask], b.close[mask]), np.minimum(b.open[mask], b.close[mask])
                bodies = np.column_stack([xs - half, bottom, np.full(xs.size, 2 * half), top - bottom])
                self._draw_rects(painter, bodies, pen)
            else:
                ticks = np.vstack([
                    np.column_stack([xs - half, b.open[mask], xs, b.open[mask]]),
                    np.column_stack([xs, b.close[mask], xs + half, b.close[mask]]),
                ])
                self._draw_lines(painter, ticks, pen)

    def _paint_line(self, painter: QPainter, b: Buckets, center: np.ndarray) -> None:
        pen = QPen(self.palette.color("foreground"), 0)
        pen.setCosmetic(True)
        segments = np.column_stack([center[:-1], b.close[:-1], center[1:], b.close[1:]])
        if b.width > 1:  # keep each bucket's range visible: spikes are not averaged away
            segments = np.vstack([segments, np.column_stack([center, b.low, center, b.high])])
        self._draw_lines(painter, segments, pen)


class VolumeItem(_SeriesItem):
    """Volume bars coloured by direction; a bucket shows its bars' mean volume, so zooming keeps the scale."""

    def _data_rect(self) -> QRectF | None:
        s = self.series
        if len(s) == 0:
            return None
        return QRectF(-1.0, 0.0, len(s) + 1.0, s.volume_max if s.volume_max > 0 else 0.0)  # NaN: no volume

    def paint(self, painter: QPainter, *args) -> None:
        b = self.visible_buckets(painter, _exposed(args))
        if b is None or len(b) == 0:
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        w = float(b.width)
        up = b.close >= b.open
        for mask, pen in ((up, self._up_pen), (~up, self._down_pen)):
            xs = b.x[mask] + (w - 1) / 2.0 - 0.4 * w
            rects = np.column_stack([xs, np.zeros(xs.size), np.full(xs.size, 0.8 * w), b.volume[mask] / w])
            self._draw_rects(painter, rects, pen)


def _muted(palette: ChartPalette, field: str) -> QColor:
    """Half-way between a colour and the background, opaque (alpha blending costs a frame budget)."""
    a, b = palette.color(field), palette.color("background")
    return QColor((a.red() + b.red()) // 2, (a.green() + b.green()) // 2, (a.blue() + b.blue()) // 2)


class StudyLine(pg.GraphicsObject):
    """An indicator drawn over the visible bars only, sampled every 2**k bars when zoomed out.

    Indicators are smooth, so sampling at the price item's bucket width keeps their shape;
    ``values`` is shared with the owner and may be changed in place by live updates, which
    repaint only the strip of the last samples (see the module docstring).
    """

    def __init__(self, values: np.ndarray, color: str, name: str, width: float = 1,
                 histogram: bool = False, palette: ChartPalette | None = None) -> None:
        super().__init__()
        self.name = name
        self.histogram = histogram
        self._pen = pg.mkPen(color, width=width)
        self._pen.setCosmetic(True)
        up, down = (_muted(palette, "up"), _muted(palette, "down")) if palette else (None, None)
        self._hist_pens = [pg.mkPen(c if c is not None else color, width=0) for c in (up, down)]
        for pen in self._hist_pens:
            pen.setCosmetic(True)
        self._lines = PrimitiveArray(QLineF, 4)
        self._rects = PrimitiveArray(QRectF, 4)
        self.drawn_step = 1
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption)  # paint gets the exposed rect
        self.set_values(values)

    def set_values(self, values: np.ndarray) -> None:
        self.prepareGeometryChange()
        self.values = values
        finite = values[np.isfinite(values)]
        self._lo = float(finite.min()) if finite.size else 0.0
        self._hi = float(finite.max()) if finite.size else 1.0
        if self.histogram:
            self._lo, self._hi = min(self._lo, 0.0), max(self._hi, 0.0)
        self._bounds = _with_headroom(-1.0, values.size, self._lo, self._hi)
        self.update()

    def extended(self, values: np.ndarray) -> None:
        """The owner appended a bar: same history, one more value (a view of the same buffer)."""
        self.values = values
        if values.size >= self._bounds.right():
            self.prepareGeometryChange()
            self._bounds = _with_headroom(-1.0, values.size, self._lo, self._hi)

    def tail_changed(self, value: float) -> None:
        """The last value changed: repaint the strip of the last samples (all of it if bounds grow)."""
        if math.isfinite(value) and not (self._lo <= value <= self._hi):
            self._lo, self._hi = min(self._lo, value), max(self._hi, value)
            if not (self._bounds.top() <= value <= self._bounds.bottom()):
                self.prepareGeometryChange()
                self._bounds = _with_headroom(-1.0, self.values.size, self._lo, self._hi)
                self.update()
                return
        n, step = self.values.size, self.drawn_step
        left, right = n - 1 - 2 * step - 1, n + 1
        self.update(QRectF(left, self._bounds.top(), right - left, self._bounds.height()))

    def visible_extent(self, first: int, last: int, step: int) -> tuple[float, float]:
        v = self.values[max(0, first) : max(0, last + 1) : max(1, step)]
        if not v.size:
            return math.nan, math.nan
        lo, hi = float(np.fmin.reduce(v)), float(np.fmax.reduce(v))  # NaN-skipping without a masked copy
        if math.isnan(lo):
            return math.nan, math.nan
        return (min(lo, 0.0), max(hi, 0.0)) if self.histogram else (lo, hi)

    def boundingRect(self) -> QRectF:
        return self._bounds

    def paint(self, painter: QPainter, *args) -> None:
        view = self.viewRect()
        n = self.values.size
        if view is None or n == 0:
            return
        first, last = max(0, int(view.left()) - 1), min(n - 1, int(math.ceil(view.right())) + 1)
        if last <= first:
            return
        pixels = max(1.0, (last - first) * abs(painter.transform().m11()))
        step = 1 << BarSeries.level_for(last - first + 1, pixels)
        self.drawn_step = step
        first, last = _clip_to(first, last, _exposed(args), 2 * step + 1)
        if last < first:
            return
        xs = np.arange(first - first % step, last + 1, step)
        ys = self.values[xs]
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, step == 1 and not self.histogram)
        if self.histogram:
            ok = np.isfinite(ys)
            xs, ys = xs[ok], ys[ok]
            rects = np.column_stack([xs - 0.4 * step, np.zeros(xs.size), np.full(xs.size, 0.8 * step), ys])
            for mask, pen in ((ys >= 0, self._hist_pens[0]), (ys < 0, self._hist_pens[1])):
                if mask.any():
                    self._rects.resize(int(mask.sum()))
                    self._rects.ndarray()[:] = rects[mask]
                    painter.setPen(pen)
                    painter.setBrush(pen.color())
                    painter.drawRects(*self._rects.drawargs())
            return
        seg = np.column_stack([xs[:-1], ys[:-1], xs[1:], ys[1:]]).astype(np.float64)
        seg = seg[np.isfinite(seg).all(axis=1)]
        if len(seg):
            self._lines.resize(len(seg))
            self._lines.ndarray()[:] = seg
            painter.setPen(self._pen)
            painter.drawLines(*self._lines.drawargs())
