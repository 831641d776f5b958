"""Chart benchmark: our LOD ChartWidget against a naive all-bars QPicture candlestick item, same run.

For 10k, 100k and 1M bars in a 1600x900 widget, offscreen, prints the time to the first frame
and the median frame time while panning and zooming with every bar in view (the worst case),
plus a live last-bar update, and the naive/ours ratios; then ours again with four indicators. The naive item is pyqtgraph's classic
example CandlestickItem: one QPicture recorded with every candle, replayed on each paint.

Run: QT_QPA_PLATFORM=offscreen python tests/bench/chart_bench.py [--sizes 10000,100000,1000000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyqtgraph as pg  # noqa: E402
from PySide6.QtCore import QPointF, QRectF  # noqa: E402
from PySide6.QtGui import QPainter, QPicture  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from terminal.domain import Bar  # noqa: E402
from terminal.ui.chart import ChartWidget  # noqa: E402

W, H = 1600, 900


def bars(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    index = pd.date_range("2020-01-01", periods=n, freq="1min", tz="UTC")
    close = 100 + np.cumsum(rng.normal(0, 0.05, n))
    open_ = np.r_[100.0, close[:-1]]
    high = np.maximum(open_, close) + rng.uniform(0, 0.05, n)
    low = np.minimum(open_, close) - rng.uniform(0, 0.05, n)
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close,
                         "volume": rng.integers(100, 1000, n).astype(float)}, index=index)


class NaiveCandlestickItem(pg.GraphicsObject):
    """Baseline: pyqtgraph's example item, every candle recorded into one QPicture."""

    def __init__(self, frame: pd.DataFrame) -> None:
        super().__init__()
        self.data = np.column_stack([np.arange(len(frame)), frame[["open", "close", "low", "high"]].to_numpy()])
        self.generate_picture()

    def generate_picture(self) -> None:
        self.picture = QPicture()
        p = QPainter(self.picture)
        p.setPen(pg.mkPen("w"))
        w = 1 / 3.0
        up, down = pg.mkBrush("g"), pg.mkBrush("r")
        for t, o, c, lo, hi in self.data:
            p.drawLine(QPointF(t, lo), QPointF(t, hi))
            p.setBrush(down if o > c else up)
            p.drawRect(QRectF(t - w, o, w * 2, c - o))
        p.end()

    def update_last(self, o: float, h: float, lo: float, c: float) -> None:
        self.data[-1, 1:] = (o, c, lo, h)
        self.generate_picture()
        self.update()

    def paint(self, painter, *args) -> None:
        painter.drawPicture(0, 0, self.picture)

    def boundingRect(self) -> QRectF:
        return QRectF(self.picture.boundingRect())


def frame_time(widget, action) -> float:
    t0 = time.perf_counter()
    action()
    widget.grab()  # forces a full paint of the widget
    return (time.perf_counter() - t0) * 1000


class Ours:
    name = "ours (LOD)"

    def __init__(self, studies: bool = False) -> None:
        self.studies = studies

    def build(self, frame: pd.DataFrame):
        self.chart = ChartWidget()
        self.chart.resize(W, H)
        self.chart.show()
        self.chart.set_data(frame)
        if self.studies:
            for kind in ("SMA", "Bollinger", "RSI", "MACD"):
                self.chart.add_study(kind)
        self.chart.show_range(0, len(frame))
        self.widget = self.chart.graphics
        return self.widget

    def xrange(self) -> tuple[float, float]:
        return tuple(self.chart.plots["price"].getViewBox().viewRange()[0])

    def set_xrange(self, a: float, b: float) -> None:
        self.chart.show_range(a, b)

    def live_update(self, frame: pd.DataFrame) -> None:
        t = frame.index[-1].to_pydatetime()
        last = frame.iloc[-1]
        self.chart.update_last_bar(Bar(t, last["open"], last["high"] + 0.01, last["low"], last["high"] + 0.01,
                                       last["volume"] + 1))

    def close(self) -> None:
        self.chart.close()
        self.chart.deleteLater()


class Naive:
    name = "naive QPicture"

    def build(self, frame: pd.DataFrame):
        self.plot = pg.PlotWidget()
        self.plot.resize(W, H - 48)  # the chart's graphics area (toolbar and readout above it)
        self.plot.show()
        self.item = NaiveCandlestickItem(frame)
        self.plot.addItem(self.item)
        self.plot.setXRange(0, len(frame), padding=0)
        self.widget = self.plot
        return self.widget

    def xrange(self) -> tuple[float, float]:
        return tuple(self.plot.getViewBox().viewRange()[0])

    def set_xrange(self, a: float, b: float) -> None:
        self.plot.setXRange(a, b, padding=0)

    def live_update(self, frame: pd.DataFrame) -> None:
        last = frame.iloc[-1]
        self.item.update_last(last["open"], last["high"] + 0.01, last["low"], last["high"] + 0.01)

    def close(self) -> None:
        self.plot.close()
        self.plot.deleteLater()


def measure(impl, frame: pd.DataFrame, frames: int) -> dict[str, float]:
    app = QApplication.instance()
    t0 = time.perf_counter()
    widget = impl.build(frame)
    widget.grab()
    first = (time.perf_counter() - t0) * 1000
    app.processEvents()
    a, b = impl.xrange()
    width = b - a
    pans, zooms = [], []
    for i in range(frames):
        shift = width * 0.05 * (1 if i % 2 == 0 else -1)
        pans.append(frame_time(widget, lambda s=shift: impl.set_xrange(a + s, b + s)))
    for i in range(frames):
        factor = 0.8 if i % 2 == 0 else 1.0
        mid = (a + b) / 2
        zooms.append(frame_time(widget, lambda f=factor, m=mid: impl.set_xrange(m - width * f / 2, m + width * f / 2)))
    live = [frame_time(widget, lambda: impl.live_update(frame)) for _ in range(max(1, frames // 4))]
    impl.close()
    app.processEvents()
    return {"first": first, "pan": statistics.median(pans), "zoom": statistics.median(zooms),
            "live": statistics.median(live)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--frames", type=int, default=30, help="frames per measurement for our chart")
    args = parser.parse_args()
    QApplication.instance() or QApplication([])
    rows = []
    extra = []
    for n in (int(s) for s in args.sizes.split(",")):
        frame = bars(n)
        ours = measure(Ours(), frame, args.frames)
        naive_frames = args.frames if n <= 10_000 else (8 if n <= 100_000 else 2)
        naive = measure(Naive(), frame, naive_frames)
        studied = measure(Ours(studies=True), frame, args.frames)
        rows.append((n, ours, naive))
        extra.append((n, studied))
        print(f"{n:>9,} bars  first frame  ours {ours['first']:8.1f} ms  naive {naive['first']:9.1f} ms  "
              f"x{naive['first'] / ours['first']:.1f}", flush=True)
        for key in ("pan", "zoom", "live"):
            print(f"{'':>15}{key:>6} median ours {ours[key]:8.2f} ms  naive {naive[key]:9.1f} ms  "
                  f"x{naive[key] / ours[key]:.1f}", flush=True)
    print("\n| bars | ours first | naive first | ours pan | naive pan | pan ratio | ours zoom | naive zoom |"
          " zoom ratio | ours live | naive live |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n, o, v in rows:
        print(f"| {n:,} | {o['first']:.0f} ms | {v['first']:.0f} ms | {o['pan']:.1f} ms | {v['pan']:.0f} ms | "
              f"{v['pan'] / o['pan']:.0f}x | {o['zoom']:.1f} ms | {v['zoom']:.0f} ms | {v['zoom'] / o['zoom']:.0f}x | "
              f"{o['live']:.1f} ms | {v['live']:.0f} ms |")
    print("\nours with SMA, Bollinger, RSI and MACD panes (same views):")
    print("| bars | first | pan | zoom | live |\n|---:|---:|---:|---:|---:|")
    for n, o in extra:
        print(f"| {n:,} | {o['first']:.0f} ms | {o['pan']:.1f} ms | {o['zoom']:.1f} ms | {o['live']:.1f} ms |")
    big = [(o, v) for n, o, v in rows if n >= 1_000_000]
    ok = bool(big) and all(o["pan"] <= 16 and o["zoom"] <= 16 and v["pan"] / o["pan"] >= 10 for o, v in big)
    print("\n1M-bar target (median frame <= 16 ms and >= 10x naive):", "met" if ok else "NOT met")


if __name__ == "__main__":
    main()
