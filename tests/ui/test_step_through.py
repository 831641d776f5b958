"""Step through a saved run on the real chart: the run plays again in a worker with its trace; next trade,
step, jump and breaks; the position and equity shown match the run's trade list and equity at that bar."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.ui.conftest import run_sma_on_goog, wait_until

pytestmark = pytest.mark.gui


@pytest.fixture
def stepping(terminal_window, qloop, real_csv_dir):
    window, session = terminal_window()
    run = run_sma_on_goog(window, session, qloop, real_csv_dir)
    window.results.step_button.click()
    wait_until(qloop, lambda: window.step_panel.controller is not None, timeout=60, message="the step-through")
    controller = window.step_panel.controller
    wait_until(qloop, lambda: controller.trace.complete, timeout=60, message="the worker's whole trace")
    return window, session, run, controller


def _held_at(run, bar):
    """The position at the close of ``bar`` by the trade list: trades entered at or before it, not yet exited."""
    return sum(t["size"] for t in run["trades"] if t["entry_bar"] <= bar < t["exit_bar"]
               or (t.get("open") and t["entry_bar"] <= bar))


def test_next_trade_shows_the_position_and_equity_of_the_trade_list(stepping, qloop, tmp_path):
    window, _, run, controller = stepping
    panel = window.step_panel
    assert window.replay_bar.isVisible() and window.replay_bar.badge.text().strip() == "STEP-THROUGH"
    assert controller.index == 0 and panel.values["Position"].text() == "GOOG +0"
    first = run["trades"][0]
    assert controller.next_trade() and controller.index == first["entry_bar"]
    assert panel.values["Position"].text() == f"GOOG {first['size']:+g}"
    equity = run["equity"][controller.index][1]
    assert panel.values["Equity"].text() == f"{equity:,.2f}"
    chart = window.chart.chart
    assert len(chart.series) == controller.index + 1  # the chart holds the bars so far, no more
    assert chart.marks.trades == [] and not chart.marks.order_lines  # no future trade, no live order line
    for _ in range(3):  # the next trades: exits and reversals, each checked against the trade list
        controller.next_trade()
        assert controller.state.position == _held_at(run, controller.index)
        assert controller.state.equity == pytest.approx(run["equity"][controller.index][1])
    closed = [t for t in run["trades"] if t["exit_bar"] <= controller.index]
    assert [m.pnl for m in chart.marks.trades] == [t["pnl"] for t in closed]  # the closed ones, with their P&L
    controller.step()
    assert controller.index == controller.trace.bar_at(pd.Timestamp(run["equity"][controller.index][0]))
    assert len(window.chart.chart.series) == controller.index + 1
    overlays = [item.opts.get("name") for item in panel._overlays]
    assert overlays == ["fast", "slow"]  # the strategy's moving averages, on the price scale
    window.docks["Step-through"].raise_()
    window.grab().save(str(tmp_path / "step.png"))


def test_play_breaks_on_a_fill_and_on_a_rule(stepping, qloop):
    window, _, run, controller = stepping
    panel = window.step_panel
    panel.on_fill.setChecked(True)
    controller.set_speed(1000)
    controller.play()
    wait_until(qloop, lambda: not controller.playing, timeout=20, message="the break on the first fill")
    assert controller.index == run["trades"][0]["entry_bar"] and "break: fill" in panel.message.text()
    panel.on_fill.setChecked(False)
    panel.rule.setText("drawdown < -20%")
    panel._rule_changed()
    controller.play()
    wait_until(qloop, lambda: not controller.playing, timeout=90, message="the break on the rule")
    dd = controller.trace.drawdown()
    assert controller.index == next(i for i in range(len(dd)) if dd[i] < -0.2 and i > run["trades"][0]["entry_bar"])
    panel.rule.setText("drawdown is bad")
    panel._rule_changed()
    assert "is not understood" in panel.message.text() and "FIELD OP NUMBER" in panel.message.text()
    controller.jump(pd.Timestamp("2010-06-01", tz="UTC").to_pydatetime())
    assert controller.state.time <= pd.Timestamp("2010-06-01", tz="UTC") < controller.trace.times[controller.index + 1]


def test_end_gives_the_chart_back_to_the_live_feed(stepping, qloop):
    window, session, _, controller = stepping
    aapl = qloop.run_until_complete(window.watchlist.add_symbol("AAPL"))
    window.current = aapl
    controller.next_trade()
    window.step_panel.end_button.click()
    assert window.step_panel.controller is None and not window.step_panel.isEnabled()
    assert window.replay_bar.controller is None and window.replay_bar.isHidden()  # no replay runs: the bar goes
    assert window.chart.instrument is not None and window.chart.instrument.key == aapl.key
    controller.play()  # the ended step-through draws nothing more on the chart
    wait_until(qloop, lambda: getattr(window.chart.chart.instrument, "symbol", "") == "AAPL"
               and len(window.chart.chart.series) > 0, timeout=15, message="AAPL's live bars on the chart")
    assert window.step_panel.controller is None


SLOW = '''
import time

from terminal.backtest.api import Strategy, crossed_above, crossed_below, sma


class SlowCross(Strategy):
    """The SMA crossover, taking 3 ms a bar: a run long enough to watch the step-through stream."""

    params = {"fast": 10, "slow": 30}

    def init(self):
        self.fast = sma(self.data.close, self.p.fast)
        self.slow = sma(self.data.close, self.p.slow)

    def next(self):
        time.sleep(0.003)
        if crossed_above(self.fast, self.slow, self.i) and self.position <= 0:
            self.close()
            self.buy(10)
        elif crossed_below(self.fast, self.slow, self.i) and self.position > 0:
            self.close()
'''


def test_the_step_through_opens_while_its_worker_still_runs_and_grows(terminal_window, qloop, real_csv_dir):
    from terminal.data import read_bars_csv
    from terminal.domain import BarSize, Instrument, Provenance

    window, session = terminal_window()
    session.store.bars.write_frame(Instrument("GOOG", primary_exchange="NASDAQ", contract_id=208813720),
                                   BarSize.DAY_1, read_bars_csv(real_csv_dir / "GOOG.csv"), Provenance.CSV)
    window.editor.strategies.setCurrentText("slow_cross")
    qloop.run_until_complete(window.editor.wait_opened())
    window.editor.load_source(SLOW)
    window.editor.symbols.setText("GOOG")
    window.editor.engine.setCurrentText("backtrader")
    run = qloop.run_until_complete(window.editor.run())
    assert run is not None and run["trades"]
    window.results.step_button.click()
    wait_until(qloop, lambda: window.step_panel.controller is not None, timeout=60, message="the step-through")
    controller = window.step_panel.controller
    trace = controller.trace
    assert not trace.complete and 0 < trace.available < len(trace)  # open before the worker is done
    assert "the worker has run" in window.step_panel.values["Bar"].text()
    controller.set_speed(1000)
    controller.play()
    wait_until(qloop, lambda: trace.complete, timeout=60, message="the rest of the trace from the worker")
    assert controller.index > 0  # it played while the worker ran
    controller.pause()
    controller.seek(len(trace) - 1)  # now the whole run is known: any bar can be reached
    assert controller.index == len(trace) - 1
    assert controller.state.equity == pytest.approx(run["equity"][-1][1])
    assert [t["exit_bar"] for t in trace.trades] == [t["exit_bar"] for t in run["trades"]]
