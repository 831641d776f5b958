"""Chart behaviour a trader relies on: live bars, indicators, marks, order-line drags, alerts, drawings, keys."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from terminal.analytics import indicators as ind
from terminal.domain import Bar, BarSize, Fill, Instrument, Order, OrderSide, OrderType
from terminal.ui.chart import ChartWidget, Drawing, TradeMark
from tests.ui.test_chart_rendering import goog_fixture, make_chart, random_walk_bars  # noqa: F401 (fixture)

AAPL = Instrument("AAPL", tick_size=0.05)


def columns(chart: ChartWidget) -> np.ndarray:
    return np.vstack([chart.series.column(k).copy() for k in range(5)])


def test_studies_equal_the_analytics_computation(qtbot, goog):
    chart = make_chart(qtbot, goog)
    chart.add_study("SMA", period=30)
    chart.add_study("Bollinger", period=20, width=2.5)
    chart.add_study("RSI", period=14)
    chart.add_study("MACD")
    close = goog["close"].to_numpy()
    np.testing.assert_array_equal(chart.studies["SMA"].lines["sma"], ind.sma(close, 30))
    np.testing.assert_array_equal(chart.studies["Bollinger"].lines["upper"], ind.bollinger(close, 20, 2.5)[1])
    np.testing.assert_array_equal(chart.studies["RSI"].lines["rsi"], ind.rsi(close, 14))
    np.testing.assert_array_equal(chart.studies["MACD"].lines["signal"], ind.macd(close).signal)
    assert chart._visible_panes() == ["price", "volume", "rsi", "macd"]
    chart.remove_study("RSI")
    assert "rsi" not in chart._visible_panes()


def test_update_last_bar_changes_only_the_last_bar_and_study_values(qtbot, goog):
    chart = make_chart(qtbot, goog)
    for kind in ("SMA", "EMA", "Bollinger", "VWAP", "RSI", "MACD"):
        chart.add_study(kind)
    before = columns(chart)
    lines_before = {k: {n: v.copy() for n, v in s.lines.items()} for k, s in chart.studies.items()}
    t, o, h, lo, c, v = chart.series.bar_at(len(goog) - 1)
    chart.update_last_bar(Bar(t, o, h + 5, lo, h + 4, v + 1000))
    after = columns(chart)
    np.testing.assert_array_equal(after[:, :-1], before[:, :-1])
    assert list(after[:, -1]) == [o, h + 5, lo, h + 4, v + 1000]
    changed = goog.copy()
    changed.iloc[-1] = [o, h + 5, lo, h + 4, v + 1000]
    reference = make_chart(qtbot, changed)
    for kind, study in chart.studies.items():
        fresh = reference.add_study(kind)
        for name, values in study.lines.items():
            np.testing.assert_array_equal(values[:-1], lines_before[kind][name][:-1])
            assert values[-1] == pytest.approx(fresh.lines[name][-1], rel=1e-9), (kind, name)


def test_append_bar_extends_series_and_studies_and_follows(qtbot, goog):
    chart = make_chart(qtbot, goog)
    chart.add_study("MACD")
    chart.add_study("RSI")
    _, right = chart.visible_range()
    last_time = goog.index[-1].to_pydatetime()
    chart.append_bar(Bar(last_time + timedelta(days=1), 800, 810, 795, 805, 1e6))
    assert len(chart.series) == len(goog) + 1
    assert chart.visible_range()[1] == right + 1
    close = np.r_[goog["close"].to_numpy(), 805.0]
    assert chart.studies["MACD"].lines["macd"][-1] == pytest.approx(ind.macd(close).macd[-1])
    assert chart.studies["RSI"].lines["rsi"][-1] == pytest.approx(ind.rsi(close)[-1])


def test_live_minute_bars_update_the_hourly_bar_they_belong_to(qtbot):
    frame = random_walk_bars(600)
    chart = make_chart(qtbot, frame)
    chart.set_timeframe(BarSize.HOUR_1)
    hours = len(chart.series)
    t = frame.index[-1].to_pydatetime() + timedelta(minutes=1)  # bars ran 00:00-09:59, so 10:00
    chart.on_bar(Bar(t, 100, 130, 90, 120, 5, BarSize.MIN_1))
    assert len(chart.series) == hours + 1  # 10:00 starts a new hour
    chart.on_bar(Bar(t + timedelta(minutes=1), 120, 125, 80, 121, 7, BarSize.MIN_1))
    assert len(chart.series) == hours + 1
    assert list(columns(chart)[:, -1]) == [100, 130, 80, 121, 12]
    chart.set_timeframe(BarSize.MIN_1)  # back to the loaded bars, live minute bar included
    assert len(chart.series) == 602 and list(columns(chart)[:, -1]) == [120, 125, 80, 121, 7]


def test_fills_are_drawn_at_their_bar_index(qtbot, goog):
    chart = make_chart(qtbot, goog, )
    chart.set_data(goog, instrument=AAPL)
    buy_time = goog.index[100].to_pydatetime() + timedelta(hours=15)  # during the day of bar 100
    sell_time = goog.index[250].to_pydatetime()
    chart.set_fills([
        Fill("e1", 1, AAPL, OrderSide.BUY, 10, 300.0, buy_time),
        Fill("e2", 1, AAPL, OrderSide.SELL, 10, 320.0, sell_time),
    ])
    buys, sells = chart.marks.fill_positions()
    assert list(buys) == [100] and list(sells) == [250]
    chart.set_timeframe(BarSize.DAY_1)  # unchanged timeframe keeps the marks where they are
    assert list(chart.marks.fill_positions()[0]) == [100]


def test_backtest_trades_join_entry_and_exit_coloured_by_result(qtbot, goog):
    chart = make_chart(qtbot, goog)
    t = goog.index
    chart.set_trades([TradeMark(t[10].to_pydatetime(), 100.0, t[20].to_pydatetime(), 110.0, True),
                      TradeMark(t[30].to_pydatetime(), 100.0, t[40].to_pydatetime(), 110.0, False)])
    lines = [i for i in chart.marks._trade_items if hasattr(i, "xData") and i.xData is not None]
    assert [list(i.xData) for i in lines] == [[10, 20], [30, 40]]
    assert lines[0].opts["pen"].color().name() == chart.palette_.up
    assert lines[1].opts["pen"].color().name() == chart.palette_.down


def test_backtest_trades_write_their_pnl_at_the_exit(qtbot, goog):
    import pyqtgraph as pg

    chart = make_chart(qtbot, goog)
    t = goog.index
    chart.set_trades([TradeMark(t[10].to_pydatetime(), 100.0, t[20].to_pydatetime(), 110.0, True, 1000.0),
                      TradeMark(t[30].to_pydatetime(), 100.0, t[40].to_pydatetime(), 110.0, False, -500.0)])
    labels = [i for i in chart.marks._trade_items if isinstance(i, pg.TextItem)]
    assert [lab.toPlainText() for lab in labels] == ["long +1,000.00", "short -500.00"]
    assert [(lab.pos().x(), lab.pos().y()) for lab in labels] == [(20, 110.0), (40, 110.0)]
    assert labels[0].color.name() == chart.palette_.up and labels[1].color.name() == chart.palette_.down


def _send_mouse(qtbot, widget, kind: QEvent.Type, pos: QPointF, buttons) -> None:
    qtbot.wait(15)  # pyqtgraph drops mouse moves closer than 10 ms (mouseRateLimit)
    button = Qt.MouseButton.LeftButton if kind != QEvent.Type.MouseMove else Qt.MouseButton.NoButton
    event = QMouseEvent(kind, pos, widget.mapToGlobal(pos), button, buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def test_dragging_an_order_line_emits_the_tick_snapped_price(qtbot, goog):
    chart = make_chart(qtbot, goog)
    chart.set_data(goog, instrument=AAPL)
    order = Order(AAPL, OrderSide.BUY, 10, OrderType.LIMIT, limit_price=700.0, client_order_id="c-1")
    chart.show_orders([order])
    line = chart.marks.order_lines["c-1"]
    vb = chart.plots["price"].getViewBox()
    view = chart.graphics
    first, last = chart.visible_range()
    x = (first + last) / 2

    def to_widget(price: float) -> QPointF:
        return QPointF(view.mapFromScene(vb.mapViewToScene(QPointF(x, price))))

    start, end = to_widget(700.0), to_widget(723.37)
    viewport = view.viewport()
    held = Qt.MouseButton.LeftButton
    with qtbot.waitSignal(chart.order_line_moved) as blocker:
        _send_mouse(qtbot, viewport, QEvent.Type.MouseButtonPress, start, held)
        for f in np.linspace(0, 1, 8):
            _send_mouse(qtbot, viewport, QEvent.Type.MouseMove, start + (end - start) * f, held)
        _send_mouse(qtbot, viewport, QEvent.Type.MouseButtonRelease, end, Qt.MouseButton.NoButton)
    order_id, price = blocker.args
    assert order_id == "c-1"
    assert AAPL.is_on_tick(price)
    assert abs(price - 723.37) < 1.0  # within a pixel or two of the drop point
    assert line.value() == price


def test_right_click_menu_requests_an_alert_at_the_snapped_price(qtbot, goog):
    chart = make_chart(qtbot, goog)
    chart.set_data(goog, instrument=AAPL)
    menu = chart.context_menu_for(612.337)
    with qtbot.waitSignal(chart.alert_requested) as blocker:
        menu.actions()[0].trigger()
    assert blocker.args == [pytest.approx(612.35)]


def test_trend_line_tool_takes_two_clicks_and_round_trips_through_a_dict(qtbot, goog):
    chart = make_chart(qtbot, goog)
    chart.drawings.arm("trend")
    assert chart.drawings_click(100, 300.0) and chart.drawings_click(200.2, 350.0)
    assert not chart.drawings_click(210, 1.0)  # the tool disarms after use
    saved = chart.drawings_to_list()
    assert saved == [{"kind": "trend", "points": [[goog.index[100].isoformat(), 300.0],
                                                   [goog.index[200].isoformat(), 350.0]]}]
    other = make_chart(qtbot, goog)
    other.load_drawings(saved)
    assert [d.to_dict() for d in other.drawings.drawings] == saved
    with pytest.raises(Exception, match="needs 2"):
        Drawing.from_dict({"kind": "trend", "points": [[goog.index[1].isoformat(), 1.0]]})


def test_keyboard_pans_zooms_and_jumps(qtbot):
    chart = make_chart(qtbot, random_walk_bars(5000))
    first, last = chart.visible_range()
    qtbot.keyClick(chart, Qt.Key.Key_Left)
    assert chart.visible_range()[1] < last
    qtbot.keyClick(chart, Qt.Key.Key_Home)
    assert chart.visible_range()[0] <= 0
    qtbot.keyClick(chart, Qt.Key.Key_End)
    assert chart.visible_range()[1] >= 4999
    width = chart.visible_range()[1] - chart.visible_range()[0]
    qtbot.keyClick(chart, Qt.Key.Key_Minus)
    assert chart.visible_range()[1] - chart.visible_range()[0] > width
    qtbot.keyClick(chart, Qt.Key.Key_Plus)
    qtbot.keyClick(chart, Qt.Key.Key_Plus)
    assert chart.visible_range()[1] - chart.visible_range()[0] < width


def test_crosshair_readout_shows_ohlcv_and_indicator_values(qtbot, goog):
    chart = make_chart(qtbot, goog)
    chart.set_data(goog, instrument=AAPL)
    chart.add_study("SMA", period=10)
    text = chart.crosshair_at(2000.2, 600.0)
    row = goog.iloc[2000]
    assert goog.index[2000].strftime("%Y-%m-%d") in text
    assert f"C {row['close']:.2f}" in text and f"V {row['volume']:,.0f}" in text
    assert f"SMA(10) {goog['close'].iloc[1991:2001].mean():.2f}" in text
    assert chart.readout.text() == text


def test_toolbar_picks_timeframe_chart_type_and_indicator_parameters(qtbot):
    chart = make_chart(qtbot, random_walk_bars(3000))
    bar = chart.toolbar
    bar.timeframe.activated.emit(bar.timeframe.findText("15m"))
    assert chart.timeframe == BarSize.MIN_15 and len(chart.series) == 200
    bar.chart_type.textActivated.emit("ohlc")
    assert chart.price_item.chart_type == "ohlc"
    bar.study_actions["SMA"].setChecked(True)
    assert chart.studies["SMA"].params == {"period": 50}
    bar.study_params_edited.emit("SMA", {"period": 7})
    assert chart.studies["SMA"].params == {"period": 7}
    np.testing.assert_array_equal(chart.studies["SMA"].lines["sma"], ind.sma(chart.series.close, 7))
    bar.study_actions["SMA"].setChecked(False)
    assert "SMA" not in chart.studies


def test_mouse_wheel_zooms_the_bar_axis_only(qtbot):
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QWheelEvent

    chart = make_chart(qtbot, random_walk_bars(5000))
    vb = chart.plots["price"].getViewBox()
    (x0, x1), (y0, y1) = vb.viewRange()
    view = chart.graphics
    pos = QPointF(view.mapFromScene(vb.sceneBoundingRect().center()))
    event = QWheelEvent(pos, view.viewport().mapToGlobal(pos), QPoint(0, 0), QPoint(0, 240),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(view.viewport(), event)
    (a0, a1), _ = vb.viewRange()
    assert (a1 - a0) < (x1 - x0)  # zoomed in on bars; the y range is refitted to what is visible


def test_right_click_on_the_price_pane_opens_the_alert_menu(qtbot, goog):
    chart = make_chart(qtbot, goog)
    chart.set_data(goog, instrument=AAPL)
    vb = chart.plots["price"].getViewBox()
    view = chart.graphics
    pos = QPointF(view.mapFromScene(vb.sceneBoundingRect().center()))
    price = chart.marks.snap(vb.mapSceneToView(view.mapToScene(pos.toPoint())).y())
    right = Qt.MouseButton.RightButton
    for kind, buttons in ((QEvent.Type.MouseButtonPress, right), (QEvent.Type.MouseButtonRelease, Qt.MouseButton.NoButton)):
        QApplication.sendEvent(view.viewport(), QMouseEvent(kind, pos, view.viewport().mapToGlobal(pos), right,
                                                            buttons, Qt.KeyboardModifier.NoModifier))
    menu = vb._menu
    assert menu is not None and menu.actions()[0].text() == f"Alert at {price:g}"
    with qtbot.waitSignal(chart.alert_requested) as blocker:
        menu.actions()[0].trigger()
    assert blocker.args == [pytest.approx(price)]
    menu.close()


def test_numpy_arrays_load_like_a_frame(qtbot, goog):
    chart = ChartWidget()
    qtbot.addWidget(chart)
    chart.set_arrays(goog.index.to_numpy(), *(goog[c].to_numpy() for c in ("open", "high", "low", "close", "volume")))
    assert len(chart.series) == len(goog)
    assert chart.series.bar_at(5)[0] == goog.index[5].to_pydatetime()
    assert chart.series.bar_at(5)[4] == goog["close"].iloc[5]
