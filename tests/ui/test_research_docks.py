"""Strategy editor, backtest results and analytics docks in the real window."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from terminal.data import read_bars_csv
from terminal.domain import BarSize, DomainError, Instrument, Provenance
from tests.ui.conftest import wait_until

pytestmark = pytest.mark.gui


@pytest.fixture
def window_with_goog(terminal_window, qloop, real_csv_dir):
    window, session = terminal_window()
    goog = read_bars_csv(real_csv_dir / "GOOG.csv")
    session.store.bars.write_frame(Instrument("GOOG", primary_exchange="NASDAQ", contract_id=208813720),
                                   BarSize.DAY_1, goog, Provenance.CSV)
    return window, session


def test_running_a_template_fills_the_results_dock_and_saves_the_run(window_with_goog, qloop):
    window, session = window_with_goog
    editor = window.editor
    editor.strategies.setCurrentText("sma_cross")
    editor.symbols.setText("GOOG")
    run = qloop.run_until_complete(editor.run())
    assert run is not None and run["statistics"]["trades"] > 10
    assert window.results.run_list.rowCount() >= 1
    assert window.results.stats.rowCount() >= 15
    assert window.results.trades.rowCount() == len(run["trades"])
    assert session.store.backtest_runs.count() == 1
    assert session.store.strategies.versions("sma_cross") == [1]


def test_results_of_a_run_on_the_simulators_bars_say_synthetic_data(window_with_goog, qloop):
    from datetime import timedelta

    window, session = window_with_goog
    aapl = qloop.run_until_complete(session.market.qualify("AAPL"))
    qloop.run_until_complete(session.history.bars(aapl, BarSize.DAY_1, timedelta(days=500)))  # the simulator's
    editor = window.editor
    editor.strategies.setCurrentText("sma_cross")
    editor.symbols.setText("GOOG")
    assert qloop.run_until_complete(editor.run())["data_provenance"] == "csv"
    assert window.results.data_warning.isHidden()
    editor.symbols.setText("AAPL")
    run = qloop.run_until_complete(editor.run())
    assert run["data_provenance"] == "simulator"
    assert not window.results.data_warning.isHidden()
    assert window.results.data_warning.text().startswith("Synthetic data (simulator)")


def test_a_raising_strategy_shows_the_traceback_and_marks_the_line(window_with_goog, qloop):
    window, _ = window_with_goog
    editor = window.editor
    editor.strategies.setCurrentText("my_broken")
    editor.load_source("from terminal.backtest.api import Strategy\n\nclass Broken(Strategy):\n"
                       "    def next(self):\n        raise ValueError('bad signal')\n")
    editor.symbols.setText("GOOG")
    assert qloop.run_until_complete(editor.run()) is None
    assert "bad signal" in editor.messages.toPlainText()
    assert editor.editor.editor.error_line == 5
    # the app keeps working: a good run right after
    editor.load_source(editor.source().replace("raise ValueError('bad signal')", "pass"))
    assert qloop.run_until_complete(editor.run()) is not None


def test_a_syntax_error_is_reported_on_save_with_its_line(window_with_goog, qloop):
    window, session = window_with_goog
    editor = window.editor
    editor.strategies.setCurrentText("typo")
    editor.load_source("from terminal.backtest.api import Strategy\nclass T(Strategy)\n    pass\n")
    assert qloop.run_until_complete(editor.save()) is False
    assert editor.messages.toPlainText().startswith("line 2: syntax error")
    assert session.store.strategies.names() == []


def test_clicking_a_trade_shows_it_on_the_chart(window_with_goog, qloop):
    window, _ = window_with_goog
    window.editor.symbols.setText("GOOG")
    window.editor.strategies.setCurrentText("sma_cross")
    qloop.run_until_complete(window.editor.run())
    window.results.trades.sortItems(0)
    window.results._trade_clicked(3, 0)
    wait_until(qloop, lambda: len(window.chart.chart.marks.trades) > 10, message="trade marks on the chart")
    first, last = window.chart.chart.visible_range()
    assert last - first < 400


def test_pair_scan_finds_the_cointegrated_pair_and_hands_it_to_the_editor(terminal_window, qloop):
    window, session = terminal_window()
    rng = np.random.default_rng(6)
    n = 600
    x = 60 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    s = np.zeros(n)
    for t in range(1, n):
        s[t] = 0.85 * s[t - 1] + rng.normal(0, 0.3)
    index = pd.bdate_range("2021-01-01", periods=n, tz="UTC", name="time")
    for name, close in (("KO", x), ("PEP", 3 + 2.0 * x + s), ("XOM", 80 * np.exp(np.cumsum(rng.normal(0, 0.01, n))))):
        frame = pd.DataFrame({"open": close, "high": close * 1.002, "low": close * 0.998, "close": close,
                              "volume": 1e6}, index=index)
        session.store.bars.write_frame(Instrument(name), BarSize.DAY_1, frame)
    panel = window.analytics
    panel.universe.setText("KO,PEP,XOM")
    panel.bar_size.setCurrentText("1D")
    table = qloop.run_until_complete(panel.scan())
    assert {table.iloc[0]["y"], table.iloc[0]["x"]} == {"KO", "PEP"} and table.iloc[0]["p_value"] < 0.01
    wait_until(qloop, lambda: "Johansen rank" in panel.summary.text(), message="the tests of the best pair")
    assert "Engle-Granger" in panel.summary.text() and not panel.busy.isVisible()
    assert len(panel.spread_plot.getPlotItem().listDataItems()) == 1
    panel.backtest_button.click()
    assert window.editor.strategies.currentText() == "pairs"
    assert set(window.editor.symbols.text().split(",")) == {"KO", "PEP"}
    run = qloop.run_until_complete(window.editor.run())
    assert run is not None and {t["symbol"] for t in run["trades"]} == {"KO", "PEP"}


def test_html_report_export(window_with_goog, qloop, tmp_path):
    window, _ = window_with_goog
    window.editor.symbols.setText("GOOG")
    qloop.run_until_complete(window.editor.run())
    path = tmp_path / "report.html"
    qloop.run_until_complete(window.results.export(str(path)))
    text = path.read_text()
    assert "<svg" in text and "Sharpe ratio" in text and "Longest drawdown" in text and text.count("<tr>") > 20


@pytest.fixture
def optimizer_on_goog(window_with_goog, qloop):
    """The optimizer dock with the SMA crossover on stored GOOG daily bars in the editor."""
    window, _ = window_with_goog
    editor, optimizer = window.editor, window.optimizer
    editor.strategies.setCurrentText("sma_cross")
    editor.symbols.setText("GOOG")
    wait_until(qloop, lambda: "fast" in optimizer.space_names(), message="sma_cross parameters in the optimizer")
    return editor, optimizer


def test_optimizer_grid_fills_table_and_heatmap_and_hands_params_back(optimizer_on_goog, qloop):
    editor, optimizer = optimizer_on_goog
    optimizer.set_space({"fast": "5:15:5", "slow": "30,50"})
    optimizer.walk_forward.setChecked(False)
    optimizer.workers.setValue(2)
    table = qloop.run_until_complete(optimizer.run())
    assert len(table) == 6 and (table["error"] == "").all()
    assert optimizer.progress.value() == 6 and optimizer.results.rowCount() == 6
    assert optimizer.heat.values.shape == (2, 3)  # y = slow (2 values) × x = fast (3 values)
    # the heatmap cell equals the run of those parameters
    row = table[(table["fast"] == 10) & (table["slow"] == 50)].iloc[0]
    assert optimizer.heat.values[1, 1] == pytest.approx(row["sharpe"])
    # clicking a cell selects that run; "Use in editor" copies its parameters
    optimizer._select_cell(*optimizer.heat.cell_at(1, 1))
    assert optimizer.selected_params() == {"fast": 10, "slow": 50}
    optimizer.use_button.click()
    values = {editor.params.item(r, 0).text(): editor.params.item(r, 1).text() for r in range(editor.params.rowCount())}
    assert values["fast"] == "10" and values["slow"] == "50"


def test_optimizer_walk_forward_and_bad_ranges(optimizer_on_goog, qloop):
    _, optimizer = optimizer_on_goog
    optimizer.set_space({"fast": "5:1:1", "slow": "30"})
    with pytest.raises(DomainError, match="parameter fast: range '5:1:1'"):
        qloop.run_until_complete(optimizer.run())
    optimizer.set_space({"fast": "5,10", "slow": "30,60"})
    optimizer.walk_forward.setChecked(True)
    qloop.run_until_complete(optimizer.run())
    text = optimizer.status.text()
    assert "Walk-forward: best in-sample" in text and "out-of-sample" in text, text


def test_optimizer_cancel_keeps_the_finished_runs(optimizer_on_goog, qloop):
    _, optimizer = optimizer_on_goog
    optimizer.set_space({"fast": "5:30:1", "slow": "40:120:10"})
    optimizer.walk_forward.setChecked(False)
    task = qloop.create_task(optimizer.run())
    wait_until(qloop, lambda: optimizer.progress.value() >= 2, timeout=60, message="the first runs")
    assert not optimizer.run_button.isEnabled()
    optimizer.cancel_button.click()
    table = qloop.run_until_complete(task)
    assert 2 <= len(table) < 234 and (table["error"] == "").all()
    assert optimizer.status.text().startswith(f"cancelled after {len(table)} of 234 runs")
    assert optimizer.results.rowCount() == len(table) and optimizer.run_button.isEnabled()
