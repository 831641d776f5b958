"""Visual review benchmark: journal sync over many fills, a step-through's cost per bar on the real chart, and
the results dock's Monte Carlo — each with a baseline measured in the same run.

1. Journal: 20,000 stored fills (2 accounts × 5 symbols, round trips of 1–3 fills a leg) paired FIFO into
   round trips and stored, cold (nothing journaled) and warm (a second sync: nothing new). Baseline: reading
   the same fills from the store alone (``store.fills.list``).
2. Step-through: 500 bars stepped on the real chart (offscreen) with the strategy's indicators, fills and
   order lines, per bar. Baseline: the chart's own ``append_bar`` of the same bars with nothing else.
3. Monte Carlo: 1,000 paths of the SMA crossover's 65 GOOG trades. Baseline: one numpy cumulative product of
   the same size.

Run: QT_QPA_PLATFORM=offscreen python tests/bench/review_bench.py
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402


def journal(folder: str) -> None:
    from terminal.domain import Fill, Instrument, OrderSide, Provenance
    from terminal.services.journal import JournalService
    from terminal.store import Store

    store = Store.open(f"sqlite:///{folder}/bench.sqlite")
    rng = np.random.default_rng(5)
    symbols = [Instrument(s) for s in ("AAPL", "MSFT", "NVDA", "AMZN", "META")]
    t0 = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
    n = 0
    while n < 20_000:
        instrument = symbols[int(rng.integers(len(symbols)))]
        account = f"DU{int(rng.integers(2))}"
        qty = float(rng.integers(1, 10) * 100)
        side = OrderSide.BUY if rng.random() < 0.5 else OrderSide.SELL
        for leg_side in (side, OrderSide.SELL if side is OrderSide.BUY else OrderSide.BUY):
            parts = int(rng.integers(1, 4))
            for _ in range(parts):
                n += 1
                store.fills.save(Fill(f"e{n}", n, instrument, leg_side, qty / parts, 100 + rng.normal(),
                                      t0 + timedelta(seconds=n * 7), 0.35, account, f"c{n}",
                                      provenance=Provenance.SIMULATOR))
    service = JournalService(store)
    started = time.perf_counter()
    fills = store.fills.list(limit=10**9)
    baseline = time.perf_counter() - started
    started = time.perf_counter()
    added = asyncio.run(service.sync())
    cold = time.perf_counter() - started
    started = time.perf_counter()
    again = asyncio.run(service.sync())
    warm = time.perf_counter() - started
    print(f"journal: {len(fills):,} fills → {added:,} round trips: cold sync {cold:.2f} s "
          f"({len(fills) / cold:,.0f} fills/s), warm {warm:.2f} s ({again} new); baseline reading the fills "
          f"{baseline:.2f} s → cold {cold / baseline:.1f}×, warm {warm / baseline:.1f}× the read")
    store.close()


def step_through():  # type: ignore[no-untyped-def]
    import backtesting
    from PySide6.QtWidgets import QApplication

    from terminal.backtest.runner import BacktestRequest, result_to_json, run_in_worker
    from terminal.backtest.step_trace import StepTrace
    from terminal.data import read_bars_csv
    from terminal.domain import Bar, Instrument
    from terminal.services.backtests import BacktestService
    from terminal.services.step_through import StepThroughController
    from terminal.ui.chart import ChartWidget
    from terminal.ui.panels.step_through import StepThroughPanel
    from terminal.ui.theme import DARK

    app = QApplication.instance() or QApplication([])
    goog = read_bars_csv(Path(backtesting.__file__).parent / "test" / "GOOG.csv")
    result = run_in_worker(BacktestRequest(BacktestService.template_source("sma_cross"), {"GOOG": goog},
                                           "sma_cross", trace=True))
    trace = StepTrace.from_run(result_to_json(result), {"GOOG": goog})
    chart = ChartWidget()
    chart.resize(1000, 560)
    chart.show()
    chart.set_data(goog.iloc[:1000])
    app.processEvents()
    started = time.perf_counter()
    for i in range(1000, 1500):
        row = goog.iloc[i]
        chart.append_bar(Bar(goog.index[i].to_pydatetime(), row.open, row.high, row.low, row.close, row.volume))
        app.processEvents()
    baseline = (time.perf_counter() - started) / 500
    controller = StepThroughController(trace)
    panel = StepThroughPanel(DARK)
    panel.attach(controller, ChartWidget(), Instrument("GOOG"))
    panel.chart.resize(1000, 560)
    panel.chart.show()
    controller.seek(1000)
    app.processEvents()
    started = time.perf_counter()
    for _ in range(500):
        controller.step()
        app.processEvents()
    per_bar = (time.perf_counter() - started) / 500
    print(f"step-through: {per_bar * 1000:.1f} ms per bar (chart, indicators, fills, order lines, the dock) "
          f"→ up to {1 / per_bar:,.0f} bars/s; baseline the chart's append_bar alone {baseline * 1000:.1f} ms "
          f"({per_bar / baseline:.1f}×)")
    return result


def monte_carlo(result) -> None:  # type: ignore[no-untyped-def]
    from terminal.analytics.montecarlo import bootstrap, trade_returns
    from terminal.backtest.runner import result_to_json

    run = result_to_json(result)
    returns = trade_returns(run["trades"], run["equity"])
    started = time.perf_counter()
    for _ in range(20):
        mc = bootstrap(returns, 100_000.0, paths=1000)
    took = (time.perf_counter() - started) / 20
    draws = np.random.default_rng(1).normal(0, 0.05, (1000, len(returns)))
    started = time.perf_counter()
    for _ in range(20):
        np.cumprod(1 + draws, axis=1)
    baseline = (time.perf_counter() - started) / 20
    print(f"Monte Carlo: 1,000 paths × {len(returns)} trades in {took * 1000:.1f} ms (ruin {mc.risk_of_ruin:.1%}); "
          f"baseline one cumprod of that size {baseline * 1000:.2f} ms ({took / baseline:.0f}×)")


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        journal(folder)
    result = step_through()
    monte_carlo(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
