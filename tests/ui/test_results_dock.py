"""The results dock as a trader reads it: labels and units, definitions on hover, two runs and their
difference, the monthly heatmap, trades CSV — on runs the real engine made in worker processes."""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
import pytest

from terminal.analytics import catalogue
from terminal.analytics.stats import monthly_returns
from terminal.backtest.runner import BacktestRequest, result_to_json, run_in_worker
from terminal.data import read_bars_csv
from terminal.services.backtests import BacktestService

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def two_runs(real_csv_dir):
    goog = read_bars_csv(real_csv_dir / "GOOG.csv")
    source = BacktestService.template_source("sma_cross")
    runs = []
    for n, params in enumerate(({"fast": 10, "slow": 30}, {"fast": 20, "slow": 60}), start=1):
        result = run_in_worker(BacktestRequest(source, {"GOOG": goog}, "sma_cross", params=params, time_limit=120))
        assert result.ok, result.error
        runs.append(dict(result_to_json(result), run_id=n))
    return runs


@pytest.fixture
def panel(qtbot):
    from terminal.ui.research.results_panel import ResultsPanel
    from terminal.ui.theme import DARK

    widget = ResultsPanel(None, DARK)
    widget.resize(1100, 620)
    qtbot.addWidget(widget)
    return widget


def _row(panel, key):
    for row in range(panel.stats.rowCount()):
        if panel.stats.item(row, 0).data(256) == key:  # Qt.UserRole
            return row
    raise AssertionError(f"{key} not shown")


def test_statistics_read_with_labels_units_and_definitions(panel, two_runs, tmp_path):
    panel.runs = two_runs[:1]
    panel.show_runs(two_runs[:1])
    stats = two_runs[0]["statistics"]
    row = _row(panel, "max_drawdown_days")
    assert panel.stats.item(row, 0).text() == "Longest drawdown"
    assert panel.stats.item(row, 1).text() == f"{stats['max_drawdown_days']:,.0f} days"
    assert "peak" in panel.stats.item(row, 0).toolTip()
    sharpe = _row(panel, "sharpe")
    assert panel.stats.item(sharpe, 1).text() == f"{stats['sharpe']:.2f}"
    assert "252" in panel.stats.item(sharpe, 0).toolTip() and "backtesting.py" in panel.stats.item(sharpe, 0).toolTip()
    assert panel.stats.item(_row(panel, "total_return"), 1).text().endswith(" %")
    _nothing_cut_off(panel)
    panel.grab().save(str(tmp_path / "results.png"))


def _nothing_cut_off(panel):
    panel.show()
    metrics = panel.stats.fontMetrics()
    for r in range(panel.stats.rowCount()):
        for c in range(panel.stats.columnCount()):
            text = panel.stats.item(r, c).text()
            assert metrics.horizontalAdvance(text) + 6 <= panel.stats.columnWidth(c), (r, c, text)
    assert panel.stats.horizontalScrollBar().maximum() == 0  # and the table fits the dock at its default size


def test_two_runs_side_by_side_with_the_difference(panel, two_runs):
    panel.runs = two_runs
    panel.show_runs(two_runs)
    assert panel.stats.columnCount() == 4
    assert panel.stats.horizontalHeaderItem(3).text() == "Difference"
    _nothing_cut_off(panel)
    first, second = (r["statistics"] for r in two_runs)
    row = _row(panel, "total_return")
    expected = catalogue.format_difference("total_return", first["total_return"], second["total_return"])
    assert panel.stats.item(row, 3).text() == expected and expected.endswith(" pp")
    diff = (second["total_return"] - first["total_return"]) * 100
    assert float(expected[1:-3].replace(",", "")) == pytest.approx(abs(diff), abs=0.006)


def test_the_heatmap_shows_each_months_compounded_return(panel, two_runs):
    panel.show_runs(two_runs[:1])
    equity = pd.Series([v for _, v in two_runs[0]["equity"]],
                       index=pd.DatetimeIndex([t for t, _ in two_runs[0]["equity"]]))
    table = monthly_returns(equity).reindex(columns=range(1, 13)).to_numpy()
    shown = panel.monthly.values
    np.testing.assert_allclose(shown[:, :12], table, equal_nan=True)
    yearly = [np.prod(1 + r[np.isfinite(r)]) - 1 for r in table]
    np.testing.assert_allclose(shown[:, 12], yearly)
    # the colours: gains take the theme's up colour, losses its down colour
    colors = panel.monthly._image.image
    r, c = np.unravel_index(np.nanargmax(shown[:, :12]), table.shape)
    assert colors[r, c, 1] > colors[r, c, 0]  # green-ish (#26a69a)
    r, c = np.unravel_index(np.nanargmin(shown[:, :12]), table.shape)
    assert colors[r, c, 0] > colors[r, c, 1]  # red-ish (#ef5350)


def test_trades_export_to_csv_one_row_per_round_trip(panel, two_runs, qloop, tmp_path):
    panel.show_runs(two_runs[:1])
    path = tmp_path / "trades.csv"
    qloop.run_until_complete(panel.export_trades(str(path)))
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    trades = two_runs[0]["trades"]
    assert len(rows) == len(trades) > 10
    for row, trade in zip(rows, trades, strict=True):
        assert row["entry_time"] == trade["entry_time"] and float(row["pnl"]) == pytest.approx(trade["pnl"], abs=0.005)
        assert float(row["size"]) == abs(trade["size"]) and row["side"] == ("long" if trade["size"] > 0 else "short")


def test_monte_carlo_of_the_runs_trades(panel, two_runs):
    from terminal.analytics.montecarlo import bootstrap, trade_returns

    panel.show_runs(two_runs[:1])
    run = two_runs[0]
    mc = panel.monte_carlo
    expected = bootstrap(trade_returns(run["trades"], run["equity"]), run["equity"][0][1], paths=len(mc.paths))
    assert mc.paths.shape == (1000, len(run["trades"]) + 1)
    assert mc.drawdown_percentiles == expected.drawdown_percentiles and mc.risk_of_ruin == expected.risk_of_ruin
    assert f"{mc.drawdown_percentiles[95] * 100:.1f} %" in panel.monte_text.text()
    assert len(panel.monte_plot.getPlotItem().listDataItems()) == 100 + 4  # sample paths, band, median, actual
