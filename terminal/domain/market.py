"""Market data values: quotes and OHLCV bars, with UTC-aware timestamps."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from terminal.domain.errors import ValidationError


class BarSize(StrEnum):
    """Bar sizes the terminal stores and charts; values are IB's barSizeSetting strings."""

    SEC_5 = "5 secs"
    MIN_1 = "1 min"
    MIN_5 = "5 mins"
    MIN_15 = "15 mins"
    HOUR_1 = "1 hour"
    DAY_1 = "1 day"

    @property
    def seconds(self) -> int:
        return _SECONDS[self]

    @property
    def short(self) -> str:
        """Short label for toolbars and the CLI (``1m``, ``1D``)."""
        return _SHORT[self]

    @classmethod
    def parse(cls, text: str) -> BarSize:
        """Accept IB spelling (``5 mins``) or short form (``5m``, ``1h``, ``1d``)."""
        t = text.strip()
        for member in cls:
            if t == member.value or t.lower() == member.short.lower():
                return member
        valid = ", ".join(m.short for m in cls)
        raise ValidationError(f"bar size {text!r} is not known; use one of {valid}")

    def delta(self) -> timedelta:
        return timedelta(seconds=self.seconds)


_SECONDS = {
    BarSize.SEC_5: 5,
    BarSize.MIN_1: 60,
    BarSize.MIN_5: 300,
    BarSize.MIN_15: 900,
    BarSize.HOUR_1: 3600,
    BarSize.DAY_1: 86400,
}
_SHORT = {
    BarSize.SEC_5: "5s",
    BarSize.MIN_1: "1m",
    BarSize.MIN_5: "5m",
    BarSize.MIN_15: "15m",
    BarSize.HOUR_1: "1h",
    BarSize.DAY_1: "1D",
}


def _require_utc(value: datetime, field: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(f"{field} {value.isoformat()} has no time zone; pass a UTC-aware datetime")


@dataclass(frozen=True, slots=True)
class Bar:
    """One OHLCV bar; ``time`` is the UTC start of the bar."""

    time: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float = 0.0
    bar_size: BarSize = BarSize.DAY_1

    def __post_init__(self) -> None:
        _require_utc(self.time, "bar time")
        for name in ("open", "high", "low", "close", "volume"):
            v = getattr(self, name)
            if not math.isfinite(v):
                raise ValidationError(f"bar {name} {v!r} at {self.time.isoformat()} is not a finite number")
        if self.high < self.low:
            raise ValidationError(
                f"bar at {self.time.isoformat()}: high {self.high} is below low {self.low}"
            )
        if not (self.low <= self.open <= self.high and self.low <= self.close <= self.high):
            raise ValidationError(
                f"bar at {self.time.isoformat()}: open {self.open} / close {self.close} "
                f"outside low {self.low} .. high {self.high}"
            )
        if self.volume < 0:
            raise ValidationError(f"bar at {self.time.isoformat()}: volume {self.volume} is negative")


@dataclass(frozen=True, slots=True)
class Quote:
    """Top of book and last trade for one instrument; NaN means 'not known yet'."""

    symbol: str
    bid: float = math.nan
    ask: float = math.nan
    last: float = math.nan
    bid_size: float = math.nan
    ask_size: float = math.nan
    last_size: float = math.nan
    volume: float = math.nan
    close: float = math.nan  # previous session close, for change / change %
    high: float = math.nan
    low: float = math.nan
    time: datetime | None = None

    @property
    def mid(self) -> float:
        if math.isfinite(self.bid) and math.isfinite(self.ask):
            return (self.bid + self.ask) / 2
        return self.last

    @property
    def change(self) -> float:
        return self.last - self.close if math.isfinite(self.last) and math.isfinite(self.close) else math.nan

    @property
    def change_percent(self) -> float:
        if math.isfinite(self.change) and self.close:
            return 100.0 * self.change / self.close
        return math.nan

    @property
    def reference_price(self) -> float:
        """Best available price for risk checks: last, else mid, else close."""
        for p in (self.last, self.mid, self.close):
            if math.isfinite(p) and p > 0:
                return p
        return math.nan
