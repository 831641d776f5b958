"""History service: bars from the store, topped up from the broker (paced), stored for next time.

A chart asks for the last span of a bar size (5 days of 1-minute bars), so only that span is read:
the database filters on its primary key, and 300,000 stored bars cost what the 7,000 shown do.
Every store read and every pandas merge or aggregation runs in a thread: nothing here holds the
loop longer than a scheduling step.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import pandas as pd

from terminal.broker.base import Broker
from terminal.data.aggregate import resample_bars
from terminal.domain import Bar, BarSize, Instrument, Provenance
from terminal.services.coverage import session_periods
from terminal.store import Store
from terminal.store.bars import rows_to_frame

_DEFAULT_SPAN = {
    BarSize.SEC_5: timedelta(hours=2),
    BarSize.MIN_1: timedelta(days=5),
    BarSize.MIN_5: timedelta(days=20),
    BarSize.MIN_15: timedelta(days=40),
    BarSize.HOUR_1: timedelta(days=120),
    BarSize.DAY_1: timedelta(days=730),
}


def default_span(bar_size: BarSize) -> timedelta:
    """How far back a chart of ``bar_size`` reaches by default (and a backtest without a range fetches)."""
    return _DEFAULT_SPAN[bar_size]


class HistoryService:
    def __init__(self, broker: Broker | None, store: Store | None) -> None:
        self._broker = broker
        self._store = store

    def use_broker(self, broker: Broker) -> None:
        """The session switched to a broker of another kind (the desk feed, or IB's after it)."""
        self._broker = broker

    async def bars(self, instrument: Instrument, bar_size: BarSize, span: timedelta | None = None,
                   progress: Callable[[float], None] | None = None, refresh: bool = True) -> pd.DataFrame:
        """Bars of the last ``span`` (default: per bar size): the stored ones, plus newer ones from the broker
        when connected. With nothing stored in the span and no broker, the newest stored bars (as many as the
        span would hold), so an imported series that ended long ago still shows."""
        span = span or _DEFAULT_SPAN[bar_size]
        broker = self._broker
        if broker is not None and broker.is_connected and broker.provenance is Provenance.REPLAY:
            # A replay's history is the recording's, up to the replay clock: never the store's bars (they may
            # lie after the clock, or be the simulator's), and never stored (the archive holds them already).
            end = await broker.server_time()
            bars = await broker.history(instrument, bar_size, end - span, end, progress)
            return _store_and_merge(None, instrument, rows_to_frame([]), bars, Provenance.REPLAY) if bars \
                else rows_to_frame([])
        end = datetime.now(UTC)
        start = end - span
        store = self._store
        if store is None:
            stored, covered = rows_to_frame([]), False
        else:
            stored, covered = await asyncio.to_thread(_read_span, store, instrument, bar_size, start)
        if refresh and self._broker is not None and self._broker.is_connected:
            # When stored bars reach back to the span's start, only what came after the newest is missing.
            fetch_from = stored.index[-1].to_pydatetime() if covered else start
            provenance = self._broker.provenance  # the session's, when the request was made
            # Only the sessions are asked for: nights and weekends are no requests (and no reason to stop).
            # (in a thread: the first use of a calendar builds it, a quarter of a second, off the loop)
            periods = None if bar_size is BarSize.DAY_1 else await asyncio.to_thread(session_periods, instrument,
                                                                                       fetch_from, end)
            bars = await self._broker.history(instrument, bar_size, fetch_from, end, progress, periods)
            if bars:
                stored = await asyncio.to_thread(_store_and_merge, store, instrument, stored, bars, provenance)
        if stored.empty and store is not None:
            newest = max(1, int(span.total_seconds() // bar_size.seconds))
            stored = await asyncio.to_thread(store.bars.load_frame, instrument, bar_size, limit=newest)
        if progress is not None:
            progress(1.0)
        return stored

    async def stored_or_aggregated(self, instrument: Instrument, bar_size: BarSize) -> pd.DataFrame:
        """All stored bars of ``bar_size``, else aggregated from the finest stored size below it."""
        store = self._store
        if store is None:
            return rows_to_frame([])
        return await asyncio.to_thread(_stored_or_aggregated, store, instrument, bar_size)


def _read_span(store: Store, instrument: Instrument, bar_size: BarSize,
               start: datetime) -> tuple[pd.DataFrame, bool]:
    """The stored bars from ``start`` on, and whether they reach back to ``start`` (some are in the span and
    some before it: then the span has no hole at its beginning for the broker to fill)."""
    frame = store.bars.load_frame(instrument, bar_size, start=start)
    first = store.bars.first_time(instrument, bar_size) if not frame.empty else None
    return frame, first is not None and first <= start


def _store_and_merge(store: Store | None, instrument: Instrument, stored: pd.DataFrame,
                     bars: Sequence[Bar], provenance: Provenance) -> pd.DataFrame:
    """Save the broker's bars (as ``provenance``'s) and put them over the stored ones (the broker's version wins)."""
    if store is not None:
        store.bars.write_bars(instrument, bars, provenance)
    fresh = pd.DataFrame(
        {"open": [b.open for b in bars], "high": [b.high for b in bars], "low": [b.low for b in bars],
         "close": [b.close for b in bars], "volume": [b.volume for b in bars]},
        index=pd.DatetimeIndex([b.time for b in bars], name="time").tz_convert("UTC"),
    )
    return pd.concat([stored[~stored.index.isin(fresh.index)], fresh]).sort_index()


def _stored_or_aggregated(store: Store, instrument: Instrument, bar_size: BarSize) -> pd.DataFrame:
    frame = store.bars.load_frame(instrument, bar_size)
    if not frame.empty:
        return frame
    for finer in sorted((b for b in BarSize if b.seconds < bar_size.seconds), key=lambda b: -b.seconds):
        base = store.bars.load_frame(instrument, finer)
        if not base.empty:
            return resample_bars(base, finer, bar_size)
    return frame
