"""What a run without stored bars fetches: the symbols it lacks and the trading days (shared by CLI and GUI)."""

from __future__ import annotations

import asyncio
from datetime import date

import pandas as pd

from terminal.domain import BarSize, Instrument, Provenance
from terminal.services.backtests import BacktestService
from terminal.services.missing_data import FetchPlan, fetch_days, plan_fetch


def test_fetch_days_are_the_runs_range_else_the_span_a_chart_shows_ending_today():
    today = date(2026, 11, 27)
    assert fetch_days(BarSize.DAY_1, date(2026, 6, 1), date(2026, 9, 30), today) == (date(2026, 6, 1),
                                                                                    date(2026, 9, 30))
    assert fetch_days(BarSize.DAY_1, None, None, today) == (date(2024, 11, 27), today)  # a chart's 730 days
    assert fetch_days(BarSize.MIN_1, None, date(2027, 1, 1), today) == (date(2026, 11, 22), today)
    assert fetch_days(BarSize.DAY_1, date(2027, 1, 4), None, today) is None  # all in the future


def test_plan_lists_only_the_symbols_without_bars_in_the_range(sqlite_store):
    index = pd.bdate_range("2026-06-01", "2026-06-30", tz="UTC", name="time")
    frame = pd.DataFrame({"open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0}, index=index)
    sqlite_store.bars.write_frame(Instrument("KO"), BarSize.DAY_1, frame, Provenance.CSV)
    service = BacktestService(sqlite_store)
    plan = asyncio.run(plan_fetch(service, ["ko", "PEP", "XOM", "PEP"], "1D", "2026-06-01", "2026-06-30"))
    assert plan == FetchPlan(("PEP", "XOM"), BarSize.DAY_1, date(2026, 6, 1), date(2026, 6, 30))
    assert plan.describe() == "PEP and XOM have no stored 1D bars in 2026-06-01 … 2026-06-30"
    assert asyncio.run(plan_fetch(service, ["KO"], "1D", "2026-06-01", "2026-06-30")) is None
    later = asyncio.run(plan_fetch(service, ["KO"], "1D", "2026-07-01", "2026-07-31"))
    assert later is not None and later.describe() == "KO has no stored 1D bars in 2026-07-01 … 2026-07-31"
