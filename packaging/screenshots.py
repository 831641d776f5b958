"""Render the terminal window offscreen against the built-in simulator and save screenshots (dark and light).

Run: QT_QPA_PLATFORM=offscreen python packaging/screenshots.py [--out resources/screenshots]
It trades a little first (a filled market order, a working limit, a bracket) so every panel has content.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


async def _settle(seconds: float) -> None:
    await asyncio.sleep(seconds)


async def populate(window, session) -> None:  # type: ignore[no-untyped-def]
    from terminal.domain import Order, OrderSide, OrderType

    market = session.market
    apple = await window.watchlist.add_symbol("AAPL") if market.instrument_for_symbol("AAPL") is None else \
        market.instrument_for_symbol("AAPL")
    window.show_instrument(apple)
    for _ in range(100):
        if apple.key in market.quotes:
            break
        await asyncio.sleep(0.05)
    last = market.quotes[apple.key].reference_price
    await session.orders.place(Order(apple, OrderSide.BUY, 200, OrderType.MARKET, source="ticket"))
    await session.orders.place(Order(apple, OrderSide.BUY, 100, OrderType.LIMIT,
                                     limit_price=apple.round_to_tick(last * 0.995), source="ticket"))
    await session.orders.place(Order(apple, OrderSide.SELL, 100, OrderType.LIMIT,
                                     limit_price=apple.round_to_tick(last * 1.006), source="ticket"))
    msft = await window.watchlist.add_symbol("MSFT")
    await session.orders.place(Order(msft, OrderSide.SELL, 50, OrderType.MARKET, source="ticket"))
    session.alerts.add(apple, apple.round_to_tick(last * 1.01), last)
    await _settle(4.0)


async def research(window, session, out: Path, theme: str) -> list[Path]:  # type: ignore[no-untyped-def]
    """Backtest GOOG (real daily data shipped by backtesting), scan the simulator's pairs, grab the docks."""
    import backtesting

    from terminal.data import read_bars_csv
    from terminal.domain import BarSize, Instrument

    goog = read_bars_csv(Path(backtesting.__file__).parent / "test" / "GOOG.csv")
    session.store.bars.write_frame(Instrument("GOOG", contract_id=208813720), BarSize.DAY_1, goog)
    for symbol in window.analytics.symbols():  # the scan's universe stored, so it offers no fetch
        instrument = await session.market.qualify(symbol)
        await session.history.bars(instrument, BarSize.MIN_1)
    editor = window.editor
    editor.strategies.setCurrentText("sma_cross")
    editor.symbols.setText("GOOG")
    first = await editor.run()
    editor.engine.setCurrentText("backtesting")
    second = await editor.run()
    window.results.run_list.clearSelection()
    rows = len(window.results.runs)
    window.results.run_list.selectRow(rows - 2)
    window.results.show_runs([window.results.runs[-2], window.results.runs[-1]] if first and second else [])
    await window.analytics.scan()
    optimizer = window.optimizer
    editor.engine.setCurrentText("auto")  # the status says which engine auto chose, and why
    optimizer.set_space({"fast": "5:30:5", "slow": "40:120:20"})
    optimizer.workers.setValue(optimizer.workers.maximum())
    await optimizer.run()
    paths = []
    for title in ("Strategy editor", "Backtest results", "Optimizer", "Analytics"):
        dock = window.docks[title]
        dock.raise_()
        await asyncio.sleep(0.3)
        path = out / f"{title.lower().replace(' ', '-')}-{theme}.png"
        dock.widget().grab().save(str(path))
        paths.append(path)
    return paths + await review(window, session, out, theme)


async def review(window, session, out: Path, theme: str) -> list[Path]:  # type: ignore[no-untyped-def]
    """The results dock's heatmap and Monte Carlo tabs, a trade with its P&L on the chart, and the journal
    (the simulator's round trips beside the backtests', some tagged)."""
    from PySide6.QtWidgets import QTabWidget

    from terminal.domain import Order, OrderSide, OrderType

    results = window.results
    results.show_runs([results.runs[-1]])
    tabs = results.findChild(QTabWidget)
    paths = []
    window.docks["Backtest results"].raise_()
    for index, name in ((1, "results-heatmap"), (4, "results-monte-carlo")):
        tabs.setCurrentIndex(index)
        await asyncio.sleep(0.3)
        path = out / f"{name}-{theme}.png"
        results.grab().save(str(path))
        paths.append(path)
    tabs.setCurrentIndex(0)
    run = results.runs[-1]
    await window._chart_backtest("GOOG", run, run["trades"][-4])
    await asyncio.sleep(0.3)
    path = out / f"chart-trade-pnl-{theme}.png"
    window.chart.grab().save(str(path))
    paths.append(path)
    apple = session.market.instrument_for_symbol("AAPL")
    for side in (OrderSide.SELL, OrderSide.BUY, OrderSide.SELL):  # close the long, then a short round trip
        await session.orders.place(Order(apple, side, 200, OrderType.MARKET, source="ticket"))
        await _settle(1.5)
    journal = window.journal
    await journal.refresh()
    for trip, tags in zip(journal.trips[-6:], (["trend"], ["trend", "A+"], ["fade"], ["trend"], ["fade"], ["A+"]),
                          strict=False):
        await session.journal.annotate(trip.key, tags, "")
    await journal.refresh(sync=False)
    journal.by.setCurrentText("tag")
    window.docks["Journal"].raise_()
    await asyncio.sleep(0.3)
    path = out / f"journal-{theme}.png"
    journal.grab().save(str(path))
    paths.append(path)
    controller = await window.step_through(results.runs[-1])
    while not controller.trace.complete:  # the worker streams the trace; the picture is taken on all of it
        await asyncio.sleep(0.1)
    for _ in range(6):
        window.step_panel.controller.next_trade()
    window.step_panel.controller.seek(window.step_panel.controller.index + 12)
    await asyncio.sleep(0.5)
    path = out / f"step-through-{theme}.png"
    window.grab().save(str(path))
    paths.append(path)
    del controller
    return paths


async def live_strategy(window, session, out: Path, theme: str) -> Path:  # type: ignore[no-untyped-def]
    """The editor's SMA crossover run live on the simulator's 5-second bars for a minute, stopped and flattened,
    then set against its own backtest over the bars it saw."""
    from terminal.ui.review import end_step_through

    end_step_through(window)  # the chart back on the live feed
    window.show_instrument(session.market.instrument_for_symbol("AAPL"))
    editor, panel = window.editor, window.strategies
    editor.strategies.setCurrentText("sma_cross")
    await editor.wait_opened()
    editor.set_param_values({"fast": 2, "slow": 4})
    run = await session.strategies.start("sma_cross", editor.source(), editor.raw_param_values(), "AAPL", "5s",
                                         units=100, warmup_bars=20, confirmed=True)
    window.docks["Strategies"].raise_()
    for _ in range(90):
        if run.orders >= 4:
            break
        await asyncio.sleep(1.0)
    await session.strategies.stop(run.run_id, flatten=True, confirmed=True)
    await asyncio.sleep(1.0)
    panel.refresh()
    panel.table.selectRow(0)
    result, what, _ = await session.strategies.compare(run.run_id)
    from terminal.ui.panels.comparison import show_comparison

    show_comparison(panel.compare_table, panel.compare_summary, result, what, "%Y-%m-%d %H:%M:%S")
    await asyncio.sleep(0.3)
    path = out / f"strategies-{theme}.png"
    window.grab().save(str(path))
    return path


BRACKET_DEMO = '''"""Long whenever flat, with a stop 2 % below and a target 2 % above the close."""

from terminal.backtest.api import Strategy


class Bracketed(Strategy):
    params = {"risk": 0.02}
    limits = {"risk": (0.001, 0.5)}

    def next(self):
        if self.position == 0:
            price = self.data.close[self.i]
            self.buy(stop=price * (1 - self.p.risk), target=price * (1 + self.p.risk))
'''


async def path_review(window, session, out: Path, theme: str) -> Path:  # type: ignore[no-untyped-def]
    """Trades whose stop and target lay inside one daily bar, settled on the stored minute bars: a synthetic
    random walk (labelled simulator data) of 40 days of minutes, its days built from them."""
    import numpy as np
    import pandas as pd
    from PySide6.QtWidgets import QTabWidget

    from terminal.domain import BarSize, Instrument, Provenance

    rng = np.random.default_rng(17)
    days = pd.bdate_range("2026-09-01", periods=40, tz="UTC")
    index = pd.DatetimeIndex([d + pd.Timedelta(hours=13, minutes=30 + m) for d in days for m in range(390)])
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.0011, len(index))))
    minutes = pd.DataFrame({"open": np.r_[close[0], close[:-1]], "close": close, "volume": 100.0}, index=index)
    minutes["high"] = np.maximum(minutes.open, minutes.close) * 1.0003
    minutes["low"] = np.minimum(minutes.open, minutes.close) * 0.9997
    daily = minutes.groupby(minutes.index.normalize()).agg({"open": "first", "high": "max", "low": "min",
                                                            "close": "last", "volume": "sum"})
    demo = Instrument("DEMO", contract_id=990001)
    session.store.bars.write_frame(demo, BarSize.MIN_1, minutes, Provenance.SIMULATOR)
    session.store.bars.write_frame(demo, BarSize.DAY_1, daily, Provenance.SIMULATOR)
    editor = window.editor
    editor.strategies.setCurrentText("bracketed")
    await editor.wait_opened()
    editor.load_source(BRACKET_DEMO)
    editor.symbols.setText("DEMO")
    editor.bar_size.setCurrentText("1D")
    editor.engine.setCurrentText("backtrader")
    editor.set_param_values({"risk": 0.012})
    await editor.run()
    results = window.results
    results.show_runs([results.runs[-1]])
    dock = window.docks["Backtest results"]
    dock.raise_()
    tabs = results.findChild(QTabWidget)
    tabs.setCurrentWidget(results.trades)
    dock.setFloating(True)  # wide enough for the trades' Exit by and Path columns
    dock.resize(1560, 560)
    await asyncio.sleep(0.3)
    results.trades.resizeColumnsToContents()
    flagged = [r for r in range(results.trades.rowCount()) if results.trades.item(r, 8).text()]
    if flagged:
        results.trades.selectRow(flagged[0])
        results.trades.scrollToItem(results.trades.item(flagged[0], 0))
    await asyncio.sleep(0.3)
    path = out / f"results-path-{theme}.png"
    results.grab().save(str(path))
    dock.setFloating(False)
    editor.symbols.setText("GOOG")
    return path


async def hostile_check(window, session, out: Path, theme: str) -> Path:  # type: ignore[no-untyped-def]
    """A strategy whose module never finishes loading, checked from the editor: the worker is stopped at the
    load time limit and the editor says so, while the terminal goes on streaming."""
    editor = window.editor
    session.backtests.load_time_limit = 3.0
    editor.strategies.setCurrentText("spins_at_import")
    await editor.wait_opened()
    editor.load_source('"""Loads a universe from a service that never answers."""\n\nfrom terminal.backtest.api import '
                       'Strategy\n\nwhile True:  # waiting for the feed\n    pass\n\n\nclass Waits(Strategy):\n'
                       '    params = {"lookback": 20, "entry_z": 2.0}\n    limits = {"lookback": (2, 500), '
                       '"entry_z": (0.5, 5.0)}\n\n    def next(self):\n        pass\n')
    await editor.save()
    window.docks["Strategy editor"].raise_()
    await asyncio.sleep(0.3)
    path = out / f"strategy-check-{theme}.png"
    window.docks["Strategy editor"].widget().grab().save(str(path))
    return path


async def mismatch(window, session, out: Path, theme: str) -> Path:  # type: ignore[no-untyped-def]
    """A trade made outside the terminal (another API client standing in for TWS): the Positions dock shows the
    mismatch and blocks AAPL until acknowledged."""
    import ib_async

    outside = ib_async.IB()
    await outside.connectAsync("127.0.0.1", session.simulator.port, clientId=9, timeout=5)
    contract = ib_async.Stock("AAPL", "SMART", "USD")
    await outside.qualifyContractsAsync(contract)
    outside.placeOrder(contract, ib_async.MarketOrder("BUY", 300))
    await asyncio.sleep(1.0)
    outside.disconnect()
    await session.reconcile()
    window.docks["Positions"].raise_()
    window.docks["Orders"].raise_()
    await asyncio.sleep(0.5)
    path = out / f"position-mismatch-{theme}.png"
    window.grab().save(str(path))
    return path


async def about(window, out: Path, theme: str) -> Path:  # type: ignore[no-untyped-def]
    """Help → About: the versions and where this copy keeps its data."""
    dialog = window.about_dialog()
    await asyncio.sleep(0.2)
    path = out / f"about-{theme}.png"
    dialog.grab().save(str(path))
    dialog.close()
    return path


async def shoot(out: Path, theme: str, db_url: str) -> Path:
    from terminal.config import load_settings
    from terminal.ui.main import build_session, open_window

    settings = load_settings(environ={"QT_NO_KEYRING": "1"},
                             overrides={"db_url": db_url, "sim_seed": 5, "confirm_orders": False, "theme": theme})
    session = build_session(settings)
    window = await open_window(session, theme=theme)
    window.resize(1680, 1000)
    window.show()
    await populate(window, session)
    await asyncio.sleep(0.3)  # let the views repaint at display rate
    path = out / f"terminal-{theme}.png"
    window.grab().save(str(path))
    if theme == "dark":
        for extra in await research(window, session, out, theme):
            print(extra)
        print(await live_strategy(window, session, out, theme))
        print(await path_review(window, session, out, theme))
        print(await hostile_check(window, session, out, theme))
        print(await mismatch(window, session, out, theme))
        print(await about(window, out, theme))
    window.close()
    await session.stop()
    session.store.close()
    return path


def main() -> int:
    import qasync
    from PySide6.QtWidgets import QApplication

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("resources/screenshots"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication(sys.argv)
    app.setQuitOnLastWindowClosed(False)  # the dark window closes before the light one opens
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with tempfile.TemporaryDirectory() as folder, loop:
        for theme in ("dark", "light"):
            db = f"sqlite:///{Path(folder) / f'{theme}.sqlite'}"
            print(loop.run_until_complete(shoot(args.out, theme, db)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
