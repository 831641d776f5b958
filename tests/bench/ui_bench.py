"""UI benchmark: 500 watchlist symbols at 20 quote updates/s each, fed on the Qt loop.

Prints the lateness of a 10 ms QTimer (p50/p99: how long the loop makes a waiting
event wait), the time the table view spends painting a frame (p50/p99, and frames/s),
and the quote updates received and rows repainted per second, for the
coalescing WatchlistModel (repaint at 20 Hz) against a baseline in the same run that
emits dataChanged for every quote, the way a naive model does.

Run: QT_QPA_PLATFORM=offscreen python tests/bench/ui_bench.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402
from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication, QTableView  # noqa: E402

from terminal.domain import Instrument, Quote  # noqa: E402
from terminal.ui.models.watchlist import WatchlistModel  # noqa: E402


class NaiveWatchlistModel(WatchlistModel):
    """Baseline: repaint the row on every quote."""

    def update_quote(self, key: str, quote: Quote) -> None:
        super().update_quote(key, quote)
        row = self.row_of(key)
        if row >= 0:
            self.updates_applied += 1
            self.dataChanged.emit(self.index(row, 0), self.index(row, self.columnCount() - 1))
            self._dirty.discard(row)


class TimedTableView(QTableView):
    """The view, with the time of each paint recorded (the part of a frame the lag probe may not catch)."""

    def __init__(self) -> None:
        super().__init__()
        self.paint_ms: list[float] = []

    def paintEvent(self, event) -> None:  # type: ignore[no-untyped-def]  # noqa: N802
        started = time.perf_counter()
        super().paintEvent(event)
        self.paint_ms.append((time.perf_counter() - started) * 1000)


def run(model_cls: type[WatchlistModel], seconds: float, symbols: int, rate: float) -> dict[str, float]:
    app = QApplication.instance() or QApplication([])
    model = model_cls()
    instruments = [Instrument(f"S{i:03d}") for i in range(symbols)]
    model.set_instruments(instruments)
    view = TimedTableView()
    view.setModel(model)
    view.resize(1000, 900)
    view.show()
    rng = np.random.default_rng(1)
    prices = 100 + rng.normal(0, 5, symbols)
    lags: list[float] = []
    per_batch_ms = 5.0  # deliver quotes in batches every 5 ms, as a socket reader would
    cursor = 0
    expected = [time.perf_counter() + 0.010]

    def on_probe() -> None:
        now = time.perf_counter()
        lags.append(max(0.0, now - expected[0]) * 1000)
        expected[0] = now + 0.010

    def feed() -> None:
        nonlocal cursor
        due = int((time.perf_counter() - start) * symbols * rate) - cursor  # keep the offered rate exact
        for _ in range(max(0, due)):
            i = cursor % symbols
            cursor += 1
            prices[i] += rng.normal(0, 0.02)
            last = round(prices[i], 2)
            model.update_quote(instruments[i].key, Quote(instruments[i].symbol, bid=last - 0.01, ask=last + 0.01,
                                                         last=last, bid_size=300, ask_size=200, volume=cursor,
                                                         close=100.0))

    probe = QTimer()
    probe.setInterval(10)
    probe.timeout.connect(on_probe)
    feeder = QTimer()
    feeder.setInterval(int(per_batch_ms))
    feeder.timeout.connect(feed)
    start = time.perf_counter()
    probe.start()
    feeder.start()
    while time.perf_counter() - start < seconds:
        app.processEvents()
    probe.stop()
    feeder.stop()
    elapsed = time.perf_counter() - start
    view.close()
    return {
        "p50": statistics.median(lags) if lags else math.nan,
        "p99": float(np.percentile(lags, 99)) if lags else math.nan,
        "paint_p50": statistics.median(view.paint_ms) if view.paint_ms else math.nan,
        "paint_p99": float(np.percentile(view.paint_ms, 99)) if view.paint_ms else math.nan,
        "frames_per_s": len(view.paint_ms) / elapsed,
        "received_per_s": model.updates_received / elapsed,
        "applied_per_s": model.updates_applied / elapsed,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--rate", type=float, default=20.0, help="quote updates per second per symbol")
    args = parser.parse_args()
    print(f"watchlist: {args.symbols} symbols x {args.rate:g} updates/s = {args.symbols * args.rate:,.0f} quotes/s "
          f"offered, {args.seconds:g} s each; target p99 lag <= 30 ms")
    results = {}
    for label, cls in (("coalesced (ours)", WatchlistModel), ("per-quote repaint", NaiveWatchlistModel)):
        r = run(cls, args.seconds, args.symbols, args.rate)
        results[label] = r
        print(f"{label:<18} timer lag p50 {r['p50']:5.2f} ms p99 {r['p99']:5.2f} ms   paint p50 {r['paint_p50']:5.2f} ms "
              f"p99 {r['paint_p99']:5.2f} ms at {r['frames_per_s']:4.0f} frames/s   quotes received "
              f"{r['received_per_s']:>6,.0f}/s   row repaints {r['applied_per_s']:>6,.0f}/s", flush=True)
    ours, naive = results["coalesced (ours)"], results["per-quote repaint"]
    print(f"ratio: p99 lag naive/ours = {naive['p99'] / max(ours['p99'], 1e-3):.1f}x, "
          f"repaints naive/ours = {naive['applied_per_s'] / max(ours['applied_per_s'], 1e-3):.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
