"""History service: bars from the store, topped up from the broker (paced), stored for next time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pandas as pd

from terminal.broker.base import Broker
from terminal.data.aggregate import resample_bars
from terminal.domain import BarSize, Instrument
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


class HistoryService:
    def __init__(self, broker: Broker | None, store: Store | None) -> None:
        self._broker = broker
        self._store = store

    async def bars(self, instrument: Instrument, bar_size: BarSize, span: timedelta | None = None,
                   progress: Callable[[float], None] | None = None, refresh: bool = True) -> pd.DataFrame:
        """Bars for the last ``span``: stored bars, plus newer ones from the broker when connected."""
        end = datetime.now(UTC)
        start = end - (span or _DEFAULT_SPAN[bar_size])
        stored = await asyncio.to_thread(self._store.bars.load_frame, instrument, bar_size) if self._store else rows_to_frame([])
        if refresh and self._broker is not None and self._broker.is_connected:
            fetch_from = start
            if not stored.empty and stored.index[0] <= pd.Timestamp(start):
                fetch_from = stored.index[-1].to_pydatetime()
            bars = await self._broker.history(instrument, bar_size, fetch_from, end, progress)
            if bars:
                if self._store is not None:
                    await asyncio.to_thread(self._store.bars.write_bars, instrument, bars)
                fresh = pd.DataFrame(
                    {"open": [b.open for b in bars], "high": [b.high for b in bars], "low": [b.low for b in bars],
                     "close": [b.close for b in bars], "volume": [b.volume for b in bars]},
                    index=pd.DatetimeIndex([b.time for b in bars], name="time").tz_convert("UTC"),
                )
                stored = pd.concat([stored[~stored.index.isin(fresh.index)], fresh]).sort_index()
        if progress is not None:
            progress(1.0)
        return stored

    async def stored_or_aggregated(self, instrument: Instrument, bar_size: BarSize) -> pd.DataFrame:
        """Stored bars of ``bar_size``, else aggregated from the finest stored size below it."""
        store = self._store
        if store is None:
            return rows_to_frame([])
        frame = await asyncio.to_thread(store.bars.load_frame, instrument, bar_size)
        if not frame.empty:
            return frame
        for finer in sorted((b for b in BarSize if b.seconds < bar_size.seconds), key=lambda b: -b.seconds):
            base = await asyncio.to_thread(store.bars.load_frame, instrument, finer)
            if not base.empty:
                return resample_bars(base, finer, bar_size)
        return frame
