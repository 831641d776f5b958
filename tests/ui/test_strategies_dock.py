"""The Strategies dock in the real window: the editor's strategy started live on the simulator after the trader's
yes, its orders and position in the table, stopped and flattened, then set against its own backtest."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from terminal.domain import OrderStatus
from tests.strategies_live.conftest import FLIP
from tests.ui.conftest import answer_confirmation, open_with_symbol, wait_until

pytestmark = pytest.mark.gui


def _cell(panel, row, name):
    from terminal.ui.panels.strategies import COLUMNS

    return panel.table.item(row, COLUMNS.index(name)).text()


def test_the_editor_strategy_runs_live_from_the_dock_and_is_compared_with_its_backtest(
        terminal_window, qloop, qtbot, tmp_path):
    window, session, aapl = open_with_symbol(terminal_window, qloop)
    window.editor.strategies.setCurrentText("flip")
    qloop.run_until_complete(window.editor.wait_opened())
    window.editor.load_source(FLIP)
    panel = window.strategies
    window.docks["Strategies"].raise_()
    panel.symbol.setText("AAPL")
    panel.bar.setCurrentText("5s")
    panel.warmup.setValue(0)
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    question = answer_confirmation(qloop, qtbot, window)
    assert "flip(units=10) on AAPL, 5s bars" in question and "without asking" in question
    wait_until(qloop, lambda: panel.table.rowCount() == 1, message="the run in the table")
    run = next(iter(session.strategies.runs.values()))
    wait_until(qloop, lambda: len(run.fills) >= 3, timeout=40, message="three fills of the strategy")
    wait_until(qloop, lambda: _cell(panel, 0, "Position") == f"{run.position:g}" and _cell(panel, 0, "Orders") != "0",
               message="the table to show the run's position")
    assert _cell(panel, 0, "Status") == "running" and _cell(panel, 0, "Symbol") == "AAPL"
    assert all(o.source == "strategy flip" for o in session.orders.orders.values()
               if o.client_order_id.startswith(run.prefix))

    panel.table.selectRow(0)
    qtbot.mouseClick(panel.flatten_button, Qt.MouseButton.LeftButton)
    wait_until(qloop, lambda: run.status == "stopped" and run.position == 0, timeout=15,
               message="the run stopped and flat")
    assert all(o.status is OrderStatus.FILLED for o in session.orders.orders.values()
               if o.client_order_id.startswith(run.prefix))
    qtbot.mouseClick(panel.compare_button, Qt.MouseButton.LeftButton)
    wait_until(qloop, lambda: "matched" in panel.compare_summary.text() and panel.compare_table.rowCount() > 0,
               timeout=90, message="the comparison with its backtest")
    kinds = [panel.compare_table.item(r, 0).text() for r in range(panel.compare_table.rowCount())]
    assert "matched" in kinds and "missed" not in kinds and "extra" not in kinds  # the flattening trip is beyond
    window.grab().save(str(tmp_path / "strategies.png"))
