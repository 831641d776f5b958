"""Coverage and gaps of stored bars against the exchange calendar: weekends, holidays and closed hours are not gaps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from terminal.domain import BarSize, Instrument, SecType
from terminal.services.coverage import fetch_ranges, measure

AAPL = Instrument("AAPL")
ES = Instrument("ES", SecType.FUTURE, "CME")
EUR = Instrument("EUR", SecType.FOREX, "IDEALPRO")


def _epochs(times) -> list[int]:
    return [int(pd.Timestamp(t).timestamp()) for t in times]


def _november_2026_sessions() -> list[pd.Timestamp]:
    """Weekdays of November 2026 but Thanksgiving (the 26th), written out here rather than read from the calendar."""
    return [d for d in pd.bdate_range("2026-11-02", "2026-11-30", tz="UTC") if d.day != 26]


def _minutes(day: str, open_: str, close: str) -> pd.DatetimeIndex:
    """1-minute bar times of a New York session (``close`` exclusive), in UTC."""
    return pd.date_range(f"{day} {open_}", f"{day} {close}", freq="min", inclusive="left",
                         tz="America/New_York").tz_convert("UTC")


def test_a_month_of_daily_bars_without_weekends_and_thanksgiving_has_no_gaps():
    coverage = measure(AAPL, BarSize.DAY_1, _epochs(_november_2026_sessions()))
    assert (coverage.expected, coverage.bars, coverage.gaps, coverage.percent) == (20, 20, (), 100.0)
    assert coverage.calendar == "XNYS"


def test_missing_days_are_gaps_and_a_holiday_between_them_does_not_split_one():
    days = [d for d in _november_2026_sessions() if d.day not in (10, 11, 25, 27)]
    coverage = measure(AAPL, BarSize.DAY_1, _epochs(days))
    assert [(g.start.day, g.end.day, g.bars) for g in coverage.gaps] == [(10, 11, 2), (25, 27, 2)]
    assert coverage.missing == 4 and coverage.percent == pytest.approx(100 * 16 / 20)


def test_intraday_counts_the_session_only_early_close_and_weekend_included():
    # Friday after Thanksgiving closes at 13:00; then a weekend; then Monday's full session
    friday, monday = _minutes("2026-11-27", "09:30", "13:00"), _minutes("2026-11-30", "09:30", "16:00")
    full = measure(AAPL, BarSize.MIN_1, _epochs(friday.append(monday)))
    assert (full.expected, full.gaps, full.extended_hours) == (210 + 390, (), False)
    holed = monday.delete(range(60, 65))
    coverage = measure(AAPL, BarSize.MIN_1, _epochs(friday.append(holed)))
    [gap] = coverage.gaps
    assert (gap.start, gap.bars) == (monday[60].to_pydatetime(), 5) and coverage.present == 595


def test_bars_outside_the_session_make_an_extended_hours_series_whose_premarket_counts():
    monday = _minutes("2026-11-30", "09:30", "16:00")
    with_premarket = _minutes("2026-11-30", "08:00", "08:10").append(monday)
    coverage = measure(AAPL, BarSize.MIN_1, _epochs(with_premarket))
    assert coverage.extended_hours
    # measured from its first bar (08:00) to its last (15:59): 08:10 to 09:29 is missing
    [gap] = coverage.gaps
    assert (gap.start, gap.bars) == (pd.Timestamp("2026-11-30 08:10", tz="America/New_York"), 80)


def test_hourly_bars_stamped_at_the_half_hour_cover_their_hour():
    """IB stamps a stock's first regular hourly bar 09:30; it is the bar of the 09:00-10:00 hour."""
    times = [pd.Timestamp(f"2026-11-30 {h}", tz="America/New_York") for h in
             ("09:30", "10:00", "11:00", "12:00", "13:00", "14:00", "15:00")]
    coverage = measure(AAPL, BarSize.HOUR_1, _epochs(times))
    assert (coverage.expected, coverage.gaps) == (7, ())


def test_futures_trade_sunday_evening_and_stop_for_the_weekend():
    # CME Globex: Friday's session ends 16:00 Chicago; Monday's opens Sunday 17:00 Chicago
    hours = pd.date_range("2026-11-27 00:00", "2026-12-01 00:00", freq="h", tz="UTC", inclusive="left")
    weekend = (hours >= pd.Timestamp("2026-11-27 22:00", tz="UTC")) & (hours < pd.Timestamp("2026-11-29 23:00", tz="UTC"))
    coverage = measure(ES, BarSize.HOUR_1, _epochs(hours[~weekend]))
    assert coverage.calendar == "CMES" and coverage.gaps == ()
    without_sunday_evening = hours[~weekend & ~((hours >= pd.Timestamp("2026-11-29 23:00", tz="UTC"))
                                                & (hours < pd.Timestamp("2026-11-30 01:00", tz="UTC")))]
    [gap] = measure(ES, BarSize.HOUR_1, _epochs(without_sunday_evening)).gaps
    assert (gap.start, gap.bars) == (datetime(2026, 11, 29, 23, tzinfo=UTC), 2)


def test_fx_trades_five_days_around_the_clock():
    hours = pd.date_range("2026-11-27", "2026-12-01", freq="h", tz="UTC", inclusive="left")
    weekdays = hours[hours.day_of_week < 5]
    coverage = measure(EUR, BarSize.HOUR_1, _epochs(weekdays))
    assert (coverage.calendar, coverage.expected, coverage.gaps) == ("24/5", 48, ())


def test_a_range_beyond_the_stored_bars_is_missing_at_both_ends():
    monday = _minutes("2026-11-30", "09:30", "16:00")
    start, end = datetime(2026, 11, 27, tzinfo=UTC), datetime(2026, 12, 1, 23, tzinfo=UTC)
    coverage = measure(AAPL, BarSize.MIN_1, _epochs(monday), start, end)
    assert [(g.start.day, g.bars) for g in coverage.gaps] == [(27, 210), (1, 390)]


def test_close_gaps_share_a_request_and_a_long_gap_is_cut_into_chunks():
    days = _november_2026_sessions()
    kept = [d for i, d in enumerate(days) if i not in (3, 5)]  # two one-day holes two sessions apart
    gaps = measure(AAPL, BarSize.DAY_1, _epochs(kept)).gaps
    assert len(gaps) == 2 and fetch_ranges(gaps, timedelta(days=365)) == [(gaps[0].start, gaps[1].until)]
    minutes = _minutes("2026-11-30", "09:30", "16:00")
    [gap] = measure(AAPL, BarSize.MIN_1, _epochs(minutes[:1].append(minutes[-1:]))).gaps
    ranges = fetch_ranges([gap], timedelta(hours=1))
    assert len(ranges) == 7 and ranges[0][0] == gap.start and ranges[-1][1] == gap.until
    assert all(b - a <= timedelta(hours=1) for a, b in ranges)
