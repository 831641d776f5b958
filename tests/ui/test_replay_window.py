"""File → Replay… in the real window: the terminal leaves the simulator for a replay of a recording (a
child simulator process), the transport bar drives it, orders go to the replay's fresh account only,
and End replay comes back."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from terminal.domain import Order, OrderRejected, OrderSide, OrderType, Provenance
from terminal.services.replay import ReplayRequest
from tests.ui.conftest import wait_until

pytestmark = pytest.mark.gui
SCREENSHOTS = Path(__file__).resolve().parents[2] / "resources" / "screenshots"


@pytest.fixture
def recording(tmp_path) -> str:
    archive = tmp_path / "archive"
    done = subprocess.run([sys.executable, "-m", "terminal", "--data-dir", str(tmp_path / "rec"), "--log-level",
                           "WARNING", "record", "--symbols", "AAPL,MSFT", "--depth", "--seconds", "4",
                           "--tick-rate", "10", "--archive", str(archive)], capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr
    return str(archive)


def test_a_replay_session_from_the_file_menu_trades_only_the_replay(terminal_window, qloop, qtbot, recording,
                                                                   tmp_path):
    window, session = terminal_window()
    aapl = qloop.run_until_complete(window.watchlist.add_symbol("AAPL"))
    window.show_instrument(aapl)
    wait_until(qloop, lambda: aapl.key in session.market.quotes, message="a simulator quote")
    assert not window.replay_bar.isVisible()

    qloop.run_until_complete(session.start_replay(ReplayRequest(recording, speed=5.0, paused=True)))
    wait_until(qloop, lambda: session.status.provenance is Provenance.REPLAY, message="the replay connection")
    wait_until(qloop, lambda: session.replay.clock is not None, message="the replay clock")
    assert window.replay_bar.isVisible() and session.orders.replay_only
    assert session.replay.clock.state == "paused"
    wait_until(qloop, lambda: window.provenance_label.text() == "REPLAY", message="the REPLAY badge")

    qtbot.mouseClick(window.replay_bar.play_button, Qt.MouseButton.LeftButton)
    wait_until(qloop, lambda: session.replay.clock.state == "playing", message="play")
    replayed = session.market.instrument_for_symbol("AAPL")
    wait_until(qloop, lambda: replayed is not None and replayed.key in session.market.quotes
               and session.market.quotes[replayed.key].time is not None
               and session.market.quotes[replayed.key].time <= session.replay.clock.end,
               message="a replayed quote, stamped with replay time")
    quote_time = session.market.quotes[replayed.key].time
    assert session.replay.clock.start.replace(microsecond=0) <= quote_time <= session.replay.clock.end

    order = qloop.run_until_complete(session.orders.place(
        Order(replayed, OrderSide.BUY, 10, OrderType.MARKET), confirmed=True))
    wait_until(qloop, lambda: session.orders.orders[order.client_order_id].status.value == "Filled",
               message="the fill on the replay")
    filled = session.orders.orders[order.client_order_id]
    assert filled.provenance is Provenance.REPLAY
    wait_until(qloop, lambda: session.portfolio.account.account == "REPLAY1", message="the replay's own account")

    window.grab().save(str(tmp_path / "replay.png"))
    if os.environ.get("QT_SAVE_SCREENSHOTS"):
        window.resize(1600, 950)
        qloop.run_until_complete(__import__("asyncio").sleep(1.5))
        window.grab().save(str(SCREENSHOTS / "replay-dark.png"))

    qloop.run_until_complete(session.end_replay())
    assert session.replay is None and not session.orders.replay_only
    wait_until(qloop, lambda: session.status.provenance is Provenance.SIMULATOR, message="back on the simulator")
    assert not window.replay_bar.isVisible()


def test_while_a_replay_runs_an_order_never_reaches_another_connection(terminal_window, qloop):
    window, session = terminal_window()
    aapl = qloop.run_until_complete(window.watchlist.add_symbol("AAPL"))
    wait_until(qloop, lambda: aapl.key in session.market.quotes, message="a quote")
    session.orders.replay_only = True  # as between leaving a broker and the replay's connect
    with pytest.raises(OrderRejected, match="a replay is running"):
        qloop.run_until_complete(session.orders.place(Order(aapl, OrderSide.BUY, 1, OrderType.MARKET), confirmed=True))
    assert not session.simulator or all(o.provenance is not Provenance.SIMULATOR or not o.status.is_working
                                         for o in session.orders.orders.values())
