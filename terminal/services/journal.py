"""The trade journal: every round trip a trader made or tested, in one table in the store.

Fills (live, paper, simulator, replay) become round trips first in, first out; the R-multiple comes from the
stop attached to the entry (a bracket's stop child), MAE/MFE from the finest stored bars inside the holding
period. Every saved backtest run's trades are journaled with source ``backtest`` (when the run is saved, and
runs saved before the journal existed on the next sync). Syncing is idempotent: a round trip is stored once,
by its key, and keeps the trader's tags and notes.
"""

from __future__ import annotations

import asyncio
import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import pandas as pd

from terminal.domain import BarSize, DomainError, Instrument, OrderType
from terminal.domain.journal import (
    SOURCES,
    Comparison,
    RoundTrip,
    backtest_round_trips,
    compare,
    fill_round_trips,
)
from terminal.store import Store, run_id_of

ALL = 10**9  # "every row" for the repositories' limits: the journal pairs fills over the whole history
BREAKDOWNS = ("tag", "symbol", "source", "hour", "weekday")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
EXPORT_FIELDS = ("key", "source", "symbol", "side", "quantity", "entry_time", "exit_time", "entry_price",
                 "exit_price", "pnl", "commission", "r_multiple", "mae", "mfe", "stop_price", "holding_seconds",
                 "account", "strategy", "run_id", "tags", "notes")


def trip_json(trip: RoundTrip) -> dict[str, Any]:
    """A round trip as the CLI's JSON writes it (times ISO 8601 UTC, tags a list, missing measures null)."""
    out: dict[str, Any] = {}
    for name in EXPORT_FIELDS:
        value = getattr(trip, name)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, float) and not math.isfinite(value):
            value = None
        out[name] = value
    return out


@dataclass(frozen=True)
class GroupStats:
    group: str
    trades: int
    wins: int
    pnl: float
    average_r: float | None

    @property
    def win_rate(self) -> float:
        return self.wins / self.trades if self.trades else math.nan

    @property
    def average_pnl(self) -> float:
        return self.pnl / self.trades if self.trades else math.nan


def breakdown(trips: Iterable[RoundTrip], by: str) -> list[GroupStats]:
    """Statistics per tag, symbol, source, entry hour (UTC) or entry weekday; a trade with several tags
    counts under each, one without under "(untagged)". Groups in natural order (hours, weekdays) or by P&L."""
    if by not in BREAKDOWNS:
        raise ValueError(f"cannot break the journal down by {by!r}; use one of {', '.join(BREAKDOWNS)}")
    key: Callable[[RoundTrip], Iterable[str]] = {
        "tag": lambda t: t.tags or ("(untagged)",),
        "symbol": lambda t: (t.symbol,),
        "source": lambda t: (t.source,),
        "hour": lambda t: (f"{t.entry_time.hour:02d}:00",),
        "weekday": lambda t: (WEEKDAYS[t.entry_time.weekday()],),
    }[by]
    groups: dict[str, list[RoundTrip]] = defaultdict(list)
    for trip in trips:
        for name in key(trip):
            groups[name].append(trip)
    rows = []
    for name, members in groups.items():
        rs = [t.r_multiple for t in members if t.r_multiple is not None]
        rows.append(GroupStats(name, len(members), sum(1 for t in members if t.pnl > 0),
                               sum(t.pnl for t in members), sum(rs) / len(rs) if rs else None))
    if by == "weekday":
        return sorted(rows, key=lambda g: WEEKDAYS.index(g.group))
    if by == "hour":
        return sorted(rows, key=lambda g: g.group)
    return sorted(rows, key=lambda g: -g.pnl)


def check_source(source: str | None) -> None:
    if source is not None and source not in SOURCES:
        raise ValueError(f"journal source {source!r} is not known; use one of {', '.join(SOURCES)}")


class JournalService:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = asyncio.Lock()

    async def sync(self) -> int:
        """Journal the round trips of every stored fill and every saved backtest run not journaled yet;
        returns how many were new."""
        async with self._lock:
            return await asyncio.to_thread(self._sync)

    def _sync(self) -> int:
        store = self._store
        known = store.journal.keys()
        trips = [t for t in fill_round_trips(store.fills.list(limit=ALL)) if t.key not in known]
        added = 0
        if trips:  # only new round trips are measured: a sync with nothing new reads, pairs and stops
            stops = _attached_stops(store)
            instruments = {i.key: i for i in store.instruments.all()}
            stored_sizes: dict[str, list[BarSize]] = defaultdict(list)
            for key, size, *_ in store.bars.summary():
                stored_sizes[key].append(size)
            live = store.live_runs.strategies()  # a live strategy's trades carry its name
            measured = []
            for trip in trips:
                trip = trip.with_stop(stops.get(trip.entry_order))
                strategy = live.get(run_id_of(trip.entry_order) or "")
                if strategy:
                    trip = replace(trip, strategy=strategy)
                instrument = instruments.get(trip.instrument_key)
                sizes = stored_sizes.get(trip.instrument_key)
                if instrument is not None and sizes:
                    highs_lows = _bars_inside(store, instrument, sorted(sizes, key=lambda b: b.seconds),
                                              trip.entry_time, trip.exit_time)
                    if highs_lows is not None:
                        trip = trip.with_excursions(*highs_lows)
                measured.append(trip)
            added = store.journal.add(measured)
        journaled = store.journal.run_ids()
        for run in store.backtest_runs.summaries(ALL):
            if run.status == "done" and run.id not in journaled:
                stored = store.backtest_runs.get(run.id)
                if stored is not None:
                    added += store.journal.add(backtest_round_trips(run.id, run.strategy_name,
                                                                    stored.result.get("trades", [])))
        return added

    async def record_run(self, run_id: int, strategy: str, trades: list[dict],
                         frames: dict[str, pd.DataFrame]) -> int:
        """Journal a backtest run just saved, with MAE/MFE from the bars it ran on."""
        trips = [_backtest_excursions(trip, trade, frames.get(trip.symbol))
                 for trip, trade in zip(backtest_round_trips(run_id, strategy, trades), trades, strict=True)]
        return await asyncio.to_thread(self._store.journal.add, trips)

    async def trips(self, source: str | None = None, symbol: str | None = None,
                    run_id: int | None = None) -> list[RoundTrip]:
        check_source(source)
        return await asyncio.to_thread(self._store.journal.list, source, symbol, run_id)

    async def compare_with_run(self, run_id: int, source: str | None = None,
                               tolerance_bars: float = 1.0) -> tuple[Comparison, str]:
        """The account's round trips (live, paper and sim, or ``source``) in the run's symbols and period against
        the run's own: matched within ``tolerance_bars`` of the run's bar size, with slippage per fill; missed
        and extra trades. Returns the comparison and a line saying what was compared."""
        check_source(source)
        run = await asyncio.to_thread(self._store.backtest_runs.get, run_id)
        if run is None or run.status != "done":
            raise ValueError(f"no saved backtest run {run_id}; 'quant-terminal journal ls --source backtest' "
                             "shows the runs' trades")
        equity = run.result.get("equity", [])
        if len(equity) < 2:
            raise ValueError(f"run {run_id} has fewer than two bars; nothing to compare")
        first, last = pd.Timestamp(equity[0][0]), pd.Timestamp(equity[-1][0])
        bar = (pd.Timestamp(equity[1][0]) - first).total_seconds()
        await self.sync()
        journal = await self.trips()  # one read: the run's own trades and the account's are both in it
        backtest = [t for t in journal if t.source == "backtest" and t.run_id == run_id]
        sources = (source,) if source else ("live", "paper", "sim")
        actual = [t for t in journal if t.source in sources and t.symbol in run.symbols
                  and first <= t.entry_time <= last + pd.Timedelta(seconds=bar)]
        what = (f"run {run_id} ({run.strategy_name} on {', '.join(run.symbols)}, {first:%Y-%m-%d} .. "
                f"{last:%Y-%m-%d}, {len(backtest)} trades) against {len(actual)} {'/'.join(sources)} round trips, "
                f"matched within {tolerance_bars:g} bar(s) of the entry")
        return compare(backtest, actual, tolerance_bars * bar), what

    async def save_snapshot(self, execution_id: str, png: bytes) -> None:
        await asyncio.to_thread(self._store.journal.save_snapshot, execution_id, png)

    async def snapshots(self, trip: RoundTrip) -> tuple[bytes | None, bytes | None]:
        """The chart at the round trip's entry and at its exit (PNG), where they were taken (fills only)."""
        if not trip.key.startswith("fill:"):
            return None, None
        entry, exit_ = trip.key[len("fill:"):].split(">", 1)
        return (await asyncio.to_thread(self._store.journal.snapshot, entry),
                await asyncio.to_thread(self._store.journal.snapshot, exit_))

    async def replay_request(self, trip: RoundTrip, archive_url: str, lead_seconds: float = 120.0) -> Any:
        """A market replay of the recording around ``trip``: its symbol, from ``lead_seconds`` before its entry
        (or the recording's start), paused. DomainError when the archive holds no ticks of it at its entry."""
        from terminal.services.replay import ReplayRequest

        if trip.source == "backtest":
            raise DomainError("a backtest's trade is stepped through, not replayed: select its run in Backtest "
                              "results and press Step through")
        start = await asyncio.to_thread(_recorded_from, archive_url, trip, lead_seconds)
        return ReplayRequest(archive_url, start=start, symbols=(trip.symbol,), paused=True)

    async def annotate(self, key: str, tags: list[str] | None = None, notes: str | None = None) -> RoundTrip:
        return await asyncio.to_thread(self._store.journal.annotate, key, tags, notes)


def _recorded_from(archive_url: str, trip: RoundTrip, lead_seconds: float) -> datetime:
    from datetime import timedelta

    from terminal.archive import open_archive
    from terminal.archive.backends import ArchiveError

    try:
        days = open_archive(archive_url).partitions("ticks", trip.symbol)
    except (ArchiveError, OSError) as exc:
        raise DomainError(f"the archive {archive_url} cannot be read: {exc}") from None
    for day in days:
        if day.first is not None and day.last is not None and day.first <= trip.entry_time <= day.last:
            return max(day.first, trip.entry_time - timedelta(seconds=lead_seconds))
    recorded = ", ".join(f"{d.date}" for d in days[-5:]) or "none"
    raise DomainError(f"no recording of {trip.symbol} at {trip.entry_time:%Y-%m-%d %H:%M:%S} UTC in {archive_url} "
                      f"(days recorded: {recorded}); record the market (Data → Record…) to replay its trades")


def _attached_stops(store: Store) -> dict[str, float]:
    """Client order id of an entry → the stop price of the stop order attached to it (bracket child)."""
    stops: dict[str, float] = {}
    for order in store.orders.list(limit=ALL):
        if order.parent_ref and order.order_type in (OrderType.STOP, OrderType.STOP_LIMIT) and order.stop_price:
            stops.setdefault(order.parent_ref, float(order.stop_price))
    return stops


def _bars_inside(store: Store, instrument: Instrument, sizes: list[BarSize], start: datetime,
                 end: datetime) -> tuple[list[float], list[float]] | None:
    """Highs and lows of the finest stored bars (``sizes``, finest first) wholly inside [start, end]; None when
    none is stored around the period at all (then MAE/MFE stay unknown)."""
    for size in sizes:
        frame = store.bars.load_frame(instrument, size, start - size.delta(), end)
        if frame.empty:
            continue
        inside = frame[(frame.index >= start) & (frame.index + size.delta() <= end)]
        return inside["high"].tolist(), inside["low"].tolist()
    return None


def _backtest_excursions(trip: RoundTrip, trade: dict, frame: pd.DataFrame | None) -> RoundTrip:
    """MAE/MFE of a backtest trade: it fills at the open of its entry bar and leaves at the open of its exit
    bar (at the last close when still open at the end), so the bars entry..exit−1 are wholly held."""
    if frame is None or "entry_bar" not in trade or "exit_bar" not in trade:
        return trip
    last = trade["exit_bar"] + (1 if trade.get("open") else 0)
    held = frame.iloc[trade["entry_bar"]:last]
    return trip.with_excursions(held["high"].tolist(), held["low"].tolist())
