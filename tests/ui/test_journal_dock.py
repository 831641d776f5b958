"""The Journal dock in the real window: a fill on the simulator becomes a round trip with the right P&L; tags
edited in the table are stored; a backtest's trade opens on the chart."""

from __future__ import annotations

import pytest

from terminal.domain import Order, OrderSide, OrderType, Provenance
from tests.support.trading import fill_order
from tests.ui.conftest import open_with_symbol, run_sma_on_goog, wait_until

pytestmark = pytest.mark.gui


def _column(panel, name):
    from terminal.ui.panels.journal import COLUMNS

    return COLUMNS.index(name)


def test_a_simulator_round_trip_appears_in_the_journal_with_its_pnl(terminal_window, qloop, tmp_path):
    window, session, aapl = open_with_symbol(terminal_window, qloop)
    bought = fill_order(qloop, session, Order(aapl, OrderSide.BUY, 20, OrderType.MARKET))
    sold = fill_order(qloop, session, Order(aapl, OrderSide.SELL, 20, OrderType.MARKET))
    panel = window.journal
    wait_until(qloop, lambda: panel.table.rowCount() == 1, timeout=15, message="the round trip in the journal")
    trip = panel.trip_at(0)
    fills = session.store.fills.list()
    commission = sum(f.commission for f in fills)
    expected = 20 * (sold.average_fill_price - bought.average_fill_price) - commission
    assert (trip.source, trip.symbol, trip.side, trip.quantity) == ("sim", "AAPL", "long", 20)
    assert trip.pnl == pytest.approx(expected)
    assert panel.table.item(0, _column(panel, "P&L")).text() == f"{expected:,.2f}"
    assert "1 round trips" in panel.summary.text()
    # tags typed into the table are stored and counted by tag
    panel.table.item(0, _column(panel, "Tags")).setText("scalp, open drive")
    wait_until(qloop, lambda: session.store.journal.list()[0].tags == ("open drive", "scalp"),
               message="the tags in the store")
    panel.by.setCurrentText("tag")
    groups = {panel.groups.item(r, 0).text() for r in range(panel.groups.rowCount())}
    assert groups == {"open drive", "scalp"}
    # the chart was taken when each fill came in: the round trip's entry and exit snapshots
    wait_until(qloop, lambda: all(session.store.journal.snapshot(_execution(session, side)) is not None
                                  for side in (OrderSide.BUY, OrderSide.SELL)),
               message="the chart snapshots at entry and exit")
    qloop.run_until_complete(panel.show_snapshots(trip))
    assert all(not panel.snapshot_labels[n].pixmap().isNull() for n in ("entry", "exit"))
    assert panel.snapshot_labels["entry"].pixmap().width() > 100
    from PySide6.QtGui import QImage

    picture = QImage.fromData(session.store.journal.snapshot(_execution(session, OrderSide.BUY)), "PNG")
    assert picture.width() > 300
    theme = window.chart.chart.palette_  # candles, not an empty plot: the candle colours fill part of the picture
    candle = {theme.color("up").rgb(), theme.color("down").rgb()}
    grid = [picture.pixel(x, y) for x in range(0, picture.width(), 2) for y in range(0, picture.height(), 2)]
    assert sum(pixel in candle for pixel in grid) > 100
    window.docks["Journal"].raise_()
    panel.side_tabs.setCurrentIndex(2)
    window.grab().save(str(tmp_path / "journal.png"))


def _execution(session, side):
    return next(f.execution_id for f in session.store.fills.list() if f.side is side)


def test_clicking_a_backtest_trade_in_the_journal_charts_it(terminal_window, qloop, real_csv_dir):
    window, session = terminal_window()
    run = run_sma_on_goog(window, session, qloop, real_csv_dir)
    panel = window.journal
    wait_until(qloop, lambda: panel.table.rowCount() == len(run["trades"]), timeout=15,
               message="the run's trades in the journal")
    panel.source.setCurrentText("backtest")
    wait_until(qloop, lambda: panel.table.rowCount() == len(run["trades"]), message="the backtest filter")
    panel.table.sortItems(0)
    panel._clicked(5, 0)
    trip = panel.trip_at(5)
    marks = window.chart.chart.marks
    wait_until(qloop, lambda: len(marks.trades) == 1 and marks.trades[0].pnl == trip.pnl, message="the trade charted")
    first, last = window.chart.chart.visible_range()
    assert first <= marks.bar_index(trip.entry_time) <= marks.bar_index(trip.exit_time) <= last


def test_trades_against_a_backtest_run_in_the_dock(terminal_window, qloop, real_csv_dir):
    """Two of a GOOG run's trades taken by hand (0.25 worse on each leg) and stored as simulator fills: the
    dock pairs them with the run's, counts the rest as missed, and sums the slippage."""
    from datetime import datetime, timedelta

    from terminal.domain import Fill

    window, session = terminal_window()
    run = run_sma_on_goog(window, session, qloop, real_csv_dir)
    goog = session.store.instruments.find_symbol("GOOG")[0]
    for n, t in enumerate(run["trades"][:2]):
        long = t["size"] > 0
        worse = 0.25 if long else -0.25
        for k, (side, price, when) in enumerate(
                ((OrderSide.BUY if long else OrderSide.SELL, t["entry_price"] + worse, t["entry_time"]),
                 (OrderSide.SELL if long else OrderSide.BUY, t["exit_price"] - worse, t["exit_time"]))):
            session.store.fills.save(Fill(f"h{n}{k}", 0, goog, side, 4, price,
                                          datetime.fromisoformat(when) + timedelta(hours=1), 0.0, "DU1",
                                          provenance=Provenance.SIMULATOR))
    panel = window.journal
    panel.compare_run.setValue(run["run_id"])
    qloop.run_until_complete(panel.compare(run["run_id"]))
    kinds = [panel.compare_table.item(r, 0).text() for r in range(panel.compare_table.rowCount())]
    assert kinds.count("matched") == 2 and kinds.count("missed") == len(run["trades"]) - 2
    assert "extra" not in kinds and "slippage cost 4.00" in panel.compare_summary.text()  # 2 × 0.5 × 4


def test_replay_trade_opens_the_recording_at_the_trades_entry_or_says_why_not(terminal_window, qloop, qtbot,
                                                                              tmp_path):
    """A trade whose time the archive recorded opens the market replay there (after a yes); one it did not
    record says so in one line, and nothing changes."""
    from datetime import UTC, datetime

    from terminal.domain import Fill, Instrument
    from tests.replay.test_replay_session import _recording
    from tests.ui.conftest import answer_confirmation

    archive = _recording(tmp_path)  # ten minutes of AAPL from 1_764_000_000
    window, session = terminal_window(archive=archive)
    aapl = Instrument("AAPL", contract_id=265598)
    for n, (side, second, price) in enumerate([(OrderSide.BUY, 200, 190.1), (OrderSide.SELL, 260, 190.3),
                                               (OrderSide.BUY, 90_000, 191.0), (OrderSide.SELL, 90_060, 191.2)]):
        session.store.fills.save(Fill(f"r{n}", n + 1, aapl, side, 10, price,
                                      datetime.fromtimestamp(1_764_000_000 + second, UTC), 0.0, "DU1", f"c{n}",
                                      provenance=Provenance.SIMULATOR))
    panel = window.journal
    window.docks["Journal"].raise_()
    qloop.run_until_complete(panel.refresh())
    assert panel.table.rowCount() == 2
    rows = {panel.trip_at(r).entry_time.timestamp() - 1_764_000_000: r for r in range(2)}
    panel.table.selectRow(rows[90_000])  # a day later: not recorded
    panel.replay_button.click()
    wait_until(qloop, lambda: "no recording of AAPL" in panel.summary.text(), message="the reason in the dock")
    assert panel.summary.text().count("\n") == 0 and session.replay is None
    panel.table.selectRow(rows[200])
    panel.replay_button.click()
    question = answer_confirmation(qloop, qtbot, window)
    assert "Replay AAPL from 2025-11-24 16:01:20 UTC, 2 minutes before this long trade's entry" in question
    wait_until(qloop, lambda: session.replay is not None and session.replay.clock is not None, timeout=30,
               message="the replay of the trade")
    wait_until(qloop, lambda: session.status.provenance is Provenance.REPLAY, timeout=30,
               message="the replay connection")
    assert session.replay.clock.state == "paused"
    assert session.replay.clock.now == datetime.fromtimestamp(1_764_000_080, UTC)
    qloop.run_until_complete(session.end_replay())
