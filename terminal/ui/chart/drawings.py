"""User drawings on the price pane: horizontal lines and trend lines, saved per symbol as plain dicts.

Points are stored as (UTC time, price), not bar indices, so a drawing stays on the same bars
after a timeframe switch or a history reload.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd
import pyqtgraph as pg
from PySide6.QtCore import QObject, Signal

from terminal.domain import ValidationError
from terminal.ui.chart.data import BarSeries
from terminal.ui.chart.palette import ChartPalette

HLINE, TREND = "hline", "trend"


@dataclass
class Drawing:
    """One drawing: ``kind`` hline (one point, time ignored) or trend (two points)."""

    kind: str
    points: list[tuple[datetime, float]] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "points": [[t.isoformat(), p] for t, p in self.points]}

    @classmethod
    def from_dict(cls, data: dict) -> Drawing:
        kind = data.get("kind")
        if kind not in (HLINE, TREND):
            raise ValidationError(f"drawing kind {kind!r} is not known; use {HLINE!r} or {TREND!r}")
        points = [(pd.Timestamp(t).to_pydatetime(), float(p)) for t, p in data.get("points", [])]
        need = 1 if kind == HLINE else 2
        if len(points) != need:
            raise ValidationError(f"{kind} drawing has {len(points)} points; it needs {need}")
        if any(t.tzinfo is None for t, _ in points):
            raise ValidationError("drawing point times must carry a time zone (UTC)")
        return cls(kind, points)


class DrawingsLayer(QObject):
    """Draws, places and serializes the drawings of one price plot; ``tool`` arms the next clicks."""

    drawings_changed = Signal()

    def __init__(self, plot: pg.PlotItem, palette: ChartPalette) -> None:
        super().__init__()
        self.plot = plot
        self.palette = palette
        self.series: BarSeries | None = None
        self.drawings: list[Drawing] = []
        self._items: list[pg.GraphicsObject] = []
        self.tool: str | None = None
        self._pending: tuple[datetime, float] | None = None

    def set_series(self, series: BarSeries) -> None:
        self.series = series
        self._redraw()

    def add(self, drawing: Drawing) -> None:
        self.drawings.append(drawing)
        self._redraw()
        self.drawings_changed.emit()

    def clear(self) -> None:
        self.drawings = []
        self._redraw()
        self.drawings_changed.emit()

    def to_list(self) -> list[dict]:
        return [d.to_dict() for d in self.drawings]

    def load(self, data: list[dict]) -> None:
        self.drawings = [Drawing.from_dict(d) for d in data]
        self._redraw()

    # interactive tools -----------------------------------------------------------------------
    def arm(self, tool: str | None) -> None:
        if tool not in (None, HLINE, TREND):
            raise ValidationError(f"drawing tool {tool!r} is not known; use {HLINE!r} or {TREND!r}")
        self.tool, self._pending = tool, None

    def click(self, bar_index: float, price: float) -> bool:
        """Feed a click on the price pane; returns True if the active tool used it."""
        if self.tool is None or self.series is None or len(self.series) == 0:
            return False
        i = min(max(int(round(bar_index)), 0), len(self.series) - 1)
        point = (self.series.bar_at(i)[0], float(price))
        if self.tool == HLINE:
            self.add(Drawing(HLINE, [point]))
            self.tool = None
        elif self._pending is None:
            self._pending = point
        else:
            self.add(Drawing(TREND, [self._pending, point]))
            self.tool, self._pending = None, None
        return True

    # drawing ---------------------------------------------------------------------------------
    def _redraw(self) -> None:
        for item in self._items:
            self.plot.removeItem(item)
        self._items = []
        if self.series is None or len(self.series) == 0:
            return
        pen = pg.mkPen(self.palette.drawing, width=1.5)
        for d in self.drawings:
            if d.kind == HLINE:
                item = pg.InfiniteLine(pos=d.points[0][1], angle=0, pen=pen, movable=False)
            else:
                xs = [self.series.index_of(t) for t, _ in d.points]
                item = pg.PlotCurveItem(xs, [p for _, p in d.points], pen=pen)
            item.setZValue(25)
            self.plot.addItem(item, ignoreBounds=True)
            self._items.append(item)
