"""Bars a backtest, optimization or pair scan needs and the store lacks: which symbols, which trading days to
fetch, and the fetch itself. The CLI (``backtest``, ``optimize``) fetches at once; the GUI (strategy editor,
optimizer, pair scan) offers to first. Both plan and fetch here, so they fetch the same range."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from terminal.broker.base import BrokerError
from terminal.domain import BarSize, DomainError, Instrument, SecType
from terminal.services.backfill import (
    BackfillCancelled,
    BackfillProgress,
    BackfillResult,
    BackfillService,
    day_range,
)
from terminal.services.backtests import BacktestService, MissingBars, parse_day
from terminal.services.history import default_span


class FetchFailed(DomainError):
    """Fetching the missing bars failed (not connected, an unknown symbol, a replay running); nothing ran."""


@dataclass(frozen=True, slots=True)
class FetchPlan:
    """The symbols without stored bars of ``bar_size`` in a run's range, and the trading days to fetch."""

    symbols: tuple[str, ...]
    bar_size: BarSize
    first_day: date
    last_day: date

    def describe(self) -> str:
        """``AAPL has no stored 1D bars in 2025-06-01 … 2026-11-27`` (the offer's and the refusal's words)."""
        names = self.symbols[0] if len(self.symbols) == 1 else f"{', '.join(self.symbols[:-1])} and {self.symbols[-1]}"
        have = "has" if len(self.symbols) == 1 else "have"
        return f"{names} {have} no stored {self.bar_size.short} bars in {self.first_day} … {self.last_day}"


def fetch_days(bar_size: BarSize, first: date | None, last: date | None,
               today: date | None = None) -> tuple[date, date] | None:
    """Trading days to fetch for a run: its own from/to, else the span a chart of ``bar_size`` shows, ending
    today at the latest; None when the range lies in the future (nothing can be fetched)."""
    today = today or datetime.now(UTC).date()
    last = min(last or today, today)
    first = first or (datetime.combine(today, datetime.min.time(), UTC) - default_span(bar_size)).date()
    return None if first > last else (first, last)


def _day(value: str | date | None, what: str) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return parse_day(value, what).date() if value.strip() else None


async def plan_fetch(backtests: BacktestService, symbols: Sequence[str], bar_size: BarSize | str,
                     start: str | date | None = None, end: str | date | None = None) -> FetchPlan | None:
    """What to fetch so that a run on ``symbols`` over [start, end] finds its bars (each symbol is looked up
    alone, as the run would); None when nothing is missing or the range lies in the future."""
    size = bar_size if isinstance(bar_size, BarSize) else BarSize.parse(bar_size)
    first, last = _day(start, "from"), _day(end, "to")
    missing = []
    for symbol in dict.fromkeys(s.strip().upper() for s in symbols if s.strip()):
        try:
            await backtests.frames([symbol], size, first.isoformat() if first else None,
                                   last.isoformat() if last else None)
        except MissingBars:
            missing.append(symbol)
    days = fetch_days(size, first, last)
    if not missing or days is None:
        return None
    return FetchPlan(tuple(missing), size, *days)


async def fill_days(backfill: BackfillService, symbol: str, bar_size: BarSize, first_day: date, last_day: date,
                    progress: Callable[[BackfillProgress], None] | None = None,
                    cancelled: Callable[[], bool] = lambda: False,
                    sec_type: SecType | None = None) -> tuple[Instrument, BackfillResult | None]:
    """Backfill one symbol over the trading days first_day..last_day: its instrument and the fill's result
    (None when those days hold no session)."""
    instrument = await backfill.resolve(symbol, sec_type)
    span = await asyncio.to_thread(day_range, instrument, first_day, last_day)  # builds the calendar
    if span is None:
        return instrument, None
    return instrument, await backfill.fill(instrument, bar_size, *span, progress=progress, cancelled=cancelled)


async def fetch(backfill: BackfillService, plan: FetchPlan, progress: Callable[[BackfillProgress], None] | None = None,
                cancelled: Callable[[], bool] = lambda: False, source: str = "the broker") -> list[BackfillResult]:
    """Fetch every symbol of the plan, one after the other; FetchFailed says which symbol failed and why
    (BackfillCancelled passes through: what arrived is stored)."""
    results = []
    for symbol in plan.symbols:
        try:
            _instrument, result = await fill_days(backfill, symbol, plan.bar_size, plan.first_day, plan.last_day,
                                                  progress, cancelled)
        except BackfillCancelled:
            raise
        except (BrokerError, DomainError) as exc:
            raise FetchFailed(f"fetching {plan.bar_size.short} bars of {symbol} from {source} failed: {exc}") from None
        if result is not None:
            results.append(result)
    return results


def fetched_text(results: Sequence[Any]) -> str:
    """``fetched 124 bars of AAPL 1D`` for a status line."""
    bars = sum(r.bars for r in results)
    names = ", ".join(f"{r.instrument.display_name} {r.bar_size.short}" for r in results) or "nothing"
    return f"fetched {bars:,} bars of {names}"
