"""A historical data request as TWS reads it (bar size, duration, end time), and the rows of its answer.

Like an exchange's history, the answer has no bars when the market was shut: none on weekends and
holidays, and with useRTH none outside the regular session (exchange_calendars: XNYS for stocks,
CMES for futures, 24/5 for FX); a stock without useRTH has its extended hours, 04:00-20:00 New York.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import numpy as np
import pandas as pd

from terminal.sim import outgoing as out

BAR_SECONDS = {"1 secs": 1, "5 secs": 5, "10 secs": 10, "15 secs": 15, "30 secs": 30, "1 min": 60, "2 mins": 120,
               "3 mins": 180, "5 mins": 300, "10 mins": 600, "15 mins": 900, "20 mins": 1200, "30 mins": 1800,
               "1 hour": 3600, "2 hours": 7200, "3 hours": 10800, "4 hours": 14400, "8 hours": 28800,
               "1 day": 86400, "1 week": 604800, "1 month": 2592000}
DURATION_SECONDS = {"S": 1, "D": 86400, "W": 7 * 86400, "M": 30 * 86400, "Y": 365 * 86400}
MAX_HISTORY_BARS = 100_000
CALENDARS = {"STK": "XNYS", "IND": "XNYS", "FUT": "CMES", "CASH": "24/5"}


class HistoryRequestError(ValueError):
    """A request TWS would refuse, with the error code it answers (321 invalid, 162 too much)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class HistoryQuery:
    bar_seconds: int
    span_seconds: int
    end: datetime
    count: int  # bars in the span (trading days for daily bars)

    @property
    def daily(self) -> bool:
        return self.bar_seconds >= 86400

    @property
    def start(self) -> datetime:
        return self.end - timedelta(seconds=self.span_seconds)

    @property
    def last_bar_before(self) -> datetime:
        """The answer holds bars that start in [start, end), as TWS's does: the last starts before ``end``."""
        return self.end - timedelta(seconds=1)


def parse_query(end_text: str, bar_text: str, duration_text: str) -> HistoryQuery:
    """The request's fields checked as TWS checks them; HistoryRequestError says what is wrong."""
    bar_seconds = BAR_SECONDS.get(bar_text.strip())
    if bar_seconds is None:
        raise HistoryRequestError(321, f"Error validating request:-'bD' : cause - Invalid bar size {bar_text!r}; "
                                       f"valid: {', '.join(BAR_SECONDS)}")
    match = re.fullmatch(r"\s*(\d+)\s+([SDWMY])\s*", duration_text)
    if match is None:
        raise HistoryRequestError(321, f"Error validating request:-'bD' : cause - Historical data query duration "
                                       f"{duration_text!r} is invalid, e.g. '2 D', '1 Y'")
    span = int(match.group(1)) * DURATION_SECONDS[match.group(2)]
    end = _parse_end(end_text)
    if end is None:
        raise HistoryRequestError(321, f"Error validating request: end date/time {end_text!r} "
                                       "is not YYYYMMDD HH:MM:SS [zone]")
    if span > (end - datetime.min.replace(tzinfo=UTC)).total_seconds():
        raise HistoryRequestError(321, f"Error validating request: duration {duration_text!r} before "
                                       f"end date/time {end_text!r} reaches back before the year 1")
    daily = bar_seconds >= 86400
    if daily:  # weekdays whose date starts in [start, end)
        first_day = (end - timedelta(seconds=span) - timedelta(microseconds=1)).date() + timedelta(days=1)
        count = max(1, int(np.busday_count(first_day, (end - timedelta(seconds=1)).date() + timedelta(days=1))))
    else:
        count = max(1, span // bar_seconds)
    if count > MAX_HISTORY_BARS:
        raise HistoryRequestError(162, f"Historical Market Data Service error message:request of {count} "
                                       f"bars exceeds the limit of {MAX_HISTORY_BARS}")
    return HistoryQuery(bar_seconds, span, end, int(count))


def bar_rows(frame: pd.DataFrame, daily: bool) -> list[object]:
    """The bars' fields as the historicalData message lists them (time, OHLC, volume, WAP, count)."""
    rows: list[object] = []
    for t, bar in zip(frame.index, frame.itertuples(index=False), strict=True):
        rows += [out.bar_time(t.to_pydatetime(), daily), bar.open, bar.high, bar.low, bar.close, bar.volume,
                 round((bar.high + bar.low + bar.close) / 3, 6), 1]
    return rows


def _parse_end(text: str) -> datetime | None:
    text = text.strip()
    if not text:
        return datetime.now(UTC)
    parts = text.replace("-", " ").split()
    try:
        moment = datetime.strptime(" ".join(parts[:2]), "%Y%m%d %H:%M:%S")
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC)


@lru_cache(maxsize=4)
def _calendar(name: str):  # type: ignore[no-untyped-def]
    import exchange_calendars

    return exchange_calendars.get_calendar(name, start="1990-01-01")


def open_market_bars(frame: pd.DataFrame, sec_type: str, use_rth: bool, daily: bool) -> pd.DataFrame:
    """The bars of ``frame`` (UTC index) that fall in the market's open hours, as described above."""
    if frame.empty:
        return frame
    calendar = _calendar(CALENDARS.get(sec_type, "XNYS"))
    times = pd.DatetimeIndex(frame.index)
    span = calendar.schedule.loc[(times[0] - pd.Timedelta(days=4)).tz_localize(None).normalize():
                                 (times[-1] + pd.Timedelta(days=4)).tz_localize(None).normalize()]
    if daily:
        return frame[times.tz_localize(None).normalize().isin(span.index)]
    if not use_rth and CALENDARS.get(sec_type, "XNYS") == "XNYS":  # IB's extended hours, 04:00-20:00 New York
        days = span.index.tz_localize(None).normalize() if span.index.tz is not None else span.index.normalize()
        opens = _epochs((days + pd.Timedelta(hours=4)).tz_localize("America/New_York"))
        closes = _epochs((days + pd.Timedelta(hours=20)).tz_localize("America/New_York"))
    else:
        opens, closes = _epochs(span["open"]), _epochs(span["close"])
    epochs = times.as_unit("s").asi8
    session = np.searchsorted(opens, epochs, side="right") - 1
    inside = (session >= 0) & (epochs < closes[np.clip(session, 0, None)])
    return frame[inside]


def _epochs(times: pd.DatetimeIndex | pd.Series) -> np.ndarray:
    return pd.DatetimeIndex(times).tz_convert("UTC").as_unit("s").asi8
