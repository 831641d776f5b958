"""The chart paints candles, aggregates to at most two buckets per pixel, and switches timeframes exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen

from terminal.domain import BarSize
from terminal.ui.chart import DARK, LIGHT, BarSeries, ChartWidget


def load_backtesting_csv(name: str) -> pd.DataFrame:
    import backtesting

    frame = pd.read_csv(Path(backtesting.__file__).parent / "test" / name, index_col=0, parse_dates=True)
    frame.columns = [c.lower() for c in frame.columns]
    frame.index = frame.index.tz_localize("UTC")
    return frame


@pytest.fixture(scope="module", name="goog")
def goog_fixture() -> pd.DataFrame:
    return load_backtesting_csv("GOOG.csv")


def random_walk_bars(n: int, start: str = "2024-01-01", freq: str = "1min", seed: int = 3,
                     weekdays_only: bool = False) -> pd.DataFrame:
    """n bars of a random walk with consistent OHLC, on a UTC index (optionally weekdays only)."""
    rng = np.random.default_rng(seed)
    index = pd.date_range(start, periods=int(n * 1.5) if weekdays_only else n, freq=freq, tz="UTC")
    if weekdays_only:
        index = index[index.day_of_week < 5][:n]
    close = 100 + np.cumsum(rng.normal(0, 0.05, n))
    open_ = np.r_[100.0, close[:-1]]
    high = np.maximum(open_, close) + rng.uniform(0, 0.05, n)
    low = np.minimum(open_, close) - rng.uniform(0, 0.05, n)
    volume = rng.integers(100, 1000, n).astype(float)
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index)


def make_chart(qtbot, frame, theme=DARK, size=(1600, 900)) -> ChartWidget:
    chart = ChartWidget(theme=theme)
    qtbot.addWidget(chart)
    chart.resize(*size)
    chart.set_data(frame)
    chart.show()
    qtbot.waitExposed(chart)
    return chart


def color_count(image: QImage, color: str, step: int = 2) -> int:
    """Pixels (sampled every ``step``) within a small distance of ``color``."""
    target = QColor(color)
    ptr = image.convertToFormat(QImage.Format.Format_RGB32)
    arr = np.frombuffer(ptr.constBits(), dtype=np.uint8).reshape(ptr.height(), ptr.bytesPerLine() // 4, 4)
    sample = arr[::step, ::step, :3].astype(int)  # BGRA
    want = np.array([target.blue(), target.green(), target.red()])
    return int((np.abs(sample - want).sum(axis=2) < 30).sum())


def test_candles_are_painted_in_up_and_down_colours(qtbot, goog):
    chart = make_chart(qtbot, goog)
    image = chart.grab().toImage()
    assert color_count(image, DARK.up) > 200
    assert color_count(image, DARK.down) > 200
    assert chart.price_item.drawn_buckets > 100 and chart.price_item.drawn_width == 1


def test_light_theme_paints_a_light_background(qtbot, goog):
    chart = make_chart(qtbot, goog, theme=LIGHT)
    image = chart.graphics.grab().toImage()
    assert QColor(image.pixel(QPoint(5, 5))).lightness() > 200
    assert color_count(image, LIGHT.up) > 100


def test_adding_an_indicator_pane_to_a_shown_chart_keeps_every_pane_visible(qtbot, goog):
    chart = make_chart(qtbot, goog)
    chart.add_study("RSI")
    chart.add_study("MACD")
    heights = {name: chart.plots[name].getViewBox().height() for name in ("price", "volume", "rsi", "macd")}
    assert heights["price"] > 300 and min(heights.values()) > 40
    chart.remove_study("MACD")
    assert chart.plots["macd"].getViewBox().height() == 0 or not chart.plots["macd"].isVisible()
    assert chart.plots["price"].getViewBox().height() > heights["price"]


def test_timeframe_switch_keeps_the_latest_bars_in_view(qtbot):
    chart = make_chart(qtbot, random_walk_bars(20_000))
    chart.set_timeframe(BarSize.MIN_15)
    first, last = chart.visible_range()
    assert last >= len(chart.series) - 1 and last - first >= 20


def test_zoomed_out_million_bars_paint_at_most_two_buckets_per_pixel(qtbot):
    frame = random_walk_bars(1_000_000)
    chart = make_chart(qtbot, frame)
    chart.show_range(0, len(frame))
    chart.graphics.grab()
    for item in (chart.price_item, chart.volume_item):
        assert item.drawn_width > 1
        assert 0 < item.drawn_buckets <= 2 * item.drawn_pixels + 2
    # what was drawn covers every bar: bucket extremes are the extremes of their bars
    b = chart.series.buckets(0, len(frame) - 1, chart.price_item.drawn_width.bit_length() - 1)
    k = 137
    bars = frame.iloc[k * b.width : (k + 1) * b.width]
    assert b.high[k] == bars["high"].max() and b.low[k] == bars["low"].min()
    assert b.open[k] == bars["open"].iloc[0] and b.close[k] == bars["close"].iloc[-1]


def test_zooming_in_draws_single_bars(qtbot):
    chart = make_chart(qtbot, random_walk_bars(100_000))
    chart.show_range(5000, 5100)
    chart.graphics.grab()
    assert chart.price_item.drawn_width == 1
    assert 100 <= chart.price_item.drawn_buckets <= 104


def test_timeframe_switch_1m_to_1h_equals_pandas_resample(qtbot):
    frame = random_walk_bars(20_000, weekdays_only=True)
    frame = frame.drop(frame.index[500:700])  # a gap inside an hour and across hours
    chart = make_chart(qtbot, frame)
    seen = []
    chart.timeframe_changed.connect(seen.append)
    chart.set_timeframe(BarSize.HOUR_1)
    expected = frame.resample("1h").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}).dropna()
    expected.index = expected.index.as_unit("ns")
    pd.testing.assert_frame_equal(chart.series.to_frame(), expected, check_freq=False)
    assert seen == [BarSize.HOUR_1] and chart.toolbar.timeframe.currentText() == "1h"


def test_daily_timeframe_from_hourly_bars_equals_pandas_resample(qtbot):
    frame = random_walk_bars(3000, freq="1h", weekdays_only=True)
    chart = make_chart(qtbot, frame)
    chart.set_timeframe(BarSize.DAY_1)
    expected = frame.resample("1D").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}).dropna()
    expected.index = expected.index.as_unit("ns")
    pd.testing.assert_frame_equal(chart.series.to_frame(), expected, check_freq=False)


def test_finer_timeframe_than_loaded_asks_for_history(qtbot, goog):
    chart = make_chart(qtbot, goog)
    with qtbot.waitSignal(chart.history_requested) as blocker:
        chart.set_timeframe(BarSize.HOUR_1)
    assert blocker.args == [BarSize.HOUR_1]
    assert chart.timeframe == BarSize.DAY_1


def test_time_axis_labels_real_dates_without_weekend_gaps(qtbot, goog):
    chart = make_chart(qtbot, goog)
    axis = chart.plots["macd"].getAxis("bottom") if "macd" in chart._visible_panes() else \
        chart.plots["volume"].getAxis("bottom")
    # bars 0 and 1 are consecutive trading days even across a weekend
    friday = int(np.flatnonzero(goog.index.day_of_week == 4)[0])
    labels = axis.tickStrings([friday, friday + 1], 1, 1)
    assert labels == [goog.index[friday].strftime("%Y-%m-%d"), goog.index[friday + 1].strftime("%Y-%m-%d")]
    assert goog.index[friday + 1].day_of_week == 0


def test_series_rejects_times_that_do_not_increase():
    with pytest.raises(Exception, match="bar 2 is not after bar 1"):
        BarSeries(np.array([1, 2, 2]), np.ones((5, 3)))


def test_void_qt_method_survives_100_000_calls():
    """Regression for PySide6 6.12.0 on Python 3.11 (pitfalls.md): it aborted after ~10,000 calls."""
    image = QImage(64, 64, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    pen = QPen(Qt.GlobalColor.red)
    for _ in range(100_000):
        painter.setPen(pen)
    painter.end()
    assert not painter.isActive()
