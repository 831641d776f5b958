"""Chart colours for the dark and light themes, passed to ChartWidget as one small object."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QColor


@dataclass(frozen=True)
class ChartPalette:
    name: str
    background: str
    foreground: str
    grid: str
    up: str
    down: str
    crosshair: str
    order_line: str
    drawing: str
    alert: str
    studies: tuple[tuple[str, str], ...]  # ("SMA.sma", colour) for every indicator line

    def color(self, field: str, alpha: int = 255) -> QColor:
        c = QColor(getattr(self, field))
        c.setAlpha(alpha)
        return c

    def line_color(self, kind: str, line: str) -> str:
        """Colour of one indicator line, e.g. ``line_color("MACD", "signal")``."""
        return dict(self.studies).get(f"{kind}.{line}", self.foreground)


_DARK_STUDIES = (("SMA.sma", "#f0b429"), ("EMA.ema", "#81c784"), ("Bollinger.upper", "#7986cb"),
                 ("Bollinger.middle", "#7986cb"), ("Bollinger.lower", "#7986cb"), ("VWAP.vwap", "#ff8a65"),
                 ("RSI.rsi", "#ba68c8"), ("MACD.macd", "#4fc3f7"), ("MACD.signal", "#f0b429"))
_LIGHT_STUDIES = (("SMA.sma", "#b7791f"), ("EMA.ema", "#2e7d32"), ("Bollinger.upper", "#3949ab"),
                  ("Bollinger.middle", "#3949ab"), ("Bollinger.lower", "#3949ab"), ("VWAP.vwap", "#d84315"),
                  ("RSI.rsi", "#8e24aa"), ("MACD.macd", "#1f6feb"), ("MACD.signal", "#b7791f"))


DARK = ChartPalette("dark", background="#12151a", foreground="#c7ced8", grid="#2a3038", up="#26a69a",
                    down="#ef5350", crosshair="#8a94a3", order_line="#f0b429", drawing="#eceff1",
                    alert="#ff9800", studies=_DARK_STUDIES)
LIGHT = ChartPalette("light", background="#ffffff", foreground="#1f2328", grid="#e3e6ea", up="#0f8a7e",
                     down="#d93c3a", crosshair="#6b7280", order_line="#b7791f", drawing="#37474f",
                     alert="#e65100", studies=_LIGHT_STUDIES)
PALETTES = {"dark": DARK, "light": LIGHT}
