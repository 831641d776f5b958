"""Every UI order path asks the same confirmation policy; trading hotkeys act only in the trading docks.

Real window on the built-in simulator, real key events and mouse clicks on the confirmation box.
"""

from __future__ import annotations

import asyncio

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction

from terminal.domain import OrderSide, OrderStatus, OrderType
from tests.ui.conftest import answer_confirmation, open_with_symbol, wait_until

pytestmark = pytest.mark.gui


def _press(qloop, widget, key, modifier=Qt.KeyboardModifier.ControlModifier):
    from pytestqt.qtbot import QtBot

    def focused() -> bool:  # after a modal box the window must be activated again
        widget.window().activateWindow()
        widget.setFocus()
        return widget.hasFocus()

    wait_until(qloop, focused, message="the focus")
    QtBot.keyClick(widget, key, modifier)


def test_ctrl_s_in_the_strategy_editor_saves_and_sends_no_order(terminal_window, qloop):
    window, session, _ = open_with_symbol(terminal_window, qloop, in_process_simulator=True)
    window.docks["Strategy editor"].raise_()
    editor = window.editor.editor.editor  # the code editor's text widget
    _press(qloop, editor, Qt.Key.Key_S)
    wait_until(qloop, lambda: window.editor.messages.toPlainText().startswith("saved "), message="the strategy saved")
    qloop.run_until_complete(asyncio.sleep(0.3))
    assert session.orders.orders == {} and session.simulator.engine.submitted_count == 0


def test_sell_hotkey_in_a_trading_dock_asks_when_confirm_orders_is_on(terminal_window, qloop, qtbot):
    window, session, instrument = open_with_symbol(terminal_window, qloop, confirm_orders=True, in_process_simulator=True)
    table = window.watchlist.table
    _press(qloop, table, Qt.Key.Key_S)
    question = answer_confirmation(qloop, qtbot, window, yes=False)
    assert question.startswith("SELL 100 AAPL LMT") and "Send this order?" in question
    qloop.run_until_complete(asyncio.sleep(0.3))
    assert session.orders.orders == {} and session.simulator.engine.submitted_count == 0
    _press(qloop, table, Qt.Key.Key_S)
    answer_confirmation(qloop, qtbot, window, yes=True)
    wait_until(qloop, lambda: session.simulator.engine.submitted_count == 1, message="the confirmed hotkey order")
    order = next(iter(session.orders.orders.values()))
    assert order.side is OrderSide.SELL and order.source == "hotkey" and order.order_type is OrderType.LIMIT


def test_trading_hotkeys_do_nothing_while_typing_a_symbol(terminal_window, qloop, qtbot):
    window, session, _ = open_with_symbol(terminal_window, qloop, confirm_orders=False, in_process_simulator=True)
    entry = window.watchlist.entry
    _press(qloop, entry, Qt.Key.Key_M, Qt.KeyboardModifier.NoModifier)
    for key in (Qt.Key.Key_S, Qt.Key.Key_B):
        _press(qloop, entry, key)
    qloop.run_until_complete(asyncio.sleep(0.5))
    assert session.orders.orders == {} and session.simulator.engine.submitted_count == 0
    assert "not while typing" in window.statusBar().currentMessage()


def test_ctrl_k_only_switches_the_kill_switch_on_and_off_is_asked(terminal_window, qloop, qtbot):
    window, session, _ = open_with_symbol(terminal_window, qloop, confirm_orders=False, in_process_simulator=True)
    table = window.watchlist.table
    for _ in range(2):  # a second press must not end the emergency stop
        _press(qloop, table, Qt.Key.Key_K)
        wait_until(qloop, lambda: session.risk.kill_switch, message="the kill switch on")
    qloop.run_until_complete(asyncio.sleep(0.3))
    assert session.risk.kill_switch and window.kill_action.isChecked() and window.entry.dialog is None
    window.kill_action.trigger()  # the menu item: off only after a yes
    assert "Turn it off" in answer_confirmation(qloop, qtbot, window, yes=False)
    assert session.risk.kill_switch and window.kill_action.isChecked()
    window.kill_action.trigger()
    answer_confirmation(qloop, qtbot, window, yes=True)
    assert not session.risk.kill_switch and not window.kill_action.isChecked()


def test_held_hotkey_sends_once_and_asks_before_the_repeat(terminal_window, qloop, qtbot):
    window, session, instrument = open_with_symbol(terminal_window, qloop, confirm_orders=False, in_process_simulator=True)
    quantity = window.ticket.quantity
    _press(qloop, quantity, Qt.Key.Key_B)
    wait_until(qloop, lambda: session.simulator.engine.submitted_count == 1, message="the first hotkey order")
    _press(qloop, quantity, Qt.Key.Key_B)  # again within two seconds
    wait_until(qloop, lambda: window.entry.dialog is not None, message="the repeat question")
    assert "was sent" in window.entry.dialog.text() and "Send it again?" in window.entry.dialog.text()
    from pytestqt.qtbot import QtBot

    QtBot.keyClick(window.entry.dialog, Qt.Key.Key_Return)  # Enter answers the default: No
    wait_until(qloop, lambda: window.entry.dialog is None, message="the box closed")
    qloop.run_until_complete(asyncio.sleep(0.3))
    assert session.simulator.engine.submitted_count == 1


def test_ladder_and_close_position_ask_the_same_confirmation(terminal_window, qloop, qtbot):
    window, session, instrument = open_with_symbol(terminal_window, qloop, confirm_orders=True, in_process_simulator=True)
    wait_until(qloop, lambda: window.depth.model.rowCount() >= 6, message="depth levels")
    model = window.depth.model
    best_ask = min(price for price, _, ask in model.rows if ask == ask)
    row = next(r for r, (price, _, _) in enumerate(model.rows) if price == best_ask)
    window.depth.on_click(model.index(row, 1))  # buy at the best ask: marketable
    assert "Send this order?" in answer_confirmation(qloop, qtbot, window, yes=True)
    wait_until(qloop, lambda: session.portfolio.position_quantity(instrument) > 0, message="the ladder fill")
    wait_until(qloop, lambda: window.positions.model.rowCount() == 1, message="the position row")
    window.positions.table.selectRow(0)
    window.positions.close_selected()
    question = answer_confirmation(qloop, qtbot, window, yes=True)
    assert question.startswith("SELL ") and " MKT " in question
    wait_until(qloop, lambda: session.portfolio.position_quantity(instrument) == 0, message="the position closed")


def test_cancel_all_asks_and_chart_drag_declined_snaps_back(terminal_window, qloop, qtbot):
    window, session, instrument = open_with_symbol(terminal_window, qloop, confirm_orders=True, in_process_simulator=True)
    last = session.market.quotes[instrument.key].reference_price
    window.ticket.order_type.setCurrentIndex(window.ticket.order_type.findData(OrderType.LIMIT))
    window.ticket.quantity.setValue(10)
    window.ticket.limit_price.setText(f"{instrument.round_to_tick(last * 0.98):.2f}")
    window.ticket.submit(OrderSide.BUY)
    answer_confirmation(qloop, qtbot, window, yes=True)
    wait_until(qloop, lambda: session.orders.working() and session.orders.working()[0].perm_id, message="working")
    order = session.orders.working()[0]
    line = window.chart.chart.marks.order_lines[order.client_order_id]
    line.setValue(instrument.round_to_tick(last * 0.985))
    line.sigPositionChangeFinished.emit(line)
    assert "Modify this order?" in answer_confirmation(qloop, qtbot, window, yes=False)
    wait_until(qloop, lambda: abs(line.value() - order.limit_price) < 1e-9, message="the line back at the order")
    window.blotter.cancel_all_button.click()
    assert "Cancel all 1 working order(s)?" in answer_confirmation(qloop, qtbot, window, yes=True)
    wait_until(qloop, lambda: not session.orders.working(), message="the order cancelled")


def test_ticket_preview_comes_from_the_broker(terminal_window, qloop):
    window, session, instrument = open_with_symbol(terminal_window, qloop, in_process_simulator=True)
    window.ticket.order_type.setCurrentIndex(window.ticket.order_type.findData(OrderType.MARKET))
    window.ticket.quantity.setValue(250)
    wait_until(qloop, lambda: "(broker)" in window.ticket.preview.text(), message="the broker's preview")
    assert "initial margin +" in window.ticket.preview.text()
    assert session.simulator.engine.submitted_count == 0  # a preview never trades


def test_kill_switch_and_confirm_preference_survive_a_restart(terminal_window, qloop):
    window, session, _ = open_with_symbol(terminal_window, qloop, confirm_orders=False, in_process_simulator=True)
    window.kill_action.setChecked(True)
    window.confirm_action.setChecked(True)
    qloop.run_until_complete(session.records.flush())
    window.close()
    qloop.run_until_complete(session.stop())
    again, session2 = terminal_window(confirm_orders=False)
    assert again.kill_action.isChecked() and session2.risk.kill_switch
    assert again.confirm_action.isChecked() and session2.confirmation.confirm_orders


def test_position_mismatch_is_shown_and_acknowledged_in_the_positions_dock(terminal_window, qloop, qtbot, tmp_path):
    window, session, instrument = open_with_symbol(terminal_window, qloop, in_process_simulator=True)
    window.ticket.order_type.setCurrentIndex(window.ticket.order_type.findData(OrderType.MARKET))
    window.ticket.quantity.setValue(100)
    window.ticket.submit(OrderSide.BUY)
    wait_until(qloop, lambda: session.orders.orders and next(iter(session.orders.orders.values())).status
               is OrderStatus.FILLED, message="the fill")
    # The broker's position changes without a fill reaching this terminal (a trade made in TWS).
    account = session.simulator.accounts
    from dataclasses import replace

    book = account.positions["DU1234567"]
    book[instrument.contract_id] = replace(book[instrument.contract_id], quantity=130)
    session.simulator._push_account("DU1234567")  # TWS sends the changed position
    wait_until(qloop, lambda: session.portfolio.position_quantity(instrument) == 130, message="the broker's update")
    window.menuBar()  # Trading → Reconcile with the broker
    action = next(a for a in window.findChildren(QAction) if a.text() == "Reconcile with the broker")
    action.trigger()
    wait_until(qloop, lambda: session.last_reconcile is not None and session.last_reconcile.mismatches,
               message="the reconciliation to find the mismatch")
    panel = window.positions
    window.docks["Positions"].raise_()
    assert panel.mismatch_box.isVisible()
    assert "the broker reports +130" in panel.mismatch.text() and "imply +100" in panel.mismatch.text()
    window.grab().save(str(tmp_path / "mismatch.png"))
    qtbot.mouseClick(panel.acknowledge_button, Qt.MouseButton.LeftButton)
    assert not panel.mismatch_box.isVisible() and instrument.key not in session.risk.blocked
    assert qloop.run_until_complete(session.records.flush())
    assert session.store.position_book.all()[("DU1234567", instrument.key)] == 130
