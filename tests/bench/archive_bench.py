"""Market memory benchmark: the recorder's write path, symbol-day loads, HDFS throughput, recording the live
simulator socket, and a 1M-tick replay at 100× into the real window — each with a baseline in the same run.

1. Write path: 1,000,000 ticks (10 symbols) fed from memory through ``Recorder.ticks`` into a local Parquet
   archive, until ``close()`` returns (Arrow tables built, zstd Parquet written, fsynced, renamed).
   Baseline: the same rows through Python's csv writer.
2. Load: one symbol-day of 1,000,000 ticks from the archive (``Archive.read``), median of 5. Baselines: the
   same rows from CSV (pandas) and from an indexed SQLite table (the store's engine, one SELECT).
3. HDFS: a 64 MB file written and read through the HdfsBackend (``QT_TEST_HDFS_URL`` or ``--hdfs URL``),
   against the same bytes on local disk. Skipped, saying so, without an HDFS.
4. Live socket: the simulator as a child process (100 symbols, 50 quotes/s each) into IBBroker; ticks/s the
   client decodes without a recorder, then with one; archive rows == ticks seen (nothing dropped).
5. Replay: 1,000,000 recorded ticks (20 symbols over one hour) replayed at 100× by the replay simulator (a
   child process) into the real window (offscreen) showing them all; the lateness of a 10 ms QTimer on
   the loop (p50/p99) during the replay against the same window idle before it.

Run: QT_QPA_PLATFORM=offscreen python tests/bench/archive_bench.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402

from terminal.archive import open_archive  # noqa: E402
from terminal.archive.recorder import Recorder  # noqa: E402
from terminal.domain import Instrument  # noqa: E402

DAY = datetime(2026, 11, 24, 14, 30, tzinfo=UTC)
SYMBOLS = ["AAPL", "MSFT", "NVDA", "AMZN", "GOOG", "META", "TSLA", "AMD", "NFLX", "INTC", "JPM", "BAC", "XOM",
           "CVX", "KO", "PEP", "WMT", "COST", "DIS", "ORCL"]


def synthetic_ticks(n: int, symbols: list[str], seconds: float, seed: int = 3):
    """(symbol index, time, kind, price, size) of ``n`` ticks over ``seconds`` from DAY: a recording's shape."""
    rng = np.random.default_rng(seed)
    times = DAY.timestamp() + np.sort(rng.uniform(0, seconds, n))
    which = rng.integers(0, len(symbols), n)
    kinds = rng.choice(np.array(["bid", "ask", "last", "volume"]), n, p=[0.35, 0.35, 0.2, 0.1])
    prices = np.round(100 + np.cumsum(rng.normal(0, 0.01, n)), 2)
    sizes = rng.integers(1, 50, n) * 100.0
    return which, times, kinds, prices, sizes


def bench_write(folder: Path, n: int) -> None:
    which, times, kinds, prices, sizes = synthetic_ticks(n, SYMBOLS[:10], 3600.0)
    instruments = [Instrument(s, contract_id=1000 + i) for i, s in enumerate(SYMBOLS[:10])]
    rows = list(zip(which.tolist(), times.tolist(), kinds.tolist(), prices.tolist(), sizes.tolist(), strict=True))
    archive = open_archive(str(folder / "write"))
    recorder = Recorder(archive, "simulator", folder / "spool", batch_rows=250_000, batch_seconds=1e9)
    started = time.perf_counter()
    for index, when, kind, price, size in rows:
        recorder.ticks(instruments[index], ((when, kind, price, size),), recv=when)
    taken = time.perf_counter() - started
    stats = recorder.close()
    parquet = time.perf_counter() - started
    assert stats.written == n, stats
    size = sum(f.size for f in archive.files())
    started = time.perf_counter()
    with open(folder / "ticks.csv", "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["time", "symbol", "tick", "price", "size"])
        for index, when, kind, price, size_ in rows:
            writer.writerow((when, SYMBOLS[index], kind, price, size_))
    csv_seconds = time.perf_counter() - started
    print(f"1. write path, {n:,} ticks from memory: recorder + Parquet {n / parquet:,.0f} ticks/s ({parquet:.2f} s; "
          f"taking the rows on the caller's thread {taken:.2f} s = {taken / n * 1e6:.2f} µs/tick), "
          f"{size / 1e6:.1f} MB zstd; baseline csv writer {n / csv_seconds:,.0f} rows/s "
          f"({(folder / 'ticks.csv').stat().st_size / 1e6:.1f} MB); ratio {csv_seconds / parquet:.2f}x")


def bench_load(folder: Path, n: int) -> None:
    import pandas as pd

    which, times, kinds, prices, sizes = synthetic_ticks(n, ["AAPL"], 6.5 * 3600)
    archive = open_archive(str(folder / "load"))
    recorder = Recorder(archive, "simulator", folder / "spool-load", batch_rows=n + 1, batch_seconds=1e9)
    aapl = Instrument("AAPL", contract_id=265598)
    for when, kind, price, size in zip(times.tolist(), kinds.tolist(), prices.tolist(), sizes.tolist(), strict=True):
        recorder.ticks(aapl, ((when, kind, price, size),), recv=when)
    recorder.close()
    start, end = DAY.replace(hour=0, minute=0), DAY.replace(hour=23, minute=59)

    def median(action, repeat: int = 5) -> float:
        samples = []
        for _ in range(repeat):
            began = time.perf_counter()
            action()
            samples.append(time.perf_counter() - began)
        return statistics.median(samples)

    table = archive.read("ticks", "AAPL", start, end)
    assert table.num_rows == n
    parquet = median(lambda: archive.read("ticks", "AAPL", start, end))
    frame = table.to_pandas()
    frame.to_csv(folder / "day.csv", index=False)
    csv_seconds = median(lambda: pd.read_csv(folder / "day.csv"), 3)
    database = sqlite3.connect(folder / "ticks.sqlite")
    database.execute("CREATE TABLE ticks (symbol TEXT, time INTEGER, seq INTEGER, bid REAL, bid_size REAL, ask REAL,"
                     " ask_size REAL, last REAL, last_size REAL, volume REAL, PRIMARY KEY (symbol, time, seq))")
    micros = table["time"].cast("int64").to_numpy()
    columns = [table[c].to_numpy(zero_copy_only=False) for c in ("seq", "bid", "bid_size", "ask", "ask_size", "last",
                                                                   "last_size", "volume")]
    database.executemany("INSERT INTO ticks VALUES (?,?,?,?,?,?,?,?,?,?)",
                         (("AAPL", int(t), *(float(c[i]) if c.dtype.kind == "f" else int(c[i]) for c in columns))
                          for i, t in enumerate(micros)))
    database.commit()
    query = "SELECT * FROM ticks WHERE symbol = ? AND time BETWEEN ? AND ?"
    bounds = ("AAPL", int(start.timestamp() * 1e6), int(end.timestamp() * 1e6))
    sqlite_seconds = median(lambda: np.array(database.execute(query, bounds).fetchall(), dtype=object), 3)
    database.close()
    print(f"2. load one symbol-day of {n:,} ticks: archive {parquet * 1000:.0f} ms (median of 5); baselines CSV "
          f"(pandas) {csv_seconds * 1000:.0f} ms = {csv_seconds / parquet:.1f}x slower, SQLite (indexed) "
          f"{sqlite_seconds * 1000:.0f} ms = {sqlite_seconds / parquet:.1f}x slower")


def bench_hdfs(folder: Path, url: str | None) -> None:
    if not url:
        print("3. HDFS: skipped (no QT_TEST_HDFS_URL or --hdfs; scripts/start-hdfs.sh starts one)")
        return
    from terminal.archive.backends import LocalBackend, open_backend

    data = os.urandom(64 << 20)
    results = []
    for name, backend in (("HDFS", open_backend(f"{url.rstrip('/')}/bench-{os.getpid()}")),
                          ("local disk", LocalBackend(folder / "bytes"))):
        began = time.perf_counter()
        backend.write("x/file.bin", data)
        write = time.perf_counter() - began
        began = time.perf_counter()
        assert backend.read("x/file.bin") == data
        read = time.perf_counter() - began
        backend.delete("x/file.bin")
        results.append((name, 64 / write, 64 / read))
    (_, hw, hr), (_, lw, lr) = results
    print(f"3. HDFS 64 MB: write {hw:.0f} MB/s, read {hr:.0f} MB/s; baseline local disk write {lw:.0f} MB/s, "
          f"read {lr:.0f} MB/s")


async def _live(folder: Path, seconds: float, count: int, rate: float) -> None:
    from terminal.broker import events as ev
    from terminal.broker.ib import IBBroker
    from terminal.services.market import MarketService
    from terminal.services.recording import RecordingRequest, RecordingService
    from terminal.sim.contracts import Universe
    from terminal.sim.process import SimulatorProcess

    simulator = SimulatorProcess(7, tick_rate=rate)
    await simulator.start()
    broker = IBBroker()
    await broker.connect("127.0.0.1", simulator.port, 4)
    market = MarketService(broker)
    stocks = [symbol for symbol, listings in Universe().by_symbol.items()
              if listings[0].instrument.sec_type.value == "STK"][:count]
    instruments = tuple([await market.qualify(s) for s in stocks])
    counted = [0]

    def tally(event) -> None:  # type: ignore[no-untyped-def]
        if isinstance(event, ev.TickEvent):
            counted[0] += len(event.ticks)

    broker.events.subscribe(tally)
    broker.record_ticks = True
    for instrument in instruments:
        await broker.subscribe_quotes(instrument)
    await asyncio.sleep(2.0)
    counted[0] = 0
    await asyncio.sleep(seconds)
    bare = counted[0] / seconds
    archive = open_archive(str(folder / "live"))
    service = RecordingService(broker, archive, "simulator", folder / "spool-live", batch_seconds=2.0)
    await service.start(RecordingRequest(instruments, bars=False))
    counted[0] = 0
    began = time.perf_counter()
    await asyncio.sleep(seconds)
    stats = await service.stop()
    elapsed = time.perf_counter() - began
    rows = sum(archive.read("ticks", s).num_rows for s in archive.symbols("ticks"))
    await broker.disconnect()
    await simulator.stop()
    lost = service.ticks_seen - rows
    print(f"4. live simulator socket, {count} symbols at {rate:g} quotes/s: client decodes {bare:,.0f} ticks/s "
          f"without a recorder, {counted[0] / elapsed:,.0f} ticks/s while recording ({service.ticks_seen / elapsed:,.0f} "
          f"recorded/s); {rows:,} rows in the archive for {service.ticks_seen:,} ticks seen: "
          f"{'nothing lost or doubled' if lost == 0 else f'{lost} MISSING'}; {stats.failures} failed batches")


def bench_replay(folder: Path, n: int) -> None:
    import qasync
    from PySide6.QtWidgets import QApplication

    from terminal.config import load_settings
    from terminal.services.replay import ReplayRequest
    from terminal.sim.contracts import Universe
    from terminal.ui.main import build_session, open_window, settle_heap
    from tests.support.lag import TimerLag

    universe = Universe()
    instruments = [universe.by_symbol[s][0].instrument for s in SYMBOLS]
    which, times, kinds, prices, sizes = synthetic_ticks(n, SYMBOLS, 3600.0, seed=5)
    archive = open_archive(str(folder / "replay"))
    recorder = Recorder(archive, "simulator", folder / "spool-replay", batch_rows=500_000, batch_seconds=1e9)
    base = {i: universe.by_symbol[s][0].start_price for i, s in enumerate(SYMBOLS)}
    offsets = prices - 100
    for index, when, kind, offset, size in zip(which.tolist(), times.tolist(), kinds.tolist(), offsets.tolist(),
                                               sizes.tolist(), strict=True):
        recorder.ticks(instruments[index], ((when, kind, round(base[index] + offset, 2), size),), recv=when)
    recorder.close()

    app = QApplication.instance() or QApplication([])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    settings = load_settings(config_path=folder / "none.toml", environ={"QT_NO_KEYRING": "1"},
                             overrides={"db_url": f"sqlite:///{folder / 'replay.sqlite'}", "confirm_orders": False})
    session = build_session(settings)
    session.set_replay(ReplayRequest(str(folder / "replay"), speed=100.0, paused=True))

    async def run() -> None:
        window = await open_window(session)
        window.resize(1600, 950)
        window.show()
        for symbol in SYMBOLS:
            await window.watchlist.add_symbol(symbol)
        window.show_instrument(session.market.instrument_for_symbol("AAPL"))
        settle_heap()
        quotes = [0]
        session.market.quote_updated.connect(lambda _: quotes.__setitem__(0, quotes[0] + 1))
        idle = TimerLag().start()
        await asyncio.sleep(5.0)
        idle.stop()
        lag = TimerLag().start()
        began = time.perf_counter()
        session.replay.play()
        while session.replay.clock is None or session.replay.clock.state != "ended":
            await asyncio.sleep(0.1)
        elapsed = time.perf_counter() - began
        lag.stop()
        p = lambda values, q: float(np.percentile(values, q)) if values else float("nan")  # noqa: E731
        print(f"5. replay of {n:,} recorded ticks (20 symbols, one hour) at 100x into the real window: played in "
              f"{elapsed:.1f} s ({n / elapsed:,.0f} ticks/s), {quotes[0]:,} quote updates delivered; Qt loop lag "
              f"p50 {p(lag.lags, 50):.1f} ms, p99 {p(lag.lags, 99):.1f} ms, max {max(lag.lags):.0f} ms; baseline "
              f"the same window idle p50 {p(idle.lags, 50):.1f} ms, p99 {p(idle.lags, 99):.1f} ms")
        await session.stop()
        window.close()

    with loop:
        loop.run_until_complete(run())
    session.store.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="100,000 ticks instead of 1,000,000")
    parser.add_argument("--hdfs", default=os.environ.get("QT_TEST_HDFS_URL"))
    parser.add_argument("--live-seconds", type=float, default=10.0)
    parser.add_argument("--live-symbols", type=int, default=100)
    parser.add_argument("--live-rate", type=float, default=50.0, help="quotes per second per symbol")
    parser.add_argument("--only", type=int, action="append", help="run only these sections (1-5)")
    args = parser.parse_args()
    n = 100_000 if args.quick else 1_000_000
    wanted = set(args.only or [1, 2, 3, 4, 5])
    with tempfile.TemporaryDirectory(prefix="qt-archive-bench-") as temporary:
        folder = Path(temporary)
        if 1 in wanted:
            bench_write(folder, n)
        if 2 in wanted:
            bench_load(folder, n)
        if 3 in wanted:
            bench_hdfs(folder, args.hdfs)
        if 4 in wanted:
            asyncio.run(_live(folder, args.live_seconds, args.live_symbols, args.live_rate))
        if 5 in wanted:
            bench_replay(folder, n)


if __name__ == "__main__":
    main()

