"""History manager: coverage of every stored series, and backfills that fetch only the missing bars.

A backfill measures the range against the exchange calendar (``coverage``), packs the gaps into
requests within IB's per-request limits, and sends them one at a time through the broker (whose
pacing limiter spaces them as IB requires). Each answer is written to the store before the next
request goes out, so a backfill that is killed halfway has lost nothing it received, and the next
run measures again and fetches only what is still missing. Bars are upserted on their primary key:
a bar fetched twice is stored once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np

from terminal.broker.base import HISTORY_CHUNK, Broker, NotConnected, UnknownInstrument
from terminal.domain import BarSize, DomainError, Instrument, Provenance, SecType
from terminal.services.coverage import Coverage, fetch_ranges, measure, session_range
from terminal.services.signal import Signal
from terminal.store import Store


class BackfillCancelled(DomainError):
    """The backfill was stopped; what had arrived is stored."""


@dataclass(frozen=True, slots=True)
class BackfillProgress:
    """Where a backfill stands: requests done of planned, bars received so far."""

    instrument: Instrument
    bar_size: BarSize
    requests_done: int
    requests: int
    bars: int

    @property
    def fraction(self) -> float:
        return 1.0 if self.requests == 0 else self.requests_done / self.requests


@dataclass(frozen=True, slots=True)
class BackfillResult:
    instrument: Instrument
    bar_size: BarSize
    requests: int  # history requests sent
    bars: int  # bars received and stored
    before: Coverage
    after: Coverage


def day_range(instrument: Instrument, first_day: date, last_day: date,
              now: datetime | None = None) -> tuple[datetime, datetime] | None:
    """The sessions on first_day..last_day as [start, end] bar times, cut at ``now`` (nothing after it can be
    stored yet); None when the dates hold no session or lie in the future."""
    if first_day > last_day:
        raise DomainError(f"the range is reversed: from {first_day} is after to {last_day}")
    span = session_range(instrument, first_day, last_day)
    now = now or datetime.now(UTC)
    if span is None or span[0] >= now:
        return None
    return span[0], min(span[1] - timedelta(seconds=1), now)


class BackfillService:
    """Coverage of stored series and gap-filling backfills over one broker connection (may be None: then
    coverage works and fills raise NotConnected)."""

    def __init__(self, broker: Broker | None, store: Store) -> None:
        self._broker = broker
        self._store = store
        self.filled: Signal[BackfillResult] = Signal("backfill.filled")  # after each finished fill

    def use_broker(self, broker: Broker) -> None:
        """The session switched to a broker of another kind (the desk feed, or IB's after it)."""
        self._broker = broker

    # --- what is stored --------------------------------------------------------------------------
    async def coverage(self, instrument: Instrument, bar_size: BarSize, start: datetime | None = None,
                       end: datetime | None = None) -> Coverage:
        """The stored series measured over [start, end] (default: its own first..last bar)."""
        return await asyncio.to_thread(self._measure, instrument, bar_size, start, end)

    async def _fill_coverage(self, instrument: Instrument, bar_size: BarSize, start: datetime,
                             end: datetime) -> Coverage:
        return await asyncio.to_thread(self._measure, instrument, bar_size, start, end, True)

    def _measure(self, instrument: Instrument, bar_size: BarSize, start: datetime | None,
                 end: datetime | None, fetching: bool = False) -> Coverage:
        step = bar_size.seconds
        grid_start = None if start is None else datetime.fromtimestamp(int(start.timestamp()) // step * step, UTC)
        frame = self._store.bars.load_frame(instrument, bar_size, start=grid_start, end=end)
        times = frame.index.as_unit("s").asi8.astype(np.int64)
        first = last = None
        if start is not None or end is not None:
            first = self._store.bars.first_time(instrument, bar_size)
            newest = self._store.bars.load_frame(instrument, bar_size, limit=1)
            last = newest.index[-1].to_pydatetime() if not newest.empty else None
        # The broker asks with useRTH off, so a stock's history holds its extended hours: a fill expects them.
        return measure(instrument, bar_size, times, start, end, first, last, extended=True if fetching else None)

    async def status(self, symbols: Sequence[str] = ()) -> list[Coverage]:
        """Coverage of every stored series (of ``symbols`` only, when given), by instrument and bar size."""
        wanted = {s.strip().upper() for s in symbols if s.strip()}

        def read() -> list[Coverage]:
            found = []
            for key, bar_size, _count, _first, _last in self._store.bars.summary():
                instrument = self._store.instruments.get(key)
                if instrument is None or (wanted and instrument.symbol not in wanted):
                    continue
                found.append(self._measure(instrument, bar_size, None, None))
            return found

        return await asyncio.to_thread(read)

    async def stored_instrument(self, symbol: str) -> Instrument | None:
        found = await asyncio.to_thread(self._store.instruments.find_symbol, symbol)
        return found[0] if found else None

    # --- fetching --------------------------------------------------------------------------------
    async def resolve(self, symbol: str, sec_type: SecType | None = None) -> Instrument:
        """The broker's instrument for a symbol (of ``sec_type`` when given: ES is a stock and a future): the
        stored one's kind and exchange first, else the broker's own search; UnknownInstrument names it."""
        broker = self._require()
        symbol = symbol.strip().upper()
        stored = [i for i in await asyncio.to_thread(self._store.instruments.find_symbol, symbol)
                  if sec_type is None or i.sec_type is sec_type]
        for known in stored:
            try:
                return await broker.qualify(Instrument(known.symbol, known.sec_type, known.exchange, known.currency,
                                                       known.tick_size, known.multiplier))
            except UnknownInstrument:
                continue
        for candidate in await broker.search(symbol):
            if candidate.symbol == symbol and (sec_type is None or candidate.sec_type is sec_type):
                return await broker.qualify(candidate)
        kind = f" of type {sec_type.value}" if sec_type else ""
        raise UnknownInstrument(f"unknown symbol {symbol}: the broker has no instrument{kind} of that name")

    async def fill(self, instrument: Instrument, bar_size: BarSize, start: datetime, end: datetime,
                   progress: Callable[[BackfillProgress], None] | None = None,
                   cancelled: Callable[[], bool] = lambda: False) -> BackfillResult:
        """Fetch the bars missing in [start, end] and store each answer as it arrives."""
        broker = self._require()
        provenance = broker.provenance  # of the session the bars come from, when they were asked for
        if provenance is Provenance.REPLAY:
            raise DomainError("no backfill during a replay: its history is the recording's, cut at the replay "
                              "clock, and is never stored (end the replay first)")
        before = await self._fill_coverage(instrument, bar_size, start, end)
        ranges = fetch_ranges(before.gaps, HISTORY_CHUNK[bar_size])
        received = 0
        if progress is not None:
            progress(BackfillProgress(instrument, bar_size, 0, len(ranges), 0))
        for done, (range_start, until) in enumerate(ranges, 1):
            if cancelled():
                raise BackfillCancelled(f"backfill of {instrument.display_name} {bar_size.short} stopped after "
                                        f"{done - 1} of {len(ranges)} requests; the {received} bars received are stored")
            bars = [b for b in await broker.history(instrument, bar_size, range_start, until) if b.time < until]
            if bars:
                await asyncio.to_thread(self._store.bars.write_bars, instrument, bars, provenance)
            received += len(bars)
            if progress is not None:
                progress(BackfillProgress(instrument, bar_size, done, len(ranges), received))
        after = await self._fill_coverage(instrument, bar_size, start, end)
        result = BackfillResult(instrument, bar_size, len(ranges), received, before, after)
        self.filled.emit(result)
        return result

    def _require(self) -> Broker:
        if self._broker is None or not self._broker.is_connected:
            raise NotConnected("not connected to a broker: connect to TWS / Gateway or the simulator to fetch history")
        return self._broker
