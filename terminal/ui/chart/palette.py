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
    studies: tuple[str, ...]  # colours for indicator lines, in order

    def color(self, field: str, alpha: int = 255) -> QColor:
        c = QColor(getattr(self, field))
        c.setAlpha(alpha)
        return c

    def study(self, i: int) -> str:
        return self.studies[i % len(self.studies)]


DARK = ChartPalette("dark", background="#12151a", foreground="#c7ced8", grid="#2a3038", up="#26a69a",
                    down="#ef5350", crosshair="#8a94a3", order_line="#f0b429", drawing="#4fc3f7",
                    alert="#ff9800", studies=("#f0b429", "#4fc3f7", "#ba68c8", "#81c784", "#ff8a65"))
LIGHT = ChartPalette("light", background="#ffffff", foreground="#1f2328", grid="#e3e6ea", up="#0f8a7e",
                     down="#d93c3a", crosshair="#6b7280", order_line="#b7791f", drawing="#1f6feb",
                     alert="#e65100", studies=("#b7791f", "#1f6feb", "#8e24aa", "#2e7d32", "#d84315"))
PALETTES = {"dark": DARK, "light": LIGHT}
