"""Live bars: streamed updates and appends leave the chart as a rebuild from the final bars would, and repaint only the tail."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from terminal.domain import Bar, BarSize
from terminal.ui.chart import ChartWidget
from tests.support.paint import PaintRegions
from tests.ui.test_chart_rendering import make_chart, random_walk_bars

ALL_STUDIES = ("SMA", "EMA", "Bollinger", "VWAP", "RSI", "MACD")
RUNNING_SUMS = ("SMA", "Bollinger", "VWAP")  # live values repeat the vectorized arithmetic: equal bit for bit


def assert_same_lines(live: dict[str, dict[str, np.ndarray]], fresh: dict[str, dict[str, np.ndarray]]) -> None:
    assert list(live) == list(fresh)
    for kind, lines in fresh.items():
        for name, expected in lines.items():
            if kind in RUNNING_SUMS:
                np.testing.assert_array_equal(live[kind][name], expected, err_msg=f"{kind} {name}")
            else:  # recursive (EMA, Wilder): one step at a time vs pandas' ewm, equal to rounding
                np.testing.assert_allclose(live[kind][name], expected, rtol=1e-9, atol=1e-12, err_msg=f"{kind} {name}")


def stream(chart: ChartWidget, frame: pd.DataFrame, repaint: bool = False) -> None:
    """Feed each row as a live feed would: the bar opens, grows through a tick, then closes at its final values."""
    for when, row in frame.iterrows():
        t = when.to_pydatetime()
        o, h, lo, c, v = (float(row[f]) for f in ("open", "high", "low", "close", "volume"))
        mid = (o + c) / 2
        for bar in (Bar(t, o, o, o, o, 1.0, BarSize.MIN_1),
                    Bar(t, o, max(o, mid), min(o, mid), mid, v / 2, BarSize.MIN_1),
                    Bar(t, o, h, lo, c, v, BarSize.MIN_1)):
            chart.on_bar(bar)
            if repaint:
                QApplication.processEvents()


def assert_same_chart(live: ChartWidget, fresh: ChartWidget) -> None:
    """Same bars, pyramid and study lines (the drawn arrays) as the chart built from scratch."""
    n = len(fresh.series)
    assert len(live.series) == n
    np.testing.assert_array_equal(live.series.times, fresh.series.times)
    for level in range(12):
        a, b = live.series.buckets(0, n - 1, level), fresh.series.buckets(0, n - 1, level)
        for field in ("x", "open", "high", "low", "close", "volume"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=f"level {level} {field}")
    assert live.series.high_max >= fresh.series.high_max and live.series.low_min <= fresh.series.low_min
    assert_same_lines({k: s.lines for k, s in live.studies.items()}, {k: s.lines for k, s in fresh.studies.items()})
    for kind, items in live._study_items.items():
        for item in items:
            assert item.values is live.studies[kind].lines[item.name]  # the item draws the updated array


def studied_chart(qtbot, frame, timeframe: BarSize | None = None) -> ChartWidget:
    """A chart of ``frame`` (on ``timeframe``) with every study added."""
    chart = make_chart(qtbot, frame)
    if timeframe is not None:
        chart.set_timeframe(timeframe)
    for kind in ALL_STUDIES:
        chart.add_study(kind)
    return chart


@pytest.mark.parametrize(("loaded", "total"), [(3000, 3400), (5, 160)], ids=["long-history", "through-the-seeds"])
def test_streamed_live_bars_leave_the_chart_equal_to_one_built_from_the_final_bars(qtbot, loaded, total):
    # 5 loaded bars: every array doubles several times and each study passes its seed bar live
    frame = random_walk_bars(total)
    live = studied_chart(qtbot, frame.iloc[:loaded])
    live.series.buckets(0, loaded - 1, 6)  # a pyramid built before the live bars arrive
    stream(live, frame.iloc[loaded:])
    assert_same_chart(live, studied_chart(qtbot, frame))


def test_live_minute_bars_on_a_15_minute_view_equal_resampling_the_final_bars(qtbot):
    frame = random_walk_bars(2400)
    live = studied_chart(qtbot, frame.iloc[:2000], BarSize.MIN_15)
    stream(live, frame.iloc[2000:])
    assert_same_chart(live, studied_chart(qtbot, frame, BarSize.MIN_15))


def test_a_million_bar_chart_after_live_bars_equals_its_rebuild_and_keeps_the_view(qtbot):
    frame = random_walk_bars(1_000_040)
    chart = studied_chart(qtbot, frame.iloc[:1_000_000])
    stream(chart, frame.iloc[1_000_000:])
    view = chart.plots["price"].getViewBox().viewRange()[0]
    streamed = {k: {n: v.copy() for n, v in s.lines.items()} for k, s in chart.studies.items()}
    chart.rebuild()  # series, pyramid and studies recomputed from the bars, as a reload would
    assert chart.plots["price"].getViewBox().viewRange()[0] == view and len(chart.series) == 1_000_040
    assert_same_lines(streamed, {k: s.lines for k, s in chart.studies.items()})


def pixels(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGB32)
    return np.frombuffer(image.constBits(), dtype=np.uint8).reshape(image.height(), image.bytesPerLine()).copy()


@pytest.mark.parametrize("view", ["live", "all-bars", "room-ahead"])
def test_live_bars_repaint_a_strip_that_matches_a_full_repaint(qtbot, view):
    frame = random_walk_bars(20_060)
    chart = make_chart(qtbot, frame.iloc[:20_000])
    for kind in ("SMA", "Bollinger", "RSI", "MACD"):
        chart.add_study(kind)
    if view == "live":  # following: every new bar scrolls the view by one bar
        chart.show_last(150)
    elif view == "all-bars":  # a bar is a fraction of a pixel: the view moves a pixel at a time
        chart.show_range(0, 20_000)
    else:  # not following, empty space ahead: new bars land under time labels that were blank
        chart.set_follow_latest(False)
        chart.show_range(19_900, 20_080)
    QApplication.processEvents()
    regions = PaintRegions()
    viewport = chart.graphics.viewport()
    viewport.installEventFilter(regions)
    stream(chart, frame.iloc[20_000:], repaint=True)  # each event repaints only what it marked dirty
    viewport.removeEventFilter(regions)
    # an update that leaves the y ranges alone repaints a narrow strip at the last bar
    assert min(regions.widths) < viewport.width() / 10
    shown = pixels(chart.screen().grabWindow(chart.winId()).toImage())  # the incrementally painted backing store
    for plot in chart.plots.values():  # drop the axes' cached labels: a full repaint lays every one out afresh
        for side in ("right", "bottom"):
            axis = plot.getAxis(side)
            axis.setRange(*axis.range)
    full = pixels(chart.grab().toImage())
    assert shown.shape == full.shape
    differ = (shown != full).any(axis=1)
    assert int(differ.sum()) == 0, f"rows {np.flatnonzero(differ)[:5]}... differ from a full repaint"
