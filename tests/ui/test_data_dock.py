"""The Data dock on the real window: stored series with coverage and gaps, and Fill gaps through the session."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

from terminal.domain import BarSize
from terminal.services.backfill import day_range
from tests.ui.conftest import wait_until

pytestmark = pytest.mark.gui
SCREENSHOTS = Path(__file__).resolve().parents[2] / "resources" / "screenshots"


def _row(panel, symbol: str, size: str) -> int:
    model = panel.model
    return next(r for r in range(model.rowCount()) if model.record_at(r).instrument.symbol == symbol
                and model.record_at(r).bar_size.short == size)


def _cell(panel, row: int, header: str) -> str:
    column = [c.header for c in panel.model.columns].index(header)
    return panel.model.data(panel.model.index(row, column))


def test_fill_gaps_fetches_the_selected_series_gaps_and_the_table_shows_them_gone(terminal_window, qloop, tmp_path):
    window, session = terminal_window()
    panel = window.data
    backfill = session.backfill

    async def store_with_holes() -> None:
        """Two weeks of KO minutes (the window's chart loads AAPL's) with the week between them missing, and a month of MSFT days without a week."""
        ko = await backfill.resolve("KO")
        msft = await backfill.resolve("MSFT")
        for first, last in ((date(2026, 11, 2), date(2026, 11, 6)), (date(2026, 11, 16), date(2026, 11, 20))):
            await backfill.fill(ko, BarSize.MIN_1, *day_range(ko, first, last))
        for first, last in ((date(2026, 10, 1), date(2026, 10, 9)), (date(2026, 10, 19), date(2026, 10, 30))):
            await backfill.fill(msft, BarSize.DAY_1, *day_range(msft, first, last))
        await panel.refresh()

    qloop.run_until_complete(store_with_holes())
    ko_row, msft_row = _row(panel, "KO", "1m"), _row(panel, "MSFT", "1D")
    assert _cell(panel, ko_row, "Gaps") == "1" and _cell(panel, msft_row, "Gaps") == "1"
    assert _cell(panel, msft_row, "Bars") == "17" and _cell(panel, msft_row, "Coverage") == "77.3%"  # 17 of 22
    panel.table.selectRow(ko_row)
    panel.fill_selected()
    wait_until(qloop, lambda: panel.filling, message="the fill to start")
    wait_until(qloop, lambda: not panel.filling, timeout=60, message="the fill to finish")
    assert "error" not in panel.status.text(), panel.status.text()
    ko_row, msft_row = _row(panel, "KO", "1m"), _row(panel, "MSFT", "1D")
    assert (_cell(panel, ko_row, "Gaps"), _cell(panel, ko_row, "Coverage")) == ("0", "100.0%")
    assert _cell(panel, ko_row, "Bars") == f"{15 * 16 * 60:,}"  # 15 trading days of 04:00-20:00
    assert _cell(panel, msft_row, "Gaps") == "1"  # not selected, not filled
    assert "KO 1m  1/1 requests" in panel.progress.format()

    dock = window.docks["Data"]  # the README's picture: the dock on its own, after the fill
    dock.setFloating(True)
    dock.resize(1000, 300)
    wait_until(qloop, lambda: dock.width() == 1000, message="the dock to float")
    name = "data-dock-dark.png"
    target = SCREENSHOTS / name if os.environ.get("QT_SAVE_SCREENSHOTS") == "1" else tmp_path / name
    assert dock.grab().save(str(target))


def test_cancel_stops_a_fill_after_the_request_in_flight_and_keeps_what_arrived(terminal_window, qloop):
    window, session = terminal_window()
    panel = window.data
    aapl = qloop.run_until_complete(session.backfill.resolve("AAPL"))
    start, end = day_range(aapl, date(2026, 10, 1), date(2026, 11, 27))
    # 1-minute bars come 7 days to a request: cancel as the first one is stored
    original = panel._on_progress

    def cancel_after_first(progress) -> None:  # type: ignore[no-untyped-def]
        original(progress)
        if progress.requests_done == 1:
            panel.cancel()

    panel._on_progress = cancel_after_first
    qloop.run_until_complete(panel.fill([(aapl, BarSize.MIN_1, start, end)]))
    assert "stopped after 1 of" in panel.status.text()
    row = _row(panel, "AAPL", "1m")
    assert int(_cell(panel, row, "Bars").replace(",", "")) > 0
