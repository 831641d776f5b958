"""Bottom axis over bar indices that labels ticks with the bars' real UTC times (no weekend gaps).

Live bars must not redraw what stands: an appended bar re-renders the time axis only when a tick
falls on it (pyqtgraph re-lays out every label, ~1 ms), and the grid keeps its tick lines until the
view or pane size changes, so a repaint of a live bar's strip costs no tick computation.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg

_STEPS = (1, 2, 5, 10, 15, 20, 30, 50, 60, 100, 120, 200, 250, 500)


class TimeIndexAxis(pg.AxisItem):
    """x = bar index; ``times_ns`` maps an index to its bar's start time."""

    def __init__(self, orientation: str = "bottom", **kwargs) -> None:
        super().__init__(orientation, **kwargs)
        self.times_ns = np.empty(0, dtype=np.int64)
        self.bar_seconds = 86400
        self.tick_step = 0.0  # spacing of the last drawn ticks (0: none drawn yet)

    def set_times(self, times_ns: np.ndarray, bar_seconds: int) -> None:
        self.times_ns = times_ns
        self.bar_seconds = bar_seconds
        self.picture = None
        self.update()

    def extend(self, times_ns: np.ndarray) -> None:
        """Bars were appended (``times_ns`` starts with the old times): relabel only if a drawn tick is on a new bar."""
        old, self.times_ns = self.times_ns.size, times_ns
        step = self.tick_step
        if not step:
            self.picture = None
            self.update()
            return
        lo, hi = sorted(self.range)
        first_new_tick = math.ceil(old / step) * step
        if first_new_tick < times_ns.size and lo <= first_new_tick <= hi:
            self.picture = None
            self.update()

    def tickSpacing(self, minVal: float, maxVal: float, size: float):
        span = max(maxVal - minVal, 1.0)
        target = span / max(size / 110.0, 1.0)  # about one label per 110 px
        magnitude = 1
        while True:
            for s in _STEPS:
                if s * magnitude >= target:
                    self.tick_step = float(s * magnitude)
                    return [(self.tick_step, 0.0)]
            magnitude *= 1000

    def tickStrings(self, values, scale, spacing) -> list[str]:
        n = self.times_ns.size
        if n == 0:
            return ["" for _ in values]
        span_seconds = spacing * self.bar_seconds
        if self.bar_seconds >= 86400:
            fmt = "%Y" if span_seconds >= 86400 * 300 else "%Y-%m-%d"
        elif span_seconds >= 86400:
            fmt = "%m-%d"
        else:
            fmt = "%m-%d %H:%M"
        out = []
        for v in values:
            i = int(round(v))
            if 0 <= i < n:
                out.append(np.datetime64(int(self.times_ns[i]), "ns").astype("datetime64[s]").item().strftime(fmt))
            else:
                out.append("")
        return out


class CompactAxis(pg.AxisItem):
    """Value axis with short labels (12.5K, 3.1M) for volume."""

    def __init__(self, orientation: str = "right", **kwargs) -> None:
        super().__init__(orientation, **kwargs)
        self.enableAutoSIPrefix(False)

    def tickStrings(self, values, scale, spacing) -> list[str]:
        out = []
        for v in values:
            a = abs(v)
            for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
                if a >= limit:
                    out.append(f"{v / limit:.3g}{suffix}")
                    break
            else:
                out.append(f"{v:.3g}")
        return out


class GridLines(pg.GraphicsObject):
    """Grid at the ticks of a pane's axes, drawn as one batch of crisp 1 px lines.

    pyqtgraph's own axis grid costs ~10 ms per axis and frame on a 1600 px chart (it replays
    blended full-length lines through a QPicture); this keeps a pan frame within budget.
    """

    def __init__(self, x_axis: pg.AxisItem, y_axis: pg.AxisItem, color: str) -> None:
        super().__init__()
        self.x_axis, self.y_axis = x_axis, y_axis
        self._pen = pg.mkPen(color, width=0)
        self._pen.setCosmetic(True)
        self.setZValue(-10)
        self._key: tuple | None = None  # view rect and pixel sizes the cached lines are for
        self._cached: list = []

    def boundingRect(self):
        view = self.viewRect()
        return view if view is not None else pg.QtCore.QRectF()

    def paint(self, painter, *args) -> None:
        view = self.viewRect()
        if view is None or view.width() <= 0 or view.height() <= 0:
            return
        transform = painter.transform()
        sizes = (abs(view.width() * transform.m11()), abs(view.height() * transform.m22()))
        key = (view.left(), view.top(), view.width(), view.height(), *sizes)
        if key != self._key:
            self._key, self._cached = key, self._tick_lines(view, sizes)
        if self._cached:
            painter.setRenderHint(painter.RenderHint.Antialiasing, False)
            painter.setPen(self._pen)
            painter.drawLines(self._cached)

    def _tick_lines(self, view, sizes: tuple[float, float]) -> list:
        lines = []
        for axis, lo, hi, size, vertical in (
            (self.x_axis, view.left(), view.right(), sizes[0], True),
            (self.y_axis, view.top(), view.bottom(), sizes[1], False),
        ):
            if axis is None or size < 10:
                continue
            for v in _major_ticks(axis, lo, hi, size):
                lines.append((v, view.top(), v, view.bottom()) if vertical else (view.left(), v, view.right(), v))
        return [pg.QtCore.QLineF(*line) for line in lines]


def _major_ticks(axis: pg.AxisItem, lo: float, hi: float, size: float) -> np.ndarray:
    """The axis's first tick level, as ``AxisItem.tickValues`` computes it without its de-duplication pass."""
    lo, hi = sorted((lo * axis.scale, hi * axis.scale))
    levels = axis.tickSpacing(lo, hi, size)
    if not levels:
        return np.empty(0)
    spacing, offset = levels[0]
    start = (math.ceil((lo - offset) / spacing) * spacing) + offset
    return (np.arange(int((hi - start) / spacing) + 1) * spacing + start) / axis.scale

    def viewRangeChanged(self) -> None:
        self.prepareGeometryChange()
