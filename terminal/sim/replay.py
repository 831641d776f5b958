"""Market replay: the archive's recorded ticks and depth (or its bars) played back in time order by a clock.

The tape is every recorded row of the chosen symbols from ``start`` on, merged by (time, seq):
ticks (the whole top of book after each tick), depth (the whole book) and gap markers. Symbols
with no ticks in the archive but bars (archive ``kind=bars``, e.g. exported from the store) are
replayed from their bars: each bar becomes four quotes — open, then the low and the high in the
order that makes the shorter path (low first on an up bar), then the close — a stated path, not
random ticks. Nothing synthetic is ever added: when the tape ends the clock stops and the last
state holds.

The clock (``ReplayClock``) runs at ``speed`` × wall time while playing; it starts paused and,
unless told to wait for Play, starts playing at the first market-data subscription. Every
answer the simulator gives reads it: quote times, fills, 5-second bars, ``reqCurrentTime`` and
history, which ends at the clock (no look-ahead).

Fill model (``MatchingEngine`` rules, on the replayed book): our orders never move the tape; a
marketable order fills at once against the recorded book (top of book and its size, or every
recorded depth level); a resting limit fills when a later recorded quote crosses it, up to the
size shown there, at the quote's price, or when a recorded trade prints through it (a buy limit
above the print), at the limit, up to the print's size; a print at the limit fills nothing, since
where our order would have stood in the queue is not known. Each fill happens at a tape row, so fills depend on the
rows and on when (in replay time) an order arrived — never on the speed.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from terminal.archive import Archive
from terminal.archive import schema as sc
from terminal.sim.contracts import Listing, Universe
from terminal.sim.events import BookLevel, BookSnapshot

log = logging.getLogger(__name__)

KIND_TICK, KIND_DEPTH, KIND_GAP = 0, 1, 2
_US = 1_000_000


class ReplayError(ValueError):
    """The archive has nothing to replay for the request; the message says what it does have."""


@dataclass
class Tape:
    """Rows in play order; ``kind`` says which arrays a row's index ``row`` points into."""

    symbols: list[str]
    listings: list[Listing]
    time: np.ndarray  # int64 µs UTC, non-decreasing
    kind: np.ndarray  # int8
    symbol: np.ndarray  # int32 index into symbols
    row: np.ndarray  # int32 index into the kind's arrays
    quotes: dict[str, np.ndarray] = field(default_factory=dict)  # bid, bid_size, ask, ask_size, last, last_size, volume
    depth: list[tuple[list[float], list[float], list[float], list[float]]] = field(default_factory=list)
    bar_symbols: set[str] = field(default_factory=set)  # replayed from bars

    def __len__(self) -> int:
        return len(self.time)

    @property
    def start(self) -> datetime:
        return _dt(int(self.time[0]))

    @property
    def end(self) -> datetime:
        return _dt(int(self.time[-1]))


def _dt(micros: int) -> datetime:
    return datetime.fromtimestamp(micros / _US, UTC)


def _listing(universe: Universe, symbol: str, contract_id: int) -> Listing | None:
    if contract_id and contract_id in universe.by_id:
        return universe.by_id[contract_id]
    if "." in symbol:  # EUR.USD
        base, currency = symbol.split(".", 1)
        for listing in universe.by_symbol.get(base, ()):
            if listing.instrument.currency == currency:
                return listing
    found = universe.by_symbol.get(symbol, ())
    return found[0] if found else None


def replayable(archive: Archive, symbols: list[str] | None = None, start: datetime | None = None) -> list[str]:
    """The symbols a replay of ``archive`` would play (``symbols``, or every one with ticks or bars), checked
    from the archive's listing alone; ReplayError says what it has instead."""
    files = archive.files("ticks") + archive.files("bars")
    available = sorted({f.symbol for f in files})
    wanted = [s.upper() for s in symbols] if symbols else available
    missing = [s for s in wanted if s not in available]
    if missing or not wanted:
        raise ReplayError(f"the archive at {archive.url} has no ticks or bars of {', '.join(missing) or 'anything'}; "
                          f"it has {', '.join(available) or 'nothing yet (record some with quant-terminal record)'}")
    last_day = max(f.date for f in files if f.symbol in wanted)
    if start is not None and start.astimezone(UTC).date() > last_day:
        raise ReplayError(f"the recording of {', '.join(wanted)} ends on {last_day} (UTC), before {start:%Y-%m-%d %H:%M} UTC")
    return wanted


def load_tape(archive: Archive, universe: Universe, symbols: list[str] | None = None,
              start: datetime | None = None, end: datetime | None = None) -> Tape:
    """The tape of ``symbols`` (default: every symbol the archive has ticks or bars of) from ``start``."""
    wanted = replayable(archive, symbols, start)
    names: list[str] = []
    listings: list[Listing] = []
    parts: list[dict[str, np.ndarray]] = []
    quote_arrays: list[pa.Table] = []
    depth_rows: list[tuple[list[float], list[float], list[float], list[float]]] = []
    bar_symbols: set[str] = set()
    quote_count = 0
    for symbol in wanted:
        ticks = archive.read("ticks", symbol, start, end)
        depth = archive.read("depth", symbol, start, end)
        from_bars = ticks.num_rows == 0
        if from_bars:
            ticks = _bar_path(archive.read("bars", symbol, start, end))
            bar_symbols.add(symbol)
        if ticks.num_rows == 0 and depth.num_rows == 0:
            continue
        first_id = ticks["contract_id"][0].as_py() if ticks.num_rows else depth["contract_id"][0].as_py()
        listing = _listing(universe, symbol, int(first_id or 0))
        if listing is None:
            log.warning("replay: %s is not an instrument of this simulator; left out", symbol)
            continue
        index = len(names)
        names.append(symbol)
        listings.append(listing)
        if ticks.num_rows:
            events = ticks["event"].cast(pa.string()).to_numpy(zero_copy_only=False)
            parts.append({"time": ticks["time"].cast(pa.int64()).to_numpy(),
                          "seq": ticks["seq"].fill_null(0).to_numpy(),
                          "kind": np.where(events == sc.EVENT_TICK, KIND_TICK, KIND_GAP).astype(np.int8),
                          "symbol": np.full(ticks.num_rows, index, np.int32),
                          "row": np.arange(quote_count, quote_count + ticks.num_rows, dtype=np.int32)})
            quote_arrays.append(ticks.select(["tick", "bid", "bid_size", "ask", "ask_size", "last", "last_size",
                                              "volume"]))
            quote_count += ticks.num_rows
        if depth.num_rows:
            depth = depth.filter(pc.equal(depth["event"].cast(pa.string()), sc.EVENT_TICK))
            parts.append({"time": depth["time"].cast(pa.int64()).to_numpy(),
                          "seq": depth["seq"].fill_null(0).to_numpy(),
                          "kind": np.full(depth.num_rows, KIND_DEPTH, np.int8),
                          "symbol": np.full(depth.num_rows, index, np.int32),
                          "row": np.arange(len(depth_rows), len(depth_rows) + depth.num_rows, dtype=np.int32)})
            depth_rows += list(zip(*(depth[c].to_pylist() for c in ("bid_price", "bid_size", "ask_price",
                                                                     "ask_size")), strict=True))
    if not parts:
        when = f" from {start:%Y-%m-%d %H:%M} UTC" if start else ""
        raise ReplayError(f"the archive at {archive.url} has no rows of {', '.join(wanted)}{when}")
    merged = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    order = np.lexsort((merged["seq"], merged["time"]))
    quotes: dict[str, np.ndarray] = {}
    if quote_arrays:
        table = pa.concat_tables(quote_arrays, promote_options="permissive")
        quotes = {name: table[name].to_numpy(zero_copy_only=False).astype(np.float64) for name in table.column_names
                  if name != "tick"}
        ticks_text = table["tick"].cast(pa.string()).fill_null("").to_numpy(zero_copy_only=False)
        quotes["tick"] = np.select([ticks_text == k for k in ("bid", "ask", "last", "volume")], [0, 1, 2, 3],
                                   -1).astype(np.int8)
    return Tape(names, listings, merged["time"][order], merged["kind"][order], merged["symbol"][order],
                merged["row"][order], quotes, depth_rows, bar_symbols)


def _bar_path(bars: pa.Table) -> pa.Table:
    """Four quotes per bar — open, the nearer extreme, the other, close — spread over the bar."""
    if bars.num_rows == 0:
        return sc.SCHEMAS["ticks"].empty_table()
    seconds = bars["bar_seconds"].to_numpy().astype(np.int64)
    start = bars["time"].cast(pa.int64()).to_numpy()
    o, h, lo, c = (bars[n].to_numpy(zero_copy_only=False).astype(np.float64) for n in ("open", "high", "low", "close"))
    up = c >= o
    prices = np.stack([o, np.where(up, lo, h), np.where(up, h, lo), c], axis=1).ravel()
    offsets = (np.array([0, 1, 2, 3])[None, :] * seconds[:, None] * _US // 4).ravel()
    times = np.repeat(start, 4) + offsets
    volume = np.repeat(bars["volume"].to_numpy(zero_copy_only=False).astype(np.float64) / 4, 4)
    n = len(prices)
    key = bars["instrument_key"].cast(pa.string())[0].as_py()
    return sc.conform("ticks", pa.table({
        "time": pa.array(times, pa.timestamp("us", tz="UTC")), "seq": pa.array(np.arange(n, dtype=np.int64)),
        "symbol": pa.array([bars["symbol"].cast(pa.string())[0].as_py()] * n),
        "instrument_key": pa.array([key] * n), "contract_id": pa.array(np.repeat(bars["contract_id"].to_numpy(
            zero_copy_only=False), 4)), "provenance": pa.array(["replay"] * n), "event": pa.array(["tick"] * n),
        "bid": prices, "ask": prices, "last": prices, "last_size": volume, "bid_size": np.full(n, math.nan),
        "ask_size": np.full(n, math.nan), "volume": np.cumsum(volume),
    }))


class ReplayClock:
    """Replay time: paused, or ``speed`` × the loop's time since the last anchor; never past ``end``."""

    def __init__(self, start: datetime, end: datetime, speed: float = 1.0,
                 wall: Callable[[], float] = time.monotonic) -> None:
        self.start_us = int(start.timestamp() * _US)
        self.end_us = int(end.timestamp() * _US)
        self.speed = speed
        self.playing = False
        self.ended = False
        self._wall = wall
        self._anchor_wall = 0.0
        self._anchor_us = self.start_us

    def now_us(self) -> int:
        if not self.playing:
            return self._anchor_us
        return min(self.end_us, self._anchor_us + int((self._wall() - self._anchor_wall) * self.speed * _US))

    def now(self) -> datetime:
        return _dt(self.now_us())

    def _reanchor(self) -> None:
        self._anchor_us = self.now_us()
        self._anchor_wall = self._wall()

    def play(self) -> None:
        if self.ended:
            return
        self._reanchor()
        self.playing = True

    def pause(self) -> None:
        self._reanchor()
        self.playing = False

    def set_speed(self, speed: float) -> None:
        if not 0 < speed <= 1000:
            raise ValueError(f"replay speed {speed:g} must be more than 0 and at most 1000")
        self._reanchor()
        self.speed = speed

    def jump(self, micros: int) -> None:
        self._anchor_us = max(self.start_us, min(self.end_us, micros))
        self._anchor_wall = self._wall()
        self.ended = False

    def finish(self) -> None:
        self._anchor_us = self.end_us
        self.playing = False
        self.ended = True

    def state(self) -> str:
        return "ended" if self.ended else "playing" if self.playing else "paused"


class ReplayBooks:
    """The replayed state per instrument: top of book, last trade, depth, as of the tape's position."""

    def __init__(self, tape: Tape) -> None:
        self.tape = tape
        self.quote: dict[int, list[float]] = {}  # symbol index -> bid, bid_size, ask, ask_size, last, last_size, volume
        self.depth: dict[int, tuple[list[float], list[float], list[float], list[float]]] = {}
        self.time: dict[int, int] = {}
        self.high: dict[int, float] = {}
        self.low: dict[int, float] = {}

    def apply(self, i: int) -> tuple[int, int]:
        """Apply tape row ``i``; (symbol index, kind)."""
        tape = self.tape
        symbol, kind, row = int(tape.symbol[i]), int(tape.kind[i]), int(tape.row[i])
        self.time[symbol] = int(tape.time[i])
        if kind == KIND_TICK:
            q = tape.quotes
            values = [float(q[name][row]) for name in ("bid", "bid_size", "ask", "ask_size", "last", "last_size",
                                                        "volume")]
            self.quote[symbol] = values
            last = values[4]
            if math.isfinite(last):
                self.high[symbol] = max(self.high.get(symbol, last), last)
                self.low[symbol] = min(self.low.get(symbol, last), last)
        elif kind == KIND_DEPTH:
            self.depth[symbol] = tape.depth[row]
        elif kind == KIND_GAP:
            self.quote.pop(symbol, None)  # unknown through the gap: the recorder did not see it
            self.depth.pop(symbol, None)
        return symbol, kind

    def book(self, symbol: int, when: datetime) -> BookSnapshot:
        con_id = self.tape.listings[symbol].instrument.contract_id
        quote = self.quote.get(symbol)
        depth = self.depth.get(symbol)
        if depth is not None:
            bids = tuple(BookLevel(p, s) for p, s in zip(depth[0], depth[1], strict=False) if math.isfinite(p))
            asks = tuple(BookLevel(p, s) for p, s in zip(depth[2], depth[3], strict=False) if math.isfinite(p))
        elif quote is not None:
            bids = (BookLevel(quote[0], _size(quote[1])),) if math.isfinite(quote[0]) else ()
            asks = (BookLevel(quote[2], _size(quote[3])),) if math.isfinite(quote[2]) else ()
        else:
            bids = asks = ()
        last = quote[4] if quote is not None else math.nan
        return BookSnapshot(con_id, when, bids, asks, last, quote[5] if quote is not None else 0.0,
                            quote[6] if quote is not None else 0.0)


def _size(value: float) -> float:
    return value if math.isfinite(value) and value > 0 else 1.0  # a bar replay's quotes show no size: one lot


def history_from_tape(tape: Tape, symbol: int, bar_seconds: int, until_us: int, archive_bars: pd.DataFrame | None,
                      count: int) -> pd.DataFrame:
    """Bars up to the replay clock: the archive's bars of that size before the tape, then bars made of the
    tape's trades (or mids) up to ``until_us``; the last ``count`` of them. Never past the clock."""
    mask = (tape.symbol == symbol) & (tape.kind == KIND_TICK) & (tape.time <= until_us)
    rows = tape.row[mask]
    frames = []
    if archive_bars is not None and not archive_bars.empty:
        cut = pd.Timestamp(until_us, unit="us", tz="UTC")
        frames.append(archive_bars[archive_bars.index + pd.Timedelta(seconds=bar_seconds) <= cut])
    if len(rows):
        q = tape.quotes
        last = q["last"][rows]
        mid = (q["bid"][rows] + q["ask"][rows]) / 2
        price = np.where(np.isfinite(last), last, mid)
        times = pd.to_datetime(tape.time[mask], unit="us", utc=True)
        series = pd.Series(price, index=times).dropna()
        if not series.empty:
            rule = f"{bar_seconds}s"
            ohlc = series.resample(rule, label="left", closed="left").ohlc().dropna()
            size = pd.Series(np.nan_to_num(q["last_size"][rows]), index=times).resample(
                rule, label="left", closed="left").sum()
            ohlc["volume"] = size.reindex(ohlc.index).fillna(0.0)
            if frames and not frames[0].empty:
                ohlc = ohlc[ohlc.index > frames[0].index[-1]]
            frames.append(ohlc)
    if not frames:
        return pd.DataFrame(columns=["open", "high", "low", "close", "volume"],
                            index=pd.DatetimeIndex([], tz="UTC", name="time"))
    frame = pd.concat(frames)
    frame.index.name = "time"
    return frame.tail(count)
