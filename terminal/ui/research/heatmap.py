"""Monthly returns as a heatmap plot: years down, months across, a diverging colour scale centred on zero,
the return written in each cell and the year's compounded return in the last column."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyqtgraph as pg
from PySide6.QtGui import QColor, QFont

from terminal.analytics import stats as statistics

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def heat_colors(values: np.ndarray, up: str, down: str, neutral: str, scale: float) -> np.ndarray:
    """RGBA (rows × cols × 4, uint8) for the returns: ``neutral`` at 0, full ``up``/``down`` at ±``scale``;
    missing months are transparent."""
    out = np.zeros((*values.shape, 4), dtype=np.uint8)
    base = np.array(QColor(neutral).getRgb()[:3], dtype=float)
    pos, neg = (np.array(QColor(c).getRgb()[:3], dtype=float) for c in (up, down))
    for (r, c), v in np.ndenumerate(values):
        if not math.isfinite(v):
            continue
        t = min(1.0, abs(v) / scale) if scale > 0 else 0.0
        target = pos if v > 0 else neg
        out[r, c, :3] = np.round(base + (target - base) * (0.2 + 0.8 * t if v else 0.0)).astype(np.uint8)
        out[r, c, 3] = 255
    return out


class MonthlyHeatmap(pg.PlotWidget):
    def __init__(self, theme, parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent, background=theme.base)
        self.theme = theme
        self.table = pd.DataFrame()
        self.values = np.zeros((0, 13))
        self.setMenuEnabled(False)
        self.setMouseEnabled(False, False)
        self.hideButtons()
        self.getPlotItem().invertY(True)
        self.getPlotItem().showGrid(False, False)
        self._image = pg.ImageItem(axisOrder="row-major")
        self.addItem(self._image)
        self._labels: list[pg.TextItem] = []
        self.getAxis("bottom").setTicks([[(i + 0.5, m) for i, m in enumerate((*MONTHS, "Year"))]])

    def set_equity(self, equity: pd.Series) -> None:
        for label in self._labels:
            self.removeItem(label)
        self._labels = []
        if equity.empty or len(equity) < 2:
            self.table = pd.DataFrame()
            self.values = np.zeros((0, 13))
            self._image.clear()
            return
        self.table = statistics.monthly_returns(equity).reindex(columns=range(1, 13))
        years = [int(y) for y in self.table.index]
        months = self.table.to_numpy(dtype=float)
        yearly = np.array([np.prod(1 + row[np.isfinite(row)]) - 1 if np.isfinite(row).any() else np.nan
                           for row in months])
        self.values = np.column_stack([months, yearly])
        finite = np.abs(months[np.isfinite(months)])
        scale = float(np.percentile(finite, 90)) if finite.size else 0.05
        colors = heat_colors(self.values, self.theme.up, self.theme.down, self.theme.base, max(scale, 1e-4))
        colors[:, 12, 3] = np.where(np.isfinite(yearly), 255, 0)  # the year column: same scale, own column
        self._image.setImage(colors, levels=None)
        self._image.setRect(0, 0, 13, len(years))
        font = QFont()
        font.setPointSizeF(8)
        for (r, c), v in np.ndenumerate(self.values):
            if not math.isfinite(v):
                continue
            label = pg.TextItem(f"{v * 100:.1f}", color=self.theme.text, anchor=(0.5, 0.5))
            label.setFont(font)
            label.setPos(c + 0.5, r + 0.5)
            self.addItem(label)
            self._labels.append(label)
        self.getAxis("left").setTicks([[(r + 0.5, str(y)) for r, y in enumerate(years)]])
        self.setXRange(0, 13, padding=0.01)
        self.setYRange(0, len(years), padding=0.02)
