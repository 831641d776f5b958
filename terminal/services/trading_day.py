"""The trading day of the daily-loss limit: when it starts (a stated time and time zone) and its P&L so far.

The day's P&L is the account's net liquidation now minus its net liquidation at the first
account update of the day (kept in the store, so a restart within the day keeps the
baseline). Default start: 09:30 America/New_York, the US equity session's open. A loss
made before the terminal first saw the account that day is not known to it; deposits and
withdrawals within the day count as P&L.

Each account has its own baseline, keyed by its ledger (``Account.ledger``: provenance and
account id), so a simulator account's day never becomes a live account's, even under the
same id. A baseline stored before schema v3 named no account and is not used: the first
account update after the upgrade starts that account's day afresh.
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
    """Holds each account's starting equity of the day and answers the day's P&L for the loss limit."""

    def __init__(self, reset_time: str = "09:30", timezone: str = "America/New_York") -> None:
        self.at, self.zone = parse_reset(reset_time, timezone)
        self.description = f"{reset_time} {timezone}"
        self.baselines: dict[str, tuple[datetime, float]] = {}  # ledger -> (day start, equity then)
        self.ledger = ""  # the account last noted (what ``start`` and ``start_equity`` describe)

    @property
    def start(self) -> datetime | None:
        found = self.baselines.get(self.ledger)
        return found[0] if found else None

    @property
    def start_equity(self) -> float:
        found = self.baselines.get(self.ledger)
        return found[1] if found else math.nan

    def load(self, saved: dict[str, Any] | None) -> None:
        for ledger, baseline in ((saved or {}).get("baselines") or {}).items():
            try:
                self.baselines[ledger] = (datetime.fromisoformat(baseline["start"]), float(baseline["equity"]))
            except (KeyError, TypeError, ValueError):
                continue  # one unreadable baseline: that account starts its day afresh

    def saved(self) -> dict[str, Any]:
        return {"baselines": {ledger: {"start": start.isoformat(), "equity": equity}
                              for ledger, (start, equity) in self.baselines.items()}}

    def on_equity(self, net_liquidation: float, now: datetime, ledger: str = "") -> bool:
        """Note the account's value; True when its new day started and the baseline should be stored."""
        self.ledger = ledger
        boundary = day_start(now, self.at, self.zone)
        found = self.baselines.get(ledger)
        if found is not None and found[0] == boundary and math.isfinite(found[1]):
            return False
        if not math.isfinite(net_liquidation):
            return False
        self.baselines[ledger] = (boundary, net_liquidation)
        return True

    def pnl(self, net_liquidation: float, now: datetime, ledger: str | None = None) -> float:
        """Net liquidation minus the day's start of ``ledger`` (default: the account last noted); NaN before its
        first value of the current day."""
        found = self.baselines.get(self.ledger if ledger is None else ledger)
        if found is None or found[0] != day_start(now, self.at, self.zone) or not math.isfinite(net_liquidation):
            return math.nan
        return net_liquidation - found[1]
