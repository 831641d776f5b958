"""The trading day of the daily-loss limit: when it starts (a stated time and time zone) and its P&L so far.

The day's P&L is the account's net liquidation now minus its net liquidation at the first
account update of the day (kept in the store, so a restart within the day keeps the
baseline). Default start: 09:30 America/New_York, the US equity session's open. A loss
made before the terminal first saw the account that day is not known to it; deposits and
withdrawals within the day count as P&L.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class TradingDayError(ValueError):
    """The reset time or time zone is not usable; the message says which and what is valid."""


def parse_reset(reset_time: str, timezone: str) -> tuple[time, ZoneInfo]:
    try:
        hours, minutes = (int(part) for part in reset_time.strip().split(":"))
        at = time(hours, minutes)
    except ValueError:
        raise TradingDayError(f"daily reset time {reset_time!r} must be HH:MM, e.g. 09:30") from None
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise TradingDayError(f"daily reset time zone {timezone!r} is not a time zone name, "
                              "e.g. America/New_York or Europe/London") from None
    return at, zone


def day_start(now: datetime, at: time, zone: ZoneInfo) -> datetime:
    """The most recent reset moment at or before ``now`` (UTC-aware), in UTC."""
    local = now.astimezone(zone)
    start = datetime.combine(local.date(), at, tzinfo=zone)
    if start > local:
        start = datetime.combine(local.date() - timedelta(days=1), at, tzinfo=zone)
    return start.astimezone(UTC)


class TradingDay:
    """Holds the day's starting equity and answers the day's P&L for the loss limit."""

    def __init__(self, reset_time: str = "09:30", timezone: str = "America/New_York") -> None:
        self.at, self.zone = parse_reset(reset_time, timezone)
        self.description = f"{reset_time} {timezone}"
        self.start: datetime | None = None
        self.start_equity = math.nan

    def load(self, saved: dict[str, Any] | None) -> None:
        if saved and saved.get("start"):
            self.start = datetime.fromisoformat(saved["start"])
            self.start_equity = float(saved.get("equity", math.nan))

    def saved(self) -> dict[str, Any]:
        return {"start": self.start.isoformat() if self.start else "", "equity": self.start_equity}

    def on_equity(self, net_liquidation: float, now: datetime) -> bool:
        """Note the account's value; True when a new day started and its baseline should be stored."""
        boundary = day_start(now, self.at, self.zone)
        if self.start == boundary and math.isfinite(self.start_equity):
            return False
        if not math.isfinite(net_liquidation):
            return False
        self.start, self.start_equity = boundary, net_liquidation
        return True

    def pnl(self, net_liquidation: float, now: datetime) -> float:
        """Net liquidation minus the day's start; NaN before the first value of the current day."""
        if self.start != day_start(now, self.at, self.zone) or not math.isfinite(net_liquidation):
            return math.nan
        return net_liquidation - self.start_equity
