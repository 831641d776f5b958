"""Qt paint probes shared by GUI tests and benchmarks."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject


class PaintRegions(QObject):
    """Event filter recording the width of every paint event's region on the widget it is installed on."""

    def __init__(self) -> None:
        super().__init__()
        self.widths: list[int] = []

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt override)
        if event.type() == QEvent.Type.Paint:
            self.widths.append(event.region().boundingRect().width())
        return False
