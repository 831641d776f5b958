"""The recorder: every tick, depth update and live bar of chosen instruments, numbered and written to the archive.

Rows are appended to plain column lists on the caller's thread (the UI loop: about a microsecond
a tick) and handed over whole, every ``batch_seconds`` or ``batch_rows``, to one writer thread
that builds the Arrow tables and writes them. Before a batch goes to the archive it is written to
a local spool file (Arrow IPC, fsynced); the spool file is removed once the archive holds the
batch, so a batch survives an unreachable share or a crash of the writer, and ``recover`` (run
by every new recorder on the same spool folder) writes what an earlier one left behind. Archive
file names come from the recording and the first sequence number, so writing a batch again
replaces the file instead of adding one.

Memory is bounded: at most ``batch_rows`` rows are buffered and ``max_pending`` batches wait for
the writer; past that, ``flush`` waits for the oldest (and says so in the log) rather than grow.

Each row has ``seq``, one sequence per recording across kinds and symbols, and ``recv_time``;
``gap`` writes ``gap_start`` / ``gap_end`` marker rows for every recorded instrument, so a reader
can tell "nothing happened" from "we were not connected".

A source that can be read again from a position (the desk bus on Kafka) says with ``mark`` how far its
rows go; each batch's positions go into its spool files and the spool's ledger (``positions``) before
the batch goes to the archive, and ``on_durable`` is told them then (on the writer thread), so the
source can forget what is safe (commit its offsets) and never earlier.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import threading
import time as _time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from terminal.archive import positions as ledger
from terminal.archive import schema as sc
from terminal.archive.archive import Archive
from terminal.domain import Bar, Instrument

log = logging.getLogger(__name__)

BID, ASK, LAST, VOLUME = "bid", "ask", "last", "volume"
_TICK_VALUES = ("tick", "bid", "bid_size", "ask", "ask_size", "last", "last_size", "volume")
TICK_KINDS = (BID, ASK, LAST, VOLUME)
_TICK_INDEX = {kind: i for i, kind in enumerate(TICK_KINDS)}
_BAR_VALUES = ("open", "high", "low", "close", "volume")


def archive_symbol(instrument: Instrument) -> str:
    """The partition name of an instrument: its symbol (``EUR.USD`` for FX; a future's contract month,
    ``ESZ6``, since ``ES`` is also a stock and each month is its own series)."""
    if instrument.sec_type.value == "CASH":
        return f"{instrument.symbol}.{instrument.currency}"
    if instrument.sec_type.value == "FUT" and instrument.local_symbol:
        return instrument.local_symbol
    return instrument.symbol


def new_recording_id(now: datetime | None = None) -> str:
    """``YYYYMMDDTHHMMSSZ-xxxxxx``: sorts by start time, unique across machines writing one archive."""
    return f"{(now or datetime.now(UTC)):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


@dataclass
class _Columns:
    """One kind's rows since the last flush, as parallel lists."""

    kind: str
    time: list[float] = field(default_factory=list)
    recv_time: list[float] = field(default_factory=list)
    seq: list[int] = field(default_factory=list)
    instrument: list[int] = field(default_factory=list)
    event: list[int] = field(default_factory=list)  # index into EVENTS
    values: dict[str, list] = field(default_factory=dict)  # type: ignore[type-arg]

    def __post_init__(self) -> None:
        names = {"ticks": _TICK_VALUES, "depth": ("bid_price", "bid_size", "ask_price", "ask_size"),
                 "bars": ("bar_seconds",) + _BAR_VALUES}[self.kind]
        self.values = {name: [] for name in names}

    def __len__(self) -> int:
        return len(self.seq)


EVENTS = (sc.EVENT_TICK, sc.EVENT_GAP_START, sc.EVENT_GAP_END)


@dataclass
class _Quote:
    bid: float = math.nan
    bid_size: float = math.nan
    ask: float = math.nan
    ask_size: float = math.nan
    last: float = math.nan
    last_size: float = math.nan
    volume: float = math.nan


@dataclass
class RecorderStats:
    rows: int = 0  # taken
    written: int = 0  # in the archive
    files: int = 0
    batches: int = 0
    gaps: int = 0
    failures: int = 0
    last_error: str = ""


class Recorder:
    def __init__(self, archive: Archive, provenance: str, spool_dir: Path, recording: str | None = None,
                 batch_rows: int = 500_000, batch_seconds: float = 300.0, max_pending: int = 4,
                 clock: Callable[[], float] = _time.time,
                 on_durable: Callable[[dict[str, int]], None] | None = None) -> None:
        self.archive = archive
        self.provenance = provenance
        self.recording = recording or new_recording_id()
        self.spool_dir = spool_dir
        self.batch_rows = batch_rows
        self.batch_seconds = batch_seconds
        self.max_pending = max_pending
        self.clock = clock
        self.on_durable = on_durable
        self.stats = RecorderStats()
        self._seq = 0
        self._instruments: list[Instrument] = []
        self._index: dict[str, int] = {}
        self._quotes: dict[int, _Quote] = {}
        self._recorded: dict[str, set[int]] = {kind: set() for kind in sc.KINDS}
        self._columns = {kind: _Columns(kind) for kind in sc.KINDS}
        self._marks: dict[str, dict[str, int]] = {kind: {} for kind in sc.KINDS}
        self._buffered = 0
        self._last_flush = clock()
        self._pending: deque[Future[None]] = deque()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qt-recorder")
        self._lock = threading.Lock()  # guards stats written from the writer thread
        self._closed = False
        spool_dir.mkdir(parents=True, exist_ok=True)
        self._pending.append(self._writer.submit(self._recover))

    @property
    def buffered(self) -> int:
        """Rows taken and not handed to the writer yet."""
        return self._buffered

    # --- taking rows (caller's thread) ---------------------------------------------------------
    def mark(self, kind: str, stream: str, position: int) -> None:
        """The ``kind`` rows taken from now on, up to the next mark, come from ``stream`` before ``position``.

        Call it before taking a record's rows (or for a record that gives none): the batch that holds
        them then holds the mark, never a mark without its rows."""
        self._marks[kind][stream] = position

    def safe_positions(self) -> dict[str, int]:
        """Each stream's position up to which its rows are in this spool folder or the archive (file I/O)."""
        return ledger.safe(self.spool_dir)

    def _instrument(self, instrument: Instrument) -> int:
        index = self._index.get(instrument.key)
        if index is None:
            index = self._index[instrument.key] = len(self._instruments)
            self._instruments.append(instrument)
        return index

    def _row(self, kind: str, index: int, when: float, event: int = 0, recv: float | None = None) -> _Columns:
        columns = self._columns[kind]
        columns.time.append(when)
        columns.recv_time.append(self.clock() if recv is None else recv)
        columns.seq.append(self._seq)
        columns.instrument.append(index)
        columns.event.append(event)
        self._seq += 1
        self._buffered += 1
        self._recorded[kind].add(index)
        return columns

    def ticks(self, instrument: Instrument, ticks: Sequence[tuple[float, str, float, float]],
              recv: float | None = None) -> None:
        """Ticks of one instrument as they came: (epoch seconds, bid|ask|last|volume, price, size).

        Each becomes a row with the whole top of book after it; NaN: not known yet."""
        index = self._instrument(instrument)
        quote = self._quotes.get(index)
        if quote is None:
            quote = self._quotes[index] = _Quote()
        recv = self.clock() if recv is None else recv
        for when, kind, price, size in ticks:
            if kind == BID:
                quote.bid, quote.bid_size = price, size
            elif kind == ASK:
                quote.ask, quote.ask_size = price, size
            elif kind == LAST:
                quote.last, quote.last_size = price, size
            elif kind == VOLUME:
                quote.volume = size
            else:
                continue
            values = self._row("ticks", index, when, recv=recv).values
            values["tick"].append(_TICK_INDEX[kind])
            values["bid"].append(quote.bid)
            values["bid_size"].append(quote.bid_size)
            values["ask"].append(quote.ask)
            values["ask_size"].append(quote.ask_size)
            values["last"].append(quote.last)
            values["last_size"].append(quote.last_size)
            values["volume"].append(quote.volume)
        self._maybe_flush()

    def depth(self, instrument: Instrument, when: float, bids: Sequence[tuple[float, float]],
              asks: Sequence[tuple[float, float]], recv: float | None = None) -> None:
        """The whole book after an update, best level first."""
        values = self._row("depth", self._instrument(instrument), when, recv=recv).values
        values["bid_price"].append([p for p, _ in bids])
        values["bid_size"].append([s for _, s in bids])
        values["ask_price"].append([p for p, _ in asks])
        values["ask_size"].append([s for _, s in asks])
        self._maybe_flush()

    def bar(self, instrument: Instrument, bar: Bar, bar_seconds: int, recv: float | None = None) -> None:
        values = self._row("bars", self._instrument(instrument), bar.time.timestamp(), recv=recv).values
        values["bar_seconds"].append(bar_seconds)
        for name in _BAR_VALUES:
            values[name].append(getattr(bar, name))
        self._maybe_flush()

    def gap(self, start: bool, when: float | None = None) -> None:
        """A ``gap_start`` (connection lost) or ``gap_end`` (back) row for every instrument recorded so far."""
        when = self.clock() if when is None else when
        event = 1 if start else 2
        for kind in ("ticks", "depth"):
            for index in sorted(self._recorded[kind]):
                values = self._row(kind, index, when, event=event).values
                for name, column in values.items():
                    column.append([] if kind == "depth" else -1 if name == "tick" else math.nan)
        if start:
            self.stats.gaps += 1
            self._quotes.clear()  # after the gap the book is rebuilt from what comes, not carried over

    # --- handing over ----------------------------------------------------------------------------
    def _maybe_flush(self) -> None:
        if self._buffered >= self.batch_rows:
            self.flush()
        else:
            self.flush_if_due()

    def flush_if_due(self) -> None:
        """Flush when ``batch_seconds`` have passed since the last one (a timer calls it when no rows come)."""
        if self.clock() - self._last_flush >= self.batch_seconds:
            self.flush()

    def flush(self) -> None:
        """Hand what is buffered to the writer (returns at once unless ``max_pending`` batches wait)."""
        self._last_flush = self.clock()
        marks = {kind: m for kind, m in self._marks.items() if m}
        if not self._buffered and not marks:
            return
        columns, self._columns = self._columns, {kind: _Columns(kind) for kind in sc.KINDS}
        self._marks = {kind: {} for kind in sc.KINDS}
        self.stats.rows += self._buffered
        self._buffered = 0
        instruments = list(self._instruments)
        while len(self._pending) >= self.max_pending:
            log.warning("recorder: the archive at %s is behind (%d batches waiting); waiting for it",
                        self.archive.url, len(self._pending))
            self._pending.popleft().result()
        while self._pending and self._pending[0].done():
            self._pending.popleft()
        self._pending.append(self._writer.submit(self._write_batch, columns, instruments, marks, self.provenance))

    def discard(self) -> int:
        """Drop the rows (and marks) not handed to the writer yet: for a source that sends them again to
        the next recorder (a stop without flush). Returns how many rows were dropped."""
        dropped = self._buffered
        self._columns = {kind: _Columns(kind) for kind in sc.KINDS}
        self._marks = {kind: {} for kind in sc.KINDS}
        self._buffered = 0
        return dropped

    def close(self, timeout: float | None = None) -> RecorderStats:
        """Flush and wait until the archive holds everything (or the spool does, if the archive failed)."""
        if not self._closed:
            self.flush()
            self._closed = True
            self._pending.append(self._writer.submit(self._recover))  # retry what failed earlier once more
            self._writer.shutdown(wait=True)
        return self.stats

    def wait(self) -> None:
        """Block until every batch handed over so far is written (tests, benchmarks)."""
        for future in list(self._pending):
            future.result()

    # --- writer thread -----------------------------------------------------------------------------
    def _write_batch(self, columns: dict[str, _Columns], instruments: list[Instrument],
                     marks: dict[str, dict[str, int]], provenance: str) -> None:
        spooled = []
        for kind, rows in columns.items():
            if not len(rows):
                continue
            table = self._table(kind, rows, instruments, provenance)
            spool = self.spool_dir / f"{self.recording}-{rows.seq[0]:012d}.{kind}.arrow"
            temporary = spool.with_name("_" + spool.name)
            on_disk = table.replace_schema_metadata({ledger.META_POSITIONS: ledger.encode(marks[kind])}) \
                if kind in marks else table
            with open(temporary, "wb") as file:
                with ipc.new_file(file, on_disk.schema) as writer:
                    writer.write_table(on_disk)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, spool)
            spooled.append((spool, kind, table))
        reached = {stream: position for kind_marks in marks.values() for stream, position in kind_marks.items()}
        if reached:
            ledger.record(self.spool_dir, reached)
            if self.on_durable is not None:
                try:
                    self.on_durable(reached)
                except Exception:  # the source's trouble must not cost the batch its way to the archive
                    log.exception("recorder: on_durable failed for %s", reached)
        for spool, kind, table in spooled:
            self._archive_spool(spool, kind, table)

    def _archive_spool(self, spool: Path, kind: str, table: pa.Table, reached: dict[str, int] | None = None) -> None:
        try:
            files = self.archive.write(kind, table)
        except Exception as exc:  # an unreachable share: the spool keeps the batch for the next try
            with self._lock:
                self.stats.failures += 1
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
            log.error("recorder: cannot write %d %s rows to %s (%s); kept in %s for the next try",
                      table.num_rows, kind, self.archive.url, exc, spool)
            return
        if reached:  # a spool file from before: its positions into the ledger before the file goes
            ledger.record(self.spool_dir, reached)
        spool.unlink(missing_ok=True)
        with self._lock:
            self.stats.written += table.num_rows
            self.stats.files += len(files)
            self.stats.batches += 1

    def _recover(self) -> None:
        """Write every spool file left in the folder (by this recorder or an earlier one) to the archive."""
        for spool in sorted(self.spool_dir.glob("*.arrow")):
            if spool.name.startswith("_"):
                continue
            kind = spool.name.rsplit(".", 2)[-2]
            try:
                with ipc.open_file(pa.memory_map(str(spool))) as reader:
                    table = reader.read_all()
            except (OSError, pa.ArrowInvalid) as exc:
                log.error("recorder: spool file %s cannot be read (%s); left in place", spool, exc)
                continue
            self._archive_spool(spool, kind, table, ledger.decode((table.schema.metadata or {}).get(
                ledger.META_POSITIONS)))

    def _table(self, kind: str, rows: _Columns, instruments: list[Instrument], provenance: str) -> pa.Table:
        n = len(rows)
        index = pa.array(np.asarray(rows.instrument, dtype=np.int32))

        def text(values: list[str]) -> pa.DictionaryArray:
            return pa.DictionaryArray.from_arrays(index, pa.array(values, pa.string()))

        def constant(value: str) -> pa.DictionaryArray:
            return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)), pa.array([value]))

        columns: dict[str, pa.Array] = {
            "time": _timestamps(rows.time),
            "recv_time": _timestamps(rows.recv_time),
            "seq": pa.array(np.asarray(rows.seq, dtype=np.int64)),
            "symbol": text([archive_symbol(i) for i in instruments]),
            "instrument_key": text([i.key for i in instruments]),
            "contract_id": pa.array(np.asarray([instruments[i].contract_id or 0 for i in rows.instrument],
                                               dtype=np.int64)),
            "provenance": constant(provenance),
            "recording": constant(self.recording),
            "event": pa.DictionaryArray.from_arrays(pa.array(np.asarray(rows.event, dtype=np.int32)),
                                                    pa.array(list(EVENTS))),
        }
        for name, values in rows.values.items():
            if kind == "depth":
                columns[name] = pa.array(values, pa.list_(pa.float64()))
            elif name == "tick":
                codes = np.asarray(values, dtype=np.int32)
                columns[name] = pa.DictionaryArray.from_arrays(pa.array(codes, mask=codes < 0), pa.array(TICK_KINDS))
            elif name == "bar_seconds":
                columns[name] = pa.array(np.asarray(values, dtype=np.int32))
            else:
                columns[name] = pa.array(np.asarray(values, dtype=np.float64), from_pandas=True)
        return sc.conform(kind, pa.table(columns))


def _timestamps(seconds: list[float]) -> pa.Array:
    micros = np.round(np.asarray(seconds, dtype=np.float64) * 1e6).astype(np.int64)
    return pa.array(micros, pa.timestamp("us", tz="UTC"))
