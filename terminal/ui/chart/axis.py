"""Bottom axis over bar indices that labels ticks with the bars' real UTC times (no weekend gaps)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

_STEPS = (1, 2, 5, 10, 15, 20, 30, 50, 60, 100, 120, 200, 250, 500)


class TimeIndexAxis(pg.AxisItem):
    """x = bar index; ``times_ns`` maps an index to its bar's start time."""

    def __init__(self, orientation: str = "bottom", **kwargs) -> None:
        super().__init__(orientation, **kwargs)
        self.times_ns = np.empty(0, dtype=np.int64)
        self.bar_seconds = 86400

    def set_times(self, times_ns: np.ndarray, bar_seconds: int) -> None:
        self.times_ns = times_ns
        self.bar_seconds = bar_seconds
        self.picture = None
        self.update()

    def tickSpacing(self, minVal: float, maxVal: float, size: float):
        span = max(maxVal - minVal, 1.0)
        target = span / max(size / 110.0, 1.0)  # about one label per 110 px
        magnitude = 1
        while True:
            for s in _STEPS:
                if s * magnitude >= target:
                    return [(float(s * magnitude), 0.0)]
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

    def boundingRect(self):
        view = self.viewRect()
        return view if view is not None else pg.QtCore.QRectF()

    def paint(self, painter, *args) -> None:
        view = self.viewRect()
        if view is None or view.width() <= 0 or view.height() <= 0:
            return
        lines = []
        transform = painter.transform()
        for axis, lo, hi, size, vertical in (
            (self.x_axis, view.left(), view.right(), abs(view.width() * transform.m11()), True),
            (self.y_axis, view.top(), view.bottom(), abs(view.height() * transform.m22()), False),
        ):
            if axis is None or size < 10:
                continue
            levels = axis.tickValues(lo, hi, size)
            if not levels:
                continue
            for v in levels[0][1]:
                lines.append((v, view.top(), v, view.bottom()) if vertical else (view.left(), v, view.right(), v))
        if lines:
            painter.setRenderHint(painter.RenderHint.Antialiasing, False)
            painter.setPen(self._pen)
            painter.drawLines([pg.QtCore.QLineF(*line) for line in lines])

    def viewRangeChanged(self) -> None:
        self.prepareGeometryChange()
