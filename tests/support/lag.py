"""How late a 10 ms QTimer fires: the wait an event on the Qt loop sees (the benchmarks' loop-lag figure)."""

from __future__ import annotations

import time


class TimerLag:
    """Records, in ms, how much later than due each tick of a repeating QTimer arrives; ``lags`` holds them."""

    def __init__(self, interval_ms: int = 10) -> None:
        from PySide6.QtCore import QTimer

        self.interval = interval_ms / 1000
        self.lags: list[float] = []
        self._due = time.perf_counter() + self.interval
        self._timer = QTimer()
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.lags.append(max(0.0, now - self._due) * 1000)
        self._due = now + self.interval

    def start(self) -> TimerLag:
        self._due = time.perf_counter() + self.interval
        self._timer.start()
        return self

    def stop(self) -> None:
        self._timer.stop()
