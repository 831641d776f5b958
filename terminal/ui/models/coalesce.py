"""Display-rate coalescing for item models: record changes as they come, repaint them at most N times a second."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from PySide6.QtCore import QAbstractItemModel, QObject, QTimer

DISPLAY_HZ = 20.0


class FlushTimer:
    """Calls ``flush`` once, one interval after the first ``schedule()`` since the last flush.

    A single-shot QTimer (not ``asyncio.sleep``: under qasync a task may be stepped outside a running loop)
    started only when something changed, so an idle view never wakes up and two flushes are always at least an
    interval apart however fast changes arrive."""

    def __init__(self, parent: QObject, flush: Callable[[], None], refresh_hz: float = DISPLAY_HZ) -> None:
        self._timer = QTimer(parent)
        self._timer.setSingleShot(True)
        self._timer.setInterval(max(1, round(1000 / refresh_hz)))
        self._timer.timeout.connect(flush)

    @property
    def interval_ms(self) -> int:
        return self._timer.interval()

    @property
    def pending(self) -> bool:
        return self._timer.isActive()

    def schedule(self) -> None:
        """Ask for a flush; cheap, so it can be called for every event."""
        if not self._timer.isActive():
            self._timer.start()

    def cancel(self) -> None:
        self._timer.stop()


def emit_changed(model: QAbstractItemModel, cells: Iterable[tuple[int, int, int]]) -> int:
    """Emit ``dataChanged`` for ``(row, first column, last column)`` spans: one signal per run of adjacent rows
    with the same columns, so the view's work follows the number of changes, not the size of the table.
    Returns the number of signals emitted."""
    spans = sorted({(first, last, row) for row, first, last in cells})  # runs of a column span are adjacent
    emitted = 0
    n = 0
    while n < len(spans):
        first, last, row = spans[n]
        end = row
        n += 1
        while n < len(spans) and spans[n] == (first, last, end + 1):
            end += 1
            n += 1
        model.dataChanged.emit(model.index(row, first), model.index(end, last))
        emitted += 1
    return emitted
