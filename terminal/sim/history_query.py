"""A historical data request as TWS reads it (bar size, duration, end time), and the rows of its answer."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd

from terminal.sim import outgoing as out

BAR_SECONDS = {"1 secs": 1, "5 secs": 5, "10 secs": 10, "15 secs": 15, "30 secs": 30, "1 min": 60, "2 mins": 120,
               "3 mins": 180, "5 mins": 300, "10 mins": 600, "15 mins": 900, "20 mins": 1200, "30 mins": 1800,
               "1 hour": 3600, "2 hours": 7200, "3 hours": 10800, "4 hours": 14400, "8 hours": 28800,
               "1 day": 86400, "1 week": 604800, "1 month": 2592000}
DURATION_SECONDS = {"S": 1, "D": 86400, "W": 7 * 86400, "M": 30 * 86400, "Y": 365 * 86400}
MAX_HISTORY_BARS = 100_000


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
    count = max(1, span // bar_seconds if not daily else span * 5 // (7 * 86400))
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
