"""Numpy-backed OHLCV series for the chart: O(1) live updates and a min/max pyramid for level of detail.

Level k of the pyramid holds buckets of 2**k consecutive bars (open of the first, close of the
last, high max, low min, volume summed). Buckets are aligned to multiples of 2**k from bar 0, so
panning never changes how bars are grouped, and a live update touches one bucket per level.
No library does this incremental aggregation, hence the hand-written code.

A live bar must cost the same on a 1M-bar series as on a 100-bar one: every array (times, bars,
each pyramid level) keeps spare capacity and doubles when full, so an append writes one column
per level and copies history only at a doubling (amortized O(1)); the all-time extremes the
items' bounds need are kept up to date rather than recomputed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from terminal.domain import Bar, BarSize, ValidationError

OPEN, HIGH, LOW, CLOSE, VOLUME = range(5)
_FIELDS = ("open", "high", "low", "close", "volume")


class _Columns:
    """A (5, capacity) float array that grows by doubling, so appends are amortized O(1)."""

    def __init__(self, values: np.ndarray) -> None:
        n = values.shape[1]
        self.size = n
        self.data = np.empty((5, max(16, n + n // 4)), dtype=np.float64)
        self.data[:, :n] = values

    def view(self) -> np.ndarray:
        return self.data[:, : self.size]

    def append(self, column: np.ndarray) -> None:
        if self.size == self.data.shape[1]:
            grown = np.empty((5, self.data.shape[1] * 2), dtype=np.float64)
            grown[:, : self.size] = self.data[:, : self.size]
            self.data = grown
        self.data[:, self.size] = column
        self.size += 1


def _combine(block: np.ndarray) -> np.ndarray:
    """One bucket from a (5, m) block of consecutive bars or buckets."""
    return np.array([block[OPEN, 0], block[HIGH].max(), block[LOW].min(), block[CLOSE, -1], block[VOLUME].sum()])


def _pairwise(values: np.ndarray) -> np.ndarray:
    """Next pyramid level: combine neighbours (0,1), (2,3)…; an odd last element stands alone."""
    n = values.shape[1]
    starts = np.arange(0, n, 2)
    out = np.empty((5, starts.size))
    out[OPEN] = values[OPEN, starts]
    out[HIGH] = np.maximum.reduceat(values[HIGH], starts)
    out[LOW] = np.minimum.reduceat(values[LOW], starts)
    out[CLOSE] = values[CLOSE, np.minimum(starts + 1, n - 1)]
    out[VOLUME] = np.add.reduceat(values[VOLUME], starts)
    return out


@dataclass(frozen=True)
class Buckets:
    """Bars (level 0) or aggregated buckets in a range, ready to draw: x is the bucket's first bar index."""

    x: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    width: int  # bars per bucket

    def __len__(self) -> int:
        return int(self.x.size)


class BarSeries:
    """OHLCV bars with UTC times (int64 ns since epoch) and a lazily built LOD pyramid."""

    def __init__(self, times_ns: np.ndarray, ohlcv: np.ndarray, bar_size: BarSize = BarSize.DAY_1) -> None:
        times_ns = np.asarray(times_ns, dtype=np.int64)
        ohlcv = np.asarray(ohlcv, dtype=np.float64)
        if ohlcv.ndim != 2 or ohlcv.shape[0] != 5 or ohlcv.shape[1] != times_ns.size:
            raise ValidationError(
                f"ohlcv shape {ohlcv.shape} does not match {times_ns.size} times; expected (5, {times_ns.size})"
            )
        if times_ns.size > 1 and np.any(np.diff(times_ns) <= 0):
            bad = int(np.flatnonzero(np.diff(times_ns) <= 0)[0]) + 1
            raise ValidationError(f"bar times must increase strictly; bar {bad} is not after bar {bad - 1}")
        self.bar_size = bar_size
        self._times = np.empty(max(16, times_ns.size + times_ns.size // 4), dtype=np.int64)
        self._times[: times_ns.size] = times_ns
        self._levels: list[_Columns] = [_Columns(ohlcv)]
        self.high_max = float(ohlcv[HIGH].max()) if times_ns.size else math.nan
        self.low_min = float(ohlcv[LOW].min()) if times_ns.size else math.nan
        self.volume_max = float(np.fmax.reduce(ohlcv[VOLUME])) if times_ns.size else math.nan  # NaN volumes skipped

    # construction ---------------------------------------------------------------------------
    @classmethod
    def from_frame(cls, frame: pd.DataFrame, bar_size: BarSize | None = None) -> BarSeries:
        """From a DataFrame with a UTC DatetimeIndex and open/high/low/close/volume columns."""
        missing = [f for f in _FIELDS if f not in frame.columns]
        if missing:
            raise ValidationError(f"bar frame lacks columns {missing}; needs {list(_FIELDS)}")
        index = frame.index
        if not isinstance(index, pd.DatetimeIndex):
            raise ValidationError(f"bar frame index is {type(index).__name__}; pass a UTC DatetimeIndex")
        if index.tz is None:
            raise ValidationError("bar frame index has no time zone; localize it to UTC")
        times = index.tz_convert("UTC").as_unit("ns").asi8
        ohlcv = np.vstack([frame[f].to_numpy(dtype=np.float64) for f in _FIELDS])
        return cls(times, ohlcv, bar_size or infer_bar_size(times))

    def to_frame(self) -> pd.DataFrame:
        index = pd.DatetimeIndex(pd.to_datetime(self.times, unit="ns", utc=True))
        return pd.DataFrame({f: self.column(i).copy() for i, f in enumerate(_FIELDS)}, index=index)

    # access ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._levels[0].size

    @property
    def capacity(self) -> int:
        """Bars the arrays hold before the next doubling (studies size their buffers to it)."""
        return int(self._levels[0].data.shape[1])

    @property
    def times(self) -> np.ndarray:
        return self._times[: len(self)]

    def column(self, field: int) -> np.ndarray:
        return self._levels[0].view()[field]

    @property
    def close(self) -> np.ndarray:
        return self.column(CLOSE)

    def bar_at(self, index: int) -> tuple[datetime, float, float, float, float, float]:
        v = self._levels[0].view()[:, index]
        t = datetime.fromtimestamp(int(self._times[index]) / 1e9, tz=UTC)
        return t, float(v[0]), float(v[1]), float(v[2]), float(v[3]), float(v[4])

    def index_of(self, when: datetime) -> int:
        """Index of the bar that contains ``when`` (the last bar starting at or before it), clipped."""
        ns = int(pd.Timestamp(when).tz_convert("UTC").value)
        i = int(np.searchsorted(self.times, ns, side="right")) - 1
        return min(max(i, 0), len(self) - 1)

    # live updates ---------------------------------------------------------------------------
    def update_last(self, bar: Bar) -> None:
        """Replace the last bar (same start time); touches one bucket per pyramid level."""
        n = len(self)
        if n == 0:
            raise ValidationError("cannot update the last bar of an empty series; append a bar first")
        t = _ns(bar.time)
        if t != int(self._times[n - 1]):
            raise ValidationError(
                f"bar time {bar.time.isoformat()} is not the last bar's time; use append for a new bar"
            )
        self._levels[0].data[:, n - 1] = (bar.open, bar.high, bar.low, bar.close, bar.volume)
        self._refresh_tail(new=False)

    def append(self, bar: Bar) -> None:
        """Add a bar after the last one; O(1) amortized (one bucket per level)."""
        n = len(self)
        t = _ns(bar.time)
        if n and t <= int(self._times[n - 1]):
            raise ValidationError(f"appended bar time {bar.time.isoformat()} is not after the last bar")
        if n == self._times.size:  # double, like _Columns: amortized O(1)
            self._times = np.concatenate([self._times, np.empty_like(self._times)])
        self._times[n] = t
        self._levels[0].append(np.array([bar.open, bar.high, bar.low, bar.close, bar.volume]))
        self._refresh_tail(new=True)

    def _refresh_tail(self, new: bool) -> None:
        base = self._levels[0].view()
        last = base[:, -1]
        self.high_max = float(last[HIGH]) if math.isnan(self.high_max) else max(self.high_max, float(last[HIGH]))
        self.low_min = float(last[LOW]) if math.isnan(self.low_min) else min(self.low_min, float(last[LOW]))
        v = float(last[VOLUME])
        self.volume_max = v if math.isnan(self.volume_max) else max(self.volume_max, v)  # max() skips a NaN v
        n = base.shape[1]
        for k in range(1, len(self._levels)):
            below = self._levels[k - 1].view()
            start = ((n - 1) >> k) << k  # first bar of the bucket holding the last bar
            lo = start >> (k - 1)
            bucket = _combine(below[:, lo:])
            level = self._levels[k]
            if level.size == (start >> k):
                level.append(bucket)
            else:
                level.data[:, level.size - 1] = bucket

    # level of detail ------------------------------------------------------------------------
    def _level(self, k: int) -> np.ndarray:
        while len(self._levels) <= k:
            self._levels.append(_Columns(_pairwise(self._levels[-1].view())))
        return self._levels[k].view()

    @staticmethod
    def level_for(bars: float, pixels: float, per_pixel: float = 2.0) -> int:
        """Smallest pyramid level whose buckets make at most ``per_pixel`` buckets per pixel."""
        if pixels <= 0 or bars <= pixels * per_pixel:
            return 0
        return int(math.ceil(math.log2(bars / (pixels * per_pixel))))

    def buckets(self, first: int, last: int, level: int) -> Buckets:
        """Buckets of level ``level`` covering bars ``first..last`` (inclusive, clipped)."""
        n = len(self)
        first, last = max(0, first), min(n - 1, last)
        if n == 0 or last < first:
            empty = np.empty(0)
            return Buckets(empty, empty, empty, empty, empty, empty, 1 << level)
        data = self._level(level)
        a, b = first >> level, (last >> level) + 1
        block = data[:, a:b]
        x = np.arange(a, b, dtype=np.float64) * (1 << level)
        return Buckets(x, block[OPEN], block[HIGH], block[LOW], block[CLOSE], block[VOLUME], 1 << level)

    def visible_extent(self, first: int, last: int, pixels: float) -> tuple[float, float, float]:
        """(low min, high max, max mean volume per bar of the drawn buckets) over bars first..last."""
        level = self.level_for(last - first + 1, pixels)
        b = self.buckets(first, last, level)
        if len(b) == 0:
            return math.nan, math.nan, math.nan
        return float(b.low.min()), float(b.high.max()), float(b.volume.max()) / b.width

    # timeframe ------------------------------------------------------------------------------
    def resample(self, target: BarSize) -> BarSeries:
        """Aggregate to a coarser bar size in numpy (buckets aligned to UTC epoch multiples)."""
        if target.seconds < self.bar_size.seconds:
            raise ValidationError(f"cannot make {target.short} bars from coarser {self.bar_size.short} bars")
        if target == self.bar_size or len(self) == 0:
            return BarSeries(self.times.copy(), self._levels[0].view().copy(), target)
        period = np.int64(target.seconds) * np.int64(1_000_000_000)
        bucket = self.times // period
        starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
        ends = np.r_[starts[1:], len(self)] - 1
        v = self._levels[0].view()
        out = np.vstack([
            v[OPEN, starts],
            np.maximum.reduceat(v[HIGH], starts),
            np.minimum.reduceat(v[LOW], starts),
            v[CLOSE, ends],
            np.add.reduceat(v[VOLUME], starts),
        ])
        return BarSeries(bucket[starts] * period, out, target)


def _ns(when: datetime) -> int:
    if when.tzinfo is None:
        raise ValidationError(f"bar time {when.isoformat()} has no time zone; pass a UTC-aware datetime")
    return int(pd.Timestamp(when).tz_convert("UTC").value)


def infer_bar_size(times_ns: np.ndarray) -> BarSize:
    """The BarSize nearest to the most common spacing of the times (1D when unknown)."""
    if times_ns.size < 2:
        return BarSize.DAY_1
    step = float(np.median(np.diff(times_ns[: min(times_ns.size, 5000)]))) / 1e9
    for size in BarSize:
        if step <= size.seconds * 1.5:
            return size
    return BarSize.DAY_1
