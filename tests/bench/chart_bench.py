"""Chart benchmark: our LOD ChartWidget against a naive all-bars QPicture candlestick item, same run.

For 10k, 100k and 1M bars in a 1600x900 widget, offscreen, prints the time to the first frame
and the median frame time while panning and zooming with every bar in view (the worst case),
plus a live last-bar update, and the naive/ours ratios; then ours again with four indicators. The naive item is pyqtgraph's classic
example CandlestickItem: one QPicture recorded with every candle, replayed on each paint.

Then live bars: on a 1M-bar chart with SMA, Bollinger, RSI and MACD, the cost of a frame (the
model update plus the repaint Qt schedules for it, driven by processEvents as in the app) for
updating the last bar and for appending a new one, p50 and p99, in the live view (last 150 bars,
following) and with every bar in view; and the same events through ``ChartWidget.rebuild`` (a
full rebuild of series, pyramid and studies per event, the old approach) as the baseline.

Run: QT_QPA_PLATFORM=offscreen python tests/bench/chart_bench.py [--sizes 10000,100000,1000000]
     [--live-only] [--live-bars 1000000] [--events 200] [--baseline-events 20] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import time
from datetime import timedelta
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
from tests.support.paint import PaintRegions  # noqa: E402

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


STUDIES = ("SMA", "Bollinger", "RSI", "MACD")
LIVE_VIEW_BARS = 150  # what the chart panel shows after loading history


class LiveFeed:
    """Live bars for a chart: ticks that move the last bar's close (a seeded walk) and new bars after it."""

    def __init__(self, chart: ChartWidget, seed: int = 7) -> None:
        self.chart = chart
        self.rng = np.random.default_rng(seed)

    def tick(self) -> Bar:
        t, o, h, lo, c, v = self.chart.base.bar_at(len(self.chart.base) - 1)
        c = c + float(self.rng.normal(0, 0.01))
        return Bar(t, o, max(h, c), min(lo, c), c, v + 1)

    def new_bar(self) -> Bar:
        t, *_, c, _ = self.chart.base.bar_at(len(self.chart.base) - 1)
        return Bar(t + timedelta(seconds=self.chart.base.bar_size.seconds), c, c, c, c, 1.0)


def baseline_on_bar(chart: ChartWidget, bar: Bar) -> None:
    """The old approach: the bar goes into the arrays, then series, pyramid and studies are rebuilt."""
    x0, x1 = chart.plots["price"].getViewBox().viewRange()[0]
    appended = pd.Timestamp(bar.time).value != int(chart.base.times[-1])
    (chart.base.append if appended else chart.base.update_last)(bar)
    chart.rebuild()
    if appended and chart.follow_latest and x1 >= len(chart.series) - 3:
        chart.show_range(x0 + 1, x1 + 1)


def live_frames(chart: ChartWidget, make_bar, events: int, baseline: bool = False) -> dict[str, list[float]]:
    """Per event: ms for the model update, for the repaint processEvents runs, and their sum (the frame)."""
    app = QApplication.instance()
    counter = PaintRegions()
    chart.graphics.viewport().installEventFilter(counter)
    model, paint, frame = [], [], []
    for _ in range(events):
        app.processEvents()  # nothing pending when the clock starts
        bar = make_bar()
        t0 = time.perf_counter()
        baseline_on_bar(chart, bar) if baseline else chart.on_bar(bar)
        t1 = time.perf_counter()
        app.processEvents()  # Qt repaints the region the update marked dirty
        app.processEvents()  # and anything that paint marked dirty again (a follow-up repaint counts too)
        t2 = time.perf_counter()
        model.append((t1 - t0) * 1000)
        paint.append((t2 - t1) * 1000)
        frame.append((t2 - t0) * 1000)
    chart.graphics.viewport().removeEventFilter(counter)
    return {"model": model, "paint": paint, "frame": frame, "widths": counter.widths}


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def live_chart(frame: pd.DataFrame, view_bars: int | None) -> ChartWidget:
    chart = ChartWidget()
    chart.resize(W, H)
    chart.show()
    chart.set_data(frame)
    for kind in STUDIES:
        chart.add_study(kind)
    if view_bars is None:
        chart.show_range(0, len(frame))
    else:
        chart.show_last(view_bars)
    chart.grab()
    QApplication.instance().processEvents()
    return chart


def measure_live(frame: pd.DataFrame, view_bars: int | None, events: int, baseline_events: int) -> dict:
    chart = live_chart(frame, view_bars)
    feed = LiveFeed(chart)
    for make in (feed.tick, feed.new_bar):  # warm-up: first-use allocations, pyramid levels, axis caches
        live_frames(chart, make, 5)
    out = {"update": live_frames(chart, feed.tick, events), "append": live_frames(chart, feed.new_bar, events),
           "base update": live_frames(chart, feed.tick, baseline_events, baseline=True),
           "base append": live_frames(chart, feed.new_bar, baseline_events, baseline=True)}
    chart.close()
    chart.deleteLater()
    QApplication.instance().processEvents()
    return out


def profile_live_appends(frame: pd.DataFrame, events: int) -> None:
    """cProfile of appends with repaint in the live view: where an append frame's time goes."""
    chart = live_chart(frame, LIVE_VIEW_BARS)
    feed = LiveFeed(chart)
    live_frames(chart, feed.new_bar, 5)
    profiler = cProfile.Profile()
    profiler.enable()
    live_frames(chart, feed.new_bar, events)
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(30)
    print(f"\ncProfile, {events} appends (with repaint) in the live view, cumulative (profiler overhead included):")
    print(text.getvalue())
    chart.close()
    chart.deleteLater()


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min) {five:.2f} (5 min) on {os.cpu_count()} cores"


def report_live(n: int, results: dict[str, dict], events: int, baseline_events: int) -> bool:
    print(f"\nlive bars on {n:,} bars with {', '.join(STUDIES)} shown, {W}x{H}; frame = model update + the "
          f"repaint processEvents runs (ms); ours over {events} events, rebuild baseline over {baseline_events}")
    print("| view | event | ours p50 | ours p99 | model p50 | repaint p50 | repainted width p50 |"
          " rebuild p50 | rebuild p99 | ratio p50 |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    met = True
    for view, r in results.items():
        for event in ("update", "append"):
            ours, base = r[event], r[f"base {event}"]
            p50, p99 = pct(ours["frame"], 50), pct(ours["frame"], 99)
            b50, b99 = pct(base["frame"], 50), pct(base["frame"], 99)
            width = pct(ours["widths"], 50) if ours["widths"] else 0
            met = met and p50 <= 3.0
            print(f"| {view} | {event} | {p50:.2f} | {p99:.2f} | {pct(ours['model'], 50):.2f} | "
                  f"{pct(ours['paint'], 50):.2f} | {width:.0f} px | {b50:.0f} | {b99:.0f} | {b50 / p50:.0f}x |")
    return met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--frames", type=int, default=30, help="frames per measurement for our chart")
    parser.add_argument("--live-only", action="store_true", help="only the live-bar section")
    parser.add_argument("--live-bars", default="1000000", help="bar counts for the live section, e.g. 10000,1000000")
    parser.add_argument("--events", type=int, default=200, help="live updates and appends timed for ours")
    parser.add_argument("--baseline-events", type=int, default=20, help="events timed for the rebuild baseline")
    parser.add_argument("--profile", action="store_true", help="cProfile the live-view appends afterwards")
    args = parser.parse_args()
    QApplication.instance() or QApplication([])
    if not args.live_only:
        pan_zoom(args)
    views = {f"live view ({LIVE_VIEW_BARS} bars, following)": LIVE_VIEW_BARS, "all bars in view": None}
    for n in (int(s) for s in args.live_bars.split(",")):
        print(f"\nmachine: {load()} at the start (other work runs alongside: figures are noisy)", flush=True)
        frame = bars(n)
        results = {name: measure_live(frame, bars_in_view, args.events, args.baseline_events)
                   for name, bars_in_view in views.items()}
        met = report_live(n, results, args.events, args.baseline_events)
        print(f"machine: {load()} at the end")
        print(f"target (update and append p50 <= 3 ms at {n:,} bars, both views):", "met" if met else "NOT met")
    if args.profile:
        profile_live_appends(frame, args.events)


def pan_zoom(args: argparse.Namespace) -> None:
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
