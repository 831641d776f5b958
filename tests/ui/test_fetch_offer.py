"""A backtest, grid or pair scan on bars the store lacks offers to fetch them, on the real window against the
simulator: Fetch downloads them (progress in the dock) and the run goes on; Cancel fetches nothing."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from terminal.domain import BarSize, Instrument
from tests.ui.conftest import wait_until

pytestmark = pytest.mark.gui

# XNYS sessions of June-November 2026: weekdays but Juneteenth, July 3 (the 4th is a Saturday), Labor Day and
# Thanksgiving
HOLIDAYS = {"2026-06-19", "2026-07-03", "2026-09-07", "2026-11-26"}
SESSIONS = [f"{d:%Y-%m-%d}" for d in pd.bdate_range("2026-06-01", "2026-11-27") if f"{d:%Y-%m-%d}" not in HOLIDAYS]


def answer_offer(loop, qtbot, fetcher, fetch: bool, picture=None) -> str:  # type: ignore[no-untyped-def]
    """Wait for the offer, click Fetch or Cancel on it with the mouse; returns its text."""
    wait_until(loop, lambda: fetcher.dialog is not None and fetcher.dialog.isVisible(), message="the offer to fetch")
    box = fetcher.dialog
    assert box.defaultButton() is box.button(QMessageBox.StandardButton.Cancel)  # Enter fetches nothing
    button = next(b for b in box.buttons() if b.text() == "Fetch") if fetch \
        else box.button(QMessageBox.StandardButton.Cancel)
    text = box.text()
    if picture is not None:
        assert box.grab().save(str(picture))
    # clicked from within the running loop, as a user's click arrives: a click sent while the loop stands still
    # would have the Qt events it processes step the run's task outside the loop
    loop.call_soon(qtbot.mouseClick, button, Qt.MouseButton.LeftButton)
    wait_until(loop, lambda: fetcher.dialog is None, message="the offer to close")
    return text


def stored_days(session, symbol: str) -> list[str]:
    frame = session.store.bars.load_frame(Instrument(symbol), BarSize.DAY_1)
    return [f"{t:%Y-%m-%d}" for t in frame.index]


def msft_in_editor(window):
    editor = window.editor
    editor.strategies.setCurrentText("sma_cross")
    editor.symbols.setText("MSFT")
    editor.bar_size.setCurrentText("1D")
    editor.start.setText("2026-06-01")
    editor.end.setText("2026-11-27")
    return editor


def picture_at_first_progress(fetcher, widget, path) -> list:  # type: ignore[no-untyped-def]
    """Grab ``widget`` as the fetch reports its first progress; returns [(fetch bar shown, its text)]."""
    seen = []
    show_progress = fetcher._on_progress

    def progress_and_picture(progress) -> None:  # type: ignore[no-untyped-def]
        show_progress(progress)
        if not seen:
            seen.append((fetcher.isVisible(), fetcher.progress.format()))
            assert widget.grab().save(str(path))

    fetcher._on_progress = progress_and_picture
    return seen


def test_run_backtest_offers_to_fetch_missing_bars_and_runs_on_them(terminal_window, qloop, qtbot, tmp_path):
    window, session = terminal_window()
    editor = msft_in_editor(window)
    seen = picture_at_first_progress(editor.fetcher, window.docks["Strategy editor"], tmp_path / "editor.png")
    task = qloop.create_task(editor.run())
    asked = answer_offer(qloop, qtbot, editor.fetcher, fetch=True, picture=tmp_path / "fetch-offer.png")
    assert asked == ("MSFT has no stored 1D bars in 2026-06-01 … 2026-11-27.\n\nFetch them from SIMULATOR now?")
    run = qloop.run_until_complete(task)
    assert seen == [(True, "fetching MSFT 1D from SIMULATOR: 0/1 requests, 0 bars")]
    assert stored_days(session, "MSFT") == SESSIONS
    assert run is not None and run["data_provenance"] == "simulator"
    assert [t[:10] for t, _ in run["equity"]] == SESSIONS
    assert session.store.backtest_runs.count() == 1 and not editor.fetcher.isVisible()
    assert editor.messages.toPlainText().startswith(f"run {run['run_id']}: return")


def test_cancel_on_the_offer_fetches_nothing_and_says_the_bars_are_missing(terminal_window, qloop, qtbot):
    window, session = terminal_window()
    editor = msft_in_editor(window)
    task = qloop.create_task(editor.run())
    answer_offer(qloop, qtbot, editor.fetcher, fetch=False)
    assert qloop.run_until_complete(task) is None
    assert editor.messages.toPlainText().startswith("MSFT has no stored 1D bars in 2026-06-01 … 2026-11-27: "
                                                    "not fetched")
    assert stored_days(session, "MSFT") == [] and session.store.backtest_runs.count() == 0
    assert editor.run_button.isEnabled() and not editor.fetcher.isVisible()


def test_a_failed_fetch_is_one_line_in_the_editor_and_runs_nothing(terminal_window, qloop, qtbot):
    window, session = terminal_window()
    editor = msft_in_editor(window)
    editor.symbols.setText("ZZQX")  # the simulator lists no such instrument
    task = qloop.create_task(editor.run())
    answer_offer(qloop, qtbot, editor.fetcher, fetch=True)
    assert qloop.run_until_complete(task) is None
    assert editor.messages.toPlainText() == ("fetching 1D bars of ZZQX from SIMULATOR failed: unknown symbol ZZQX: "
                                             "the broker has no instrument of that name")
    assert session.store.backtest_runs.count() == 0 and editor.run_button.isEnabled()


def test_optimizer_offers_to_fetch_the_editors_missing_bars_then_runs_the_grid(terminal_window, qloop, qtbot,
                                                                                tmp_path):
    window, session = terminal_window()
    editor = msft_in_editor(window)
    optimizer = window.optimizer
    window.docks["Optimizer"].raise_()
    seen = picture_at_first_progress(optimizer.fetcher, window.docks["Optimizer"], tmp_path / "optimizer.png")
    wait_until(qloop, lambda: "fast" in optimizer.space_names(), message="sma_cross parameters in the optimizer")
    optimizer.set_space({"fast": "5,10", "slow": "30"})
    optimizer.walk_forward.setChecked(False)
    optimizer.workers.setValue(1)
    task = qloop.create_task(optimizer.run())
    asked = answer_offer(qloop, qtbot, optimizer.fetcher, fetch=True)
    assert asked.startswith("MSFT has no stored 1D bars in 2026-06-01 … 2026-11-27.")
    table = qloop.run_until_complete(task)
    assert seen == [(True, "fetching MSFT 1D from SIMULATOR: 0/1 requests, 0 bars")]
    assert stored_days(session, "MSFT") == SESSIONS
    assert table is not None and len(table) == 2 and (table["error"] == "").all()
    assert optimizer.status.text().startswith("2 of 2 runs")
    assert editor.messages.toPlainText() == ""  # the optimizer's fetch is shown in its own dock


def test_optimizer_cancel_on_the_offer_runs_no_grid(terminal_window, qloop, qtbot):
    window, session = terminal_window()
    msft_in_editor(window)
    optimizer = window.optimizer
    wait_until(qloop, lambda: "fast" in optimizer.space_names(), message="sma_cross parameters in the optimizer")
    optimizer.set_space({"fast": "5,10", "slow": "30"})
    task = qloop.create_task(optimizer.run())
    answer_offer(qloop, qtbot, optimizer.fetcher, fetch=False)
    assert qloop.run_until_complete(task) is None
    assert optimizer.status.text().startswith("MSFT has no stored 1D bars in")
    assert stored_days(session, "MSFT") == [] and optimizer.results.rowCount() == 0


def test_pair_scan_offers_to_fetch_the_universes_missing_bars_then_scans(terminal_window, qloop, qtbot, tmp_path):
    window, session = terminal_window()
    panel = window.analytics
    window.docks["Analytics"].raise_()
    seen = picture_at_first_progress(panel.fetcher, window.docks["Analytics"], tmp_path / "analytics.png")
    panel.universe.setText("KO,PEP,XOM")
    panel.bar_size.setCurrentText("1D")
    task = qloop.create_task(panel.scan())
    asked = answer_offer(qloop, qtbot, panel.fetcher, fetch=True)
    # no range in the scan: the two years a daily chart shows
    assert asked.startswith("KO, PEP and XOM have no stored 1D bars in ")
    assert asked.endswith(".\n\nFetch them from SIMULATOR now?")
    table = qloop.run_until_complete(task)
    assert seen[0][0] and seen[0][1].startswith("fetching KO 1D from SIMULATOR: 0/")
    assert table is not None and len(table) == 3  # KO-PEP, KO-XOM, PEP-XOM
    assert all(len(stored_days(session, s)) > 400 for s in ("KO", "PEP", "XOM"))


def test_pair_scan_cancel_on_the_offer_scans_nothing(terminal_window, qloop, qtbot):
    window, session = terminal_window()
    panel = window.analytics
    panel.universe.setText("KO,PEP")
    panel.bar_size.setCurrentText("1D")
    task = qloop.create_task(panel.scan())
    answer_offer(qloop, qtbot, panel.fetcher, fetch=False)
    assert qloop.run_until_complete(task) is None
    assert panel.summary.text().startswith("KO and PEP have no stored 1D bars in")
    assert panel.table.rowCount() == 0 and stored_days(session, "KO") == []


def test_cancel_fetch_stops_after_the_request_in_flight_keeps_what_arrived_and_scans_nothing(terminal_window, qloop,
                                                                                           qtbot):
    window, session = terminal_window()
    panel = window.analytics
    panel.universe.setText("KO,PEP")
    panel.bar_size.setCurrentText("1D")
    show_progress = panel.fetcher._on_progress

    def cancel_after_first(progress) -> None:  # type: ignore[no-untyped-def]
        show_progress(progress)
        if progress.requests_done == 1:  # two years of days are two requests: cancel as the first is stored
            qtbot.mouseClick(panel.fetcher.cancel_button, Qt.MouseButton.LeftButton)

    panel.fetcher._on_progress = cancel_after_first
    task = qloop.create_task(panel.scan())
    answer_offer(qloop, qtbot, panel.fetcher, fetch=True)
    assert qloop.run_until_complete(task) is None
    # two years of days are two or three requests of a year, depending on where today falls in the calendar
    assert re.match(r"backfill of KO 1D stopped after 1 of [23] requests; the ", panel.summary.text()), \
        panel.summary.text()
    assert len(stored_days(session, "KO")) > 100 and stored_days(session, "PEP") == []
    assert panel.table.rowCount() == 0 and not panel.fetcher.isVisible() and panel.scan_button.isEnabled()
