"""The history service reads only the span a chart shows, tops it up from the broker, and merges off the loop."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from terminal.data.aggregate import resample_bars
from terminal.domain import Bar, BarSize, Instrument, Provenance
from terminal.services.history import HistoryService

AAPL = Instrument("AAPL", primary_exchange="NASDAQ", contract_id=265598)


def _minute_bars(n: int, end: datetime) -> pd.DataFrame:
    index = pd.date_range(end=pd.Timestamp(end).floor("min"), periods=n, freq="min", tz="UTC", name="time")
    close = 100 + np.cumsum(np.random.default_rng(2).normal(0, 0.05, n))
    return pd.DataFrame({"open": close, "high": close + 0.1, "low": close - 0.1, "close": close,
                         "volume": 10.0}, index=index)


class FakeBroker:
    """Connected; answers history with one bar a minute over the asked range, and records what was asked."""

    is_connected = True
    provenance = Provenance.UNKNOWN

    def __init__(self) -> None:
        self.asked: list[tuple[datetime, datetime]] = []

    async def history(self, instrument, bar_size, start, end, progress=None, open_periods=None):  # type: ignore[no-untyped-def]
        self.asked.append((start, end))
        first = pd.Timestamp(start).ceil("min")
        times = pd.date_range(first, pd.Timestamp(end).floor("min"), freq="min")
        return [Bar(t.to_pydatetime(), 500.0, 501.0, 499.0, 500.5, 1.0, bar_size) for t in times]


def test_bars_are_the_stored_span_only(sqlite_store):
    stored = _minute_bars(20_000, datetime.now(UTC) - timedelta(minutes=1))
    sqlite_store.bars.write_frame(AAPL, BarSize.MIN_1, stored)
    span = timedelta(hours=3)
    before = datetime.now(UTC)
    frame = asyncio.run(HistoryService(None, sqlite_store).bars(AAPL, BarSize.MIN_1, span))
    after = datetime.now(UTC)
    first = frame.index[0]
    # the store keeps whole seconds: a span starting at hh:mm:00.4 includes the bar of hh:mm:00
    assert (before - span).replace(microsecond=0) <= first <= after - span + timedelta(minutes=1)
    pd.testing.assert_frame_equal(frame, stored.loc[first:], check_freq=False, check_index_type=False)


def test_with_nothing_stored_in_the_span_offline_the_newest_stored_bars_show(sqlite_store):
    old = _minute_bars(3_000, datetime(2023, 3, 1, tzinfo=UTC))
    sqlite_store.bars.write_frame(AAPL, BarSize.MIN_1, old)
    frame = asyncio.run(HistoryService(None, sqlite_store).bars(AAPL, BarSize.MIN_1, timedelta(hours=10)))
    pd.testing.assert_frame_equal(frame, old.iloc[-600:], check_freq=False, check_index_type=False)


def test_stored_bars_reaching_back_to_the_span_are_topped_up_from_the_newest_one(sqlite_store):
    stored = _minute_bars(1_000, datetime.now(UTC) - timedelta(minutes=30))
    sqlite_store.bars.write_frame(AAPL, BarSize.MIN_1, stored)
    broker = FakeBroker()
    frame = asyncio.run(HistoryService(broker, sqlite_store).bars(AAPL, BarSize.MIN_1, timedelta(hours=2)))
    [(fetch_from, _)] = broker.asked
    assert pd.Timestamp(fetch_from) == stored.index[-1]
    assert frame.index.is_unique and frame.index.is_monotonic_increasing
    assert frame.loc[stored.index[-1], "close"] == 500.5  # the broker's version of the newest stored bar wins
    assert (frame.loc[frame.index > stored.index[-1], "close"] == 500.5).all()
    older = frame.loc[frame.index < stored.index[-1], "close"]
    pd.testing.assert_series_equal(older, stored.loc[older.index[0]:stored.index[-2], "close"], check_freq=False,
                                   check_index_type=False)
    assert sqlite_store.bars.count(AAPL, BarSize.MIN_1) == 1_000 + len(frame.loc[frame.index > stored.index[-1]])


def test_a_span_not_reached_by_stored_bars_is_fetched_whole(sqlite_store):
    stored = _minute_bars(30, datetime.now(UTC) - timedelta(minutes=5))  # the last half hour only
    sqlite_store.bars.write_frame(AAPL, BarSize.MIN_1, stored)
    broker = FakeBroker()
    span = timedelta(hours=2)
    before = datetime.now(UTC)
    asyncio.run(HistoryService(broker, sqlite_store).bars(AAPL, BarSize.MIN_1, span))
    [(fetch_from, _)] = broker.asked
    assert before - span <= fetch_from <= datetime.now(UTC) - span


def test_stored_or_aggregated_builds_a_coarser_size_from_the_finest_stored_one(sqlite_store):
    minutes = _minute_bars(3_000, datetime(2024, 3, 1, tzinfo=UTC))
    sqlite_store.bars.write_frame(AAPL, BarSize.MIN_1, minutes)
    frame = asyncio.run(HistoryService(None, sqlite_store).stored_or_aggregated(AAPL, BarSize.HOUR_1))
    expected = resample_bars(minutes, BarSize.MIN_1, BarSize.HOUR_1)
    pd.testing.assert_frame_equal(frame, expected, check_freq=False, check_index_type=False)


def test_bars_from_the_simulator_are_stored_as_simulator_bars(loop, sims, sessions):
    sim = sims()
    session = sessions(sim.port)
    aapl = loop.run_until_complete(session.market.qualify(Instrument("AAPL")))
    # five days hold an open session whatever the hour this runs (nights, weekends, a long holiday weekend)
    frame = loop.run_until_complete(session.history.bars(aapl, BarSize.MIN_1, timedelta(days=5)))
    assert not frame.empty
    assert session.store.bars.sources(aapl, BarSize.MIN_1) == {Provenance.SIMULATOR}
