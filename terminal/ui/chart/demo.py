"""Chart demo on real GOOG daily bars (shipped in backtesting's package): indicators, fills, orders, drawings.

Run: python -m terminal.ui.chart.demo [--save resources/screenshots/chart.png] [--light] [--bars 260]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
from PySide6.QtWidgets import QApplication

from terminal.domain import Fill, Instrument, Order, OrderSide, OrderType
from terminal.ui.chart import DARK, LIGHT, ChartWidget, Drawing, TradeMark


def load_goog() -> pd.DataFrame:
    """GOOG daily bars 2004-2013 from the installed backtesting package (not copied into the repo)."""
    import backtesting

    path = Path(backtesting.__file__).parent / "test" / "GOOG.csv"
    frame = pd.read_csv(path, index_col=0, parse_dates=True)
    frame.columns = [c.lower() for c in frame.columns]
    frame.index = frame.index.tz_localize("UTC")
    return frame


def build_demo(theme=DARK, bars: int = 260) -> ChartWidget:
    frame = load_goog()
    goog = Instrument("GOOG", tick_size=0.01, description="Alphabet (demo data)")
    chart = ChartWidget(theme=theme)
    chart.resize(1600, 900)
    chart.set_data(frame, instrument=goog)
    chart.add_study("SMA", period=50)
    chart.add_study("Bollinger", period=20, width=2.0)
    chart.add_study("RSI", period=14)
    chart.add_study("MACD", fast=12, slow=26, signal=9)
    n = len(frame)
    t = frame.index
    close = frame["close"]

    def fill(i: int, side: OrderSide, k: int) -> Fill:
        return Fill(f"demo-{k}", k, goog, side, 10, float(round(close.iloc[i], 2)), t[i].to_pydatetime())

    chart.set_fills([fill(n - 200, OrderSide.BUY, 1), fill(n - 150, OrderSide.SELL, 2),
                     fill(n - 90, OrderSide.BUY, 3), fill(n - 25, OrderSide.SELL, 4)])
    chart.set_trades([TradeMark(t[n - 200].to_pydatetime(), close.iloc[n - 200], t[n - 150].to_pydatetime(),
                                close.iloc[n - 150]),
                      TradeMark(t[n - 90].to_pydatetime(), close.iloc[n - 90], t[n - 25].to_pydatetime(),
                                close.iloc[n - 25])])
    last = float(close.iloc[-1])
    chart.show_orders([Order(goog, OrderSide.BUY, 10, OrderType.LIMIT, limit_price=round(last * 0.95, 2),
                             client_order_id="demo-buy-limit")])
    low_a, low_b = n - 120, n - 40
    chart.add_drawing(Drawing("trend", [(t[low_a].to_pydatetime(), float(frame["low"].iloc[low_a])),
                                        (t[low_b].to_pydatetime(), float(frame["low"].iloc[low_b]))]))
    chart.show_last(bars)
    chart.crosshair_at(n - 30, float(close.iloc[-30]))
    return chart


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--save", type=Path, help="write a PNG screenshot and exit")
    parser.add_argument("--light", action="store_true")
    parser.add_argument("--bars", type=int, default=260)
    args = parser.parse_args(argv)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    chart = build_demo(LIGHT if args.light else DARK, args.bars)
    chart.show()
    if args.save:
        app.processEvents()
        args.save.parent.mkdir(parents=True, exist_ok=True)
        chart.grab().save(str(args.save))
        print(f"saved {args.save}")
        return 0
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main())
