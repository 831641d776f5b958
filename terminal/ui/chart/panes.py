"""The view box of chart panes: x-only mouse zoom/pan, drawing clicks and the price right-click menu."""

from __future__ import annotations

from collections.abc import Callable

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMenu


class ChartViewBox(pg.ViewBox):
    """Wheel zooms and drag pans the bar axis only; the y range is fitted by the widget."""

    def __init__(self, on_click: Callable[[float, float], bool] | None = None,
                 menu_for: Callable[[float], QMenu] | None = None) -> None:
        super().__init__(enableMenu=False)
        self.setMouseEnabled(x=True, y=False)
        self._on_click = on_click
        self._menu_for = menu_for
        self._menu: QMenu | None = None

    def mouseClickEvent(self, ev) -> None:
        if ev.button() == Qt.MouseButton.LeftButton and self._on_click is not None:
            p = self.mapSceneToView(ev.scenePos())
            if self._on_click(p.x(), p.y()):
                ev.accept()
                return
        if ev.button() == Qt.MouseButton.RightButton and self._menu_for is not None:
            ev.accept()
            price = self.mapSceneToView(ev.scenePos()).y()
            self._menu = self._menu_for(price)
            self._menu.popup(ev.screenPos().toPoint())
            return
        super().mouseClickEvent(ev)
