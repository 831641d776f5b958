"""What the store holds of a bar series against the exchange calendar: first, last, count, coverage and gaps.

A gap is a run of bars the exchange's calendar says should exist and the store lacks; weekends,
holidays and (for intraday bars) the hours outside the session are not gaps. The calendars come
from ``exchange_calendars`` (holidays and early closes of each exchange are its business, not
ours): XNYS for US stocks, ETFs and indices, CMES for futures (nearly round the clock, shut at the
weekend), 24/5 for FX. Intraday bars count the regular session only, unless the series holds bars
outside it: then it is an extended-hours series and 04:00-20:00 New York counts, as IB serves it.

Everything here is arithmetic on epoch-second arrays (numpy); no I/O, no loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from terminal.domain import BarSize, Instrument, SecType

CALENDARS = {SecType.STOCK: "XNYS", SecType.INDEX: "XNYS", SecType.FUTURE: "CMES", SecType.FOREX: "24/5"}
EXTENDED_HOURS = ("04:00", "20:00")  # US stocks outside the regular session, New York time (IB's useRTH=0)
_CALENDAR_START = "1990-01-01"
_DAY = 86400


@lru_cache(maxsize=8)
def _calendar(name: str) -> Any:
    import exchange_calendars

    return exchange_calendars.get_calendar(name, start=_CALENDAR_START)


def calendar_name(instrument: Instrument) -> str:
    """The exchange calendar an instrument trades on (XNYS, CMES, 24/5)."""
    return CALENDARS.get(instrument.sec_type, "XNYS")


@dataclass(frozen=True, slots=True)
class Gap:
    """Missing bars from ``start`` to ``end`` (both bar open times, UTC) inside the exchange's sessions."""

    start: datetime
    end: datetime
    bars: int
    bar_size: BarSize

    @property
    def until(self) -> datetime:
        """The end of the last missing bar: fetch [start, until)."""
        return self.end + self.bar_size.delta()

    def describe(self) -> str:
        fmt = "%Y-%m-%d" if self.bar_size is BarSize.DAY_1 else "%Y-%m-%d %H:%M"
        span = f"{self.start:{fmt}}" if self.bars == 1 else f"{self.start:{fmt}} .. {self.end:{fmt}}"
        return f"{span} ({self.bars} bar{'s' if self.bars != 1 else ''})"


@dataclass(frozen=True, slots=True)
class Coverage:
    """A stored series measured against its calendar over [start, end] (by default its own first..last)."""

    instrument: Instrument
    bar_size: BarSize
    calendar: str
    extended_hours: bool
    start: datetime | None
    end: datetime | None
    first: datetime | None  # oldest and newest stored bar (in the whole store, not only the range)
    last: datetime | None
    bars: int  # stored bars in the range
    expected: int  # bars the calendar expects in the range
    present: int  # expected bars that are stored
    gaps: tuple[Gap, ...]

    @property
    def percent(self) -> float:
        """Share of the expected bars that are stored, 0..100 (100 when nothing is expected)."""
        return 100.0 if self.expected == 0 else 100.0 * self.present / self.expected

    @property
    def missing(self) -> int:
        return self.expected - self.present


def sessions(instrument: Instrument, first_day: date, last_day: date) -> pd.DataFrame:
    """The calendar's sessions labelled first_day..last_day: a frame of UTC ``open`` and ``close``."""
    schedule = _calendar(calendar_name(instrument)).schedule
    return schedule.loc[pd.Timestamp(first_day):pd.Timestamp(last_day), ["open", "close"]]


def session_range(instrument: Instrument, first_day: date, last_day: date) -> tuple[datetime, datetime] | None:
    """[open of the first session, close of the last) of the sessions on those dates; None if there are none.

    Dates are session labels: a CME session of Monday opens on Sunday evening (UTC)."""
    found = sessions(instrument, first_day, last_day)
    if found.empty:
        return None
    if instrument.sec_type in (SecType.STOCK, SecType.INDEX):  # room for extended hours either side
        opens, closes = _extended(found.index[[0, -1]])
    else:
        opens, closes = _epochs(found["open"].iloc[[0, -1]]), _epochs(found["close"].iloc[[0, -1]])
    start, end = _utc(opens[0]), _utc(closes[-1])
    return start, end


def _extended(labels: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """04:00 and 20:00 New York of each session date, as epoch seconds."""
    day = pd.DatetimeIndex(labels).tz_localize(None).normalize()
    opens = (day + pd.Timedelta(EXTENDED_HOURS[0] + ":00")).tz_localize("America/New_York")
    closes = (day + pd.Timedelta(EXTENDED_HOURS[1] + ":00")).tz_localize("America/New_York")
    return _epochs(opens), _epochs(closes)


def _epochs(index: Any) -> np.ndarray:
    return pd.DatetimeIndex(index).tz_convert("UTC").as_unit("s").asi8.astype(np.int64)


def session_periods(instrument: Instrument, start: datetime, end: datetime,
                    extended: bool = True) -> list[tuple[datetime, datetime]]:
    """The [open, close) periods of the sessions that overlap [start, end], clipped to it: where a history
    request can return bars (with ``extended``, a stock's 04:00-20:00 New York rather than its session)."""
    opens, closes = _periods(instrument, start - timedelta(days=4), end + timedelta(days=4), extended)
    lo, hi = int(start.timestamp()), int(end.timestamp())
    keep = (closes > lo) & (opens < hi)
    return [(pd.Timestamp(max(o, lo), unit="s", tz="UTC").to_pydatetime(),
             pd.Timestamp(min(c, hi), unit="s", tz="UTC").to_pydatetime())
            for o, c in zip(opens[keep].tolist(), closes[keep].tolist(), strict=True)]


def _periods(instrument: Instrument, start: datetime, end: datetime, extended: bool) -> tuple[np.ndarray, np.ndarray]:
    found = sessions(instrument, start.date(), end.date())
    if extended and instrument.sec_type in (SecType.STOCK, SecType.INDEX):
        return _extended(found.index)
    return _epochs(found["open"]), _epochs(found["close"])


def expected_times(instrument: Instrument, bar_size: BarSize, start: datetime, end: datetime,
                   extended: bool = False) -> np.ndarray:
    """Open times (epoch seconds, on the bar size's grid) of every bar the calendar expects in [start, end].

    Daily bars are session dates at 00:00 UTC, as IB and CSV imports stamp them; an intraday bar is
    expected when any minute of a session falls inside it."""
    lo, hi = int(start.timestamp()), int(end.timestamp())
    if bar_size is BarSize.DAY_1:
        labels = sessions(instrument, start.date(), end.date()).index
        days = labels.as_unit("s").asi8.astype(np.int64) if labels.tz is None else _epochs(labels)
        return days[(days >= lo // _DAY * _DAY) & (days <= hi)]
    step = bar_size.seconds
    opens, closes = _periods(instrument, start - timedelta(days=4), end + timedelta(days=4), extended)
    keep = (closes > lo) & (opens <= hi)
    firsts = opens[keep] // step * step
    lasts = (closes[keep] - 1) // step * step
    if firsts.size == 0:
        return np.empty(0, dtype=np.int64)
    counts = (lasts - firsts) // step + 1
    # every session's grid in one array: the session's first bucket repeated, plus 0, 1, 2… steps
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    times = np.repeat(firsts, counts) + offsets * step
    return np.unique(times[(times >= lo // step * step) & (times <= hi)])


def bucket(times: np.ndarray, bar_size: BarSize) -> np.ndarray:
    """Stored bar times on the bar size's grid (an IB hourly bar stamped 09:30 belongs to the 09:00 one)."""
    step = _DAY if bar_size is BarSize.DAY_1 else bar_size.seconds
    return np.unique(np.asarray(times, dtype=np.int64) // step * step)


def find_gaps(stored: np.ndarray, expected: np.ndarray, bar_size: BarSize) -> list[Gap]:
    """Runs of consecutive expected bars (in the calendar's order) that are not stored."""
    missing_mask = ~np.isin(expected, stored)
    if not missing_mask.any():
        return []
    positions = np.flatnonzero(missing_mask)
    breaks = np.flatnonzero(np.diff(positions) > 1)
    run_starts = np.concatenate([[0], breaks + 1])
    run_ends = np.concatenate([breaks, [positions.size - 1]])
    return [Gap(_utc(expected[positions[a]]), _utc(expected[positions[b]]), int(b - a + 1), bar_size)
            for a, b in zip(run_starts.tolist(), run_ends.tolist(), strict=True)]


def is_extended(instrument: Instrument, bar_size: BarSize, stored: np.ndarray) -> bool:
    """Whether an intraday stock series holds bars outside the regular session (then 04:00-20:00 counts)."""
    if bar_size is BarSize.DAY_1 or stored.size == 0 or instrument.sec_type not in (SecType.STOCK, SecType.INDEX):
        return False
    regular = expected_times(instrument, bar_size, _utc(stored[0]), _utc(stored[-1]))
    return bool((~np.isin(stored, regular)).any())


def measure(instrument: Instrument, bar_size: BarSize, stored_times: Iterable[int] | np.ndarray,
            start: datetime | None = None, end: datetime | None = None,
            first: datetime | None = None, last: datetime | None = None, extended: bool | None = None) -> Coverage:
    """Coverage and gaps of the stored bar times (epoch seconds) over [start, end] (default: first..last stored);
    ``extended`` says whether a stock's extended hours count (None: whether the series holds bars in them)."""
    stored = bucket(np.fromiter(stored_times, dtype=np.int64) if not isinstance(stored_times, np.ndarray)
                    else stored_times, bar_size)
    first = first or (_utc(stored[0]) if stored.size else None)
    last = last or (_utc(stored[-1]) if stored.size else None)
    start = start or first
    end = end or last
    if extended is None or bar_size is BarSize.DAY_1 or instrument.sec_type not in (SecType.STOCK, SecType.INDEX):
        extended = is_extended(instrument, bar_size, stored)
    if start is None or end is None or start > end:
        return Coverage(instrument, bar_size, calendar_name(instrument), extended, start, end, first, last,
                        0, 0, 0, ())
    expected = expected_times(instrument, bar_size, start, end, extended)
    lo, hi = int(start.timestamp()), int(end.timestamp())
    in_range = stored[(stored >= (lo // bar_size.seconds * bar_size.seconds if bar_size is not BarSize.DAY_1
                                  else lo // _DAY * _DAY)) & (stored <= hi)]
    gaps = find_gaps(in_range, expected, bar_size)
    present = int(np.isin(expected, in_range).sum())
    return Coverage(instrument, bar_size, calendar_name(instrument), extended, start, end, first, last,
                    int(in_range.size), int(expected.size), present, tuple(gaps))


def fetch_ranges(gaps: Sequence[Gap], chunk: timedelta) -> list[tuple[datetime, datetime]]:
    """The gaps packed into [start, until) requests no longer than ``chunk`` each, oldest first: gaps close
    together share a request (a missing minute here and there is one request, not one each), a long gap is
    cut into chunks. Bars a request returns that are already stored are written again, never twice."""
    ranges: list[tuple[datetime, datetime]] = []
    for gap in sorted(gaps, key=lambda g: g.start):
        start, until = gap.start, gap.until
        if ranges and until - ranges[-1][0] <= chunk:
            ranges[-1] = (ranges[-1][0], until)
            continue
        while until - start > chunk:
            ranges.append((start, start + chunk))
            start += chunk
        ranges.append((start, until))
    return ranges


def _utc(epoch: int | np.integer) -> datetime:
    return datetime.fromtimestamp(int(epoch), UTC)
