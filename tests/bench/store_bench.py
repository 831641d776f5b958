"""Store benchmark: bars written per second and seconds to load 1,000,000 bars, SQLite and MariaDB.

Run: python tests/bench/store_bench.py [--bars N] [--mysql-url URL]
Without --mysql-url (or QT_TEST_MYSQL_URL) a private MariaDB server is started if installed.
The baseline in the same run is a plain ORM-free SQLAlchemy Core executemany insert and a
pandas.read_sql load, i.e. what the store would cost without its fast paths.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import insert, text

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from terminal.domain import BarSize, Instrument  # noqa: E402
from terminal.store import Store  # noqa: E402
from terminal.store.schema import bars as bars_table  # noqa: E402


def make_frame(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.0005, n)))
    index = pd.date_range("2015-01-01", periods=n, freq="min", tz="UTC", name="time")
    spread = np.abs(rng.normal(0, 0.02, n))
    return pd.DataFrame(
        {"open": close, "high": close + spread, "low": close - spread, "close": close,
         "volume": rng.integers(100, 10_000, n).astype(float)},
        index=index,
    )


def bench(store: Store, frame: pd.DataFrame, label: str, baseline_rows: int) -> dict[str, float]:
    instrument = Instrument("BENCH")
    store.instruments.save(instrument)
    t0 = time.perf_counter()
    store.bars.write_frame(instrument, BarSize.MIN_1, frame)
    write_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    loaded = store.bars.load_frame(instrument, BarSize.MIN_1)
    load_s = time.perf_counter() - t0
    assert len(loaded) == len(frame), (len(loaded), len(frame))

    # Baseline: SQLAlchemy Core insert of dict rows and pandas.read_sql, on another instrument.
    base = Instrument("BASE")
    iid = store.instruments.save(base)
    part = frame.iloc[:baseline_rows]
    rows = [
        {"instrument_id": iid, "bar_size": 60, "time": int(t.timestamp()), "open": o, "high": h, "low": lo,
         "close": c, "volume": v}
        for t, o, h, lo, c, v in zip(part.index, part.open, part.high, part.low, part.close, part.volume, strict=True)
    ]
    t0 = time.perf_counter()
    with store.engine.begin() as conn:
        conn.execute(insert(bars_table), rows)
    base_write_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with store.engine.connect() as conn:
        pd.read_sql(text(f"SELECT time, open, high, low, close, volume FROM bars WHERE instrument_id = {iid} "
                         "AND bar_size = 60 ORDER BY time"), conn)
    base_load_s = (time.perf_counter() - t0) * len(frame) / baseline_rows
    result = {
        "write_bars_per_s": len(frame) / write_s,
        "load_s_per_1M": load_s * 1_000_000 / len(frame),
        "baseline_write_bars_per_s": baseline_rows / base_write_s,
        "baseline_load_s_per_1M": base_load_s * 1_000_000 / len(frame),
    }
    print(f"{label:<8} write {result['write_bars_per_s']:>10,.0f} bars/s "
          f"(baseline Core insert {result['baseline_write_bars_per_s']:>9,.0f}/s, "
          f"x{result['write_bars_per_s'] / result['baseline_write_bars_per_s']:.1f})   "
          f"load 1M {result['load_s_per_1M']:.2f} s "
          f"(baseline read_sql {result['baseline_load_s_per_1M']:.2f} s, "
          f"x{result['baseline_load_s_per_1M'] / result['load_s_per_1M']:.1f})", flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--baseline-bars", type=int, default=200_000)
    parser.add_argument("--mysql-url", default=os.environ.get("QT_TEST_MYSQL_URL", ""))
    parser.add_argument("--skip-mysql", action="store_true")
    args = parser.parse_args()
    frame = make_frame(args.bars)
    print(f"store benchmark: {args.bars:,} one-minute bars; targets: SQLite write >= 200,000 bars/s, "
          "load 1M <= 1 s")
    with tempfile.TemporaryDirectory() as folder:
        store = Store.open(f"sqlite:///{Path(folder) / 'bench.sqlite'}")
        bench(store, frame, "SQLite", args.baseline_bars)
        store.close()
    if args.skip_mysql:
        return 0
    server = None
    url = args.mysql_url
    if not url:
        from tests.support.mariadb import PrivateMariaDB

        server = PrivateMariaDB()
        if server.server is None:
            print("MariaDB: not installed; pass --mysql-url or install mariadb-server")
            return 0
        url = server.start()
    try:
        store = Store.open(url)
        with store.engine.begin() as conn:
            conn.execute(text("DELETE FROM bars"))
        bench(store, frame, "MariaDB", args.baseline_bars)
        store.close()
    finally:
        if server:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
