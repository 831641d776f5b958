"""Fast price chart (pyqtgraph): level-of-detail items, indicator panes, order lines and drawings."""

from terminal.ui.chart.data import BarSeries
from terminal.ui.chart.drawings import Drawing
from terminal.ui.chart.marks import TradeMark
from terminal.ui.chart.palette import DARK, LIGHT, ChartPalette
from terminal.ui.chart.widget import ChartWidget

__all__ = ["DARK", "LIGHT", "BarSeries", "ChartPalette", "ChartWidget", "Drawing", "TradeMark"]
