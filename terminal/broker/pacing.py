"""IB historical-data pacing: at most N requests in a sliding window, and no identical request too soon."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Hashable


class PacingLimiter:
    """``await limiter.acquire(key)`` waits until a request may go out (IB: 60 per 10 min, 15 s apart if identical)."""

    def __init__(self, max_requests: int = 60, window_seconds: float = 600.0, identical_gap_seconds: float = 15.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_requests = max_requests
        self.window = window_seconds
        self.identical_gap = identical_gap_seconds
        self._clock = clock
        self._sent: deque[float] = deque()
        self._last_by_key: dict[Hashable, float] = {}

    def delay(self, key: Hashable = None) -> float:
        """Seconds to wait before a request with ``key`` may be sent."""
        now = self._clock()
        while self._sent and now - self._sent[0] >= self.window:
            self._sent.popleft()
        wait = 0.0
        if len(self._sent) >= self.max_requests:
            wait = self._sent[0] + self.window - now
        last = self._last_by_key.get(key)
        if key is not None and last is not None:
            wait = max(wait, last + self.identical_gap - now)
        return max(0.0, wait)

    def record(self, key: Hashable = None) -> None:
        now = self._clock()
        self._sent.append(now)
        if key is not None:
            self._last_by_key[key] = now

    async def acquire(self, key: Hashable = None) -> float:
        """Wait as long as pacing requires, then record the request; returns the seconds waited."""
        waited = 0.0
        while (delay := self.delay(key)) > 0:
            await asyncio.sleep(delay)
            waited += delay
        self.record(key)
        return waited
