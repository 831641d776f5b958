"""The window on the desk feed (``--feed kafka://``), with a real Kafka broker and a hub on the simulator:
quotes through the hub; a hub that dies greys every price and the status bar says why within 2 s; a hub
that comes back makes them live again. The connect dialog's third choice switches a running window to the
feed, and back to TWS; a replay leaves the feed and comes back to it. Any broker's lost connection greys the
prices the same way."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from terminal.domain import Provenance
from terminal.sim.tws_server import SimServer
from terminal.ui.dialogs import DESK_HUB, GATEWAY, TWS, ConnectDialog
from tests.bus.conftest import kafka_bootstrap, topics  # noqa: F401  (the bus tests' Kafka, a fresh topic prefix)
from tests.bus.desk import Desk
from tests.ui.conftest import open_with_symbol, wait_until
from tests.ui.test_replay_window import recording  # noqa: F401  (a short recording of AAPL and MSFT)

pytestmark = pytest.mark.gui
SCREENSHOTS = Path(__file__).resolve().parents[2] / "resources" / "screenshots"
STALE_WITHIN = 2.0  # seconds from the hub's death to a window that shows nothing as live


@pytest.fixture
def desk(qloop, tmp_path, kafka_bootstrap, topics):  # noqa: F811
    """The bus tests' desk on the window's qasync loop: hubs (in-process or a child process) on one simulator."""
    started: list[SimServer] = []

    def sims(**options) -> SimServer:
        options.setdefault("seed", 9)
        options.setdefault("tick_interval", 0.05)
        server = SimServer(port=0, **options)
        qloop.run_until_complete(server.start())
        started.append(server)
        return server

    d = Desk(qloop, tmp_path, kafka_bootstrap, topics, sims)
    yield d
    d.close()
    for server in started:
        qloop.run_until_complete(server.stop())


def _hub_process(qloop, desk: Desk):
    """``quant-terminal hub`` as a child process (so it can die by SIGKILL, saying nothing); returns once ready
    (``Desk.hub_process`` reads its output and turns the loop until the hub says so)."""
    return desk.hub_process("--log-level", "WARNING")


def _kill(desk: Desk, process) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    desk.process = None


def _screenshot(window, tmp_path: Path, name: str) -> Path:
    """resources/screenshots/<name> with QT_SAVE_SCREENSHOTS=1 (the README's pictures), else a temp file."""
    target = SCREENSHOTS / name if os.environ.get("QT_SAVE_SCREENSHOTS") == "1" else tmp_path / name
    assert window.grab().save(str(target))
    return target


def _stale_everywhere(window, row: int) -> bool:
    model = window.watchlist.model
    grey = window.theme.color("stale")
    return (model.stale and window.depth.model.stale and window.ticket.stale and window.chart.stale_badge.isVisible()
            and all(model.data(model.index(row, col), Qt.ItemDataRole.ForegroundRole) == grey
                    for col in range(model.columnCount())))


def _brightest_text(window, row: int) -> int:
    """The lightest pixel of the row's bid and ask cells as painted (the row is selected: live, white on the
    accent; stale, grey on grey)."""
    from PySide6.QtGui import QColor

    table, model = window.watchlist.table, window.watchlist.model
    cells = table.visualRect(model.index(row, 1)).united(table.visualRect(model.index(row, 2)))
    image = table.viewport().grab(cells).toImage()
    return max(QColor(image.pixel(x, y)).lightness() for x in range(image.width()) for y in range(image.height()))


def _live_everywhere(window) -> bool:
    return not (window.watchlist.model.stale or window.depth.model.stale or window.ticket.stale
                or window.stale_label.isVisible() or window.chart.stale_badge.isVisible())


def test_the_window_on_the_feed_greys_its_prices_within_2_s_of_the_hub_dying_and_is_live_again_with_a_new_hub(
        desk, terminal_window, qloop, tmp_path):
    process = _hub_process(qloop, desk)
    feed = f"kafka://{desk.bootstrap}"
    window, session, aapl = open_with_symbol(terminal_window, qloop, "AAPL", feed=feed,
                                             bus_prefix=desk.topics.prefix, trader="alice")
    assert session.simulator is None, "on the feed the terminal starts no simulator of its own"
    assert type(session.broker).__name__ == "KafkaBroker"
    model, row = window.watchlist.model, window.watchlist.model.row_of(aapl.key)
    window.watchlist.table.selectRow(row)  # the trader's current row: greyed too when stale, selection and all
    wait_until(qloop, lambda: model.data(model.index(row, 1)) != "", message="AAPL's bid in the watchlist")
    wait_until(qloop, lambda: window.depth.model.rows, message="the ladder on the hub's depth")
    wait_until(qloop, lambda: len(window.chart.chart.base) > 0, timeout=30, message="the chart's history via the hub")
    wait_until(qloop, lambda: window.ticket.quote_label.text() != "", message="the ticket's quote")
    assert session.status.live and session.status.endpoint == feed
    assert window.connection_label.text() == f"● connected {feed}"
    assert window.provenance_label.text() == "SIMULATOR"  # the hub's broker session, said by its heartbeat
    assert _live_everywhere(window)
    assert model.data(model.index(row, 1), Qt.ItemDataRole.ForegroundRole) != window.theme.color("stale")
    assert _brightest_text(window, row) > 180  # painted in the selection's white
    qloop.run_until_complete(asyncio.sleep(1.0))  # a few ticks for the picture
    _screenshot(window, tmp_path, "desk-feed.png")

    _kill(desk, process)  # no goodbye on the bus: only the missing heartbeat tells
    died = time.monotonic()
    wait_until(qloop, lambda: _stale_everywhere(window, row) and window.stale_label.isVisible(), timeout=10,
               message="every price greyed after the hub's death")
    took = time.monotonic() - died
    assert took <= STALE_WITHIN, f"the window showed the dead hub's prices as live for {took:.2f} s"
    status = window.connection_label.text()
    assert status.startswith(f"◐ reconnecting {feed} — feed stale: no word from the desk hub"), status
    assert window.stale_label.text() == "STALE"
    assert window.depth.title.text() == "Depth — AAPL  (stale)"
    assert window.ticket.quote_label.text().startswith("stale ")
    assert model.data(model.index(row, 1)) != "", "the last quote stays readable, greyed"
    assert _brightest_text(window, row) < 130  # painted grey (lightness 107), not in the text colour
    qloop.run_until_complete(asyncio.sleep(0.5))
    _screenshot(window, tmp_path, "desk-feed-stale.png")

    desk.hub()  # another hub takes over the desk (in-process this time), on the same simulator
    wait_until(qloop, lambda: session.status.live, timeout=30, message="the feed live again")
    wait_until(qloop, lambda: _live_everywhere(window), timeout=2, message="the prices no longer greyed")
    after = session.market.quotes[aapl.key]
    wait_until(qloop, lambda: session.market.quotes[aapl.key] is not after, timeout=15,
               message="a fresh AAPL quote from the new hub")
    assert window.connection_label.text() == f"● connected {feed}"
    assert window.depth.title.text() == "Depth — AAPL"
    assert not window.ticket.quote_label.text().startswith("stale")
    assert model.data(model.index(row, 1), Qt.ItemDataRole.ForegroundRole) != window.theme.color("stale")
    assert _brightest_text(window, row) > 180


def test_the_connect_dialogs_desk_hub_choice_moves_a_running_window_onto_the_feed_and_tws_moves_it_back(
        desk, terminal_window, qloop, qtbot):
    hub = desk.hub()
    window, session, msft = open_with_symbol(terminal_window, qloop, "MSFT", in_process_simulator=True,
                                             bus_prefix=desk.topics.prefix, desk_role="desk")
    assert session.simulator is not None and session.status.provenance is Provenance.SIMULATOR
    dialog = ConnectDialog(feed="", trader="", parent=window)
    qtbot.addWidget(dialog)
    dialog.show()
    assert [b.text() for b in dialog.kinds.values()] == [TWS, GATEWAY, DESK_HUB]
    dialog.choose(DESK_HUB)
    assert dialog.feed.isVisible() and dialog.trader.isVisible() and not dialog.endpoint.isVisible()
    dialog.feed.setText(desk.bootstrap)  # a bare HOST:PORT is taken as kafka://HOST:PORT
    dialog.trader.setText("bob")
    choice = dialog.choice()
    assert (choice.feed, choice.trader, choice.ib) == (f"kafka://{desk.bootstrap}", "bob", "")

    qloop.run_until_complete(window.connect_to(choice, ask=False))
    assert session.simulator is None and session.settings.feed == choice.feed and session.settings.trader == "bob"
    assert session.status.live and session.status.endpoint == choice.feed
    assert type(session.broker).__name__ == "KafkaBroker" and session.orders._broker is session.broker
    assert session.orders.adopt_refs, "the desk role keeps every order's own client order id, as at start-up"
    wait_until(qloop, lambda: ("quotes", msft.key) in hub.wanted(), message="the watchlist's MSFT asked of the hub")
    fresh = session.market.quotes.get(msft.key)
    wait_until(qloop, lambda: session.market.quotes.get(msft.key) not in (None, fresh), timeout=15,
               message="MSFT quotes through the hub")
    assert window.connection_label.text() == f"● connected {choice.feed}"

    dialog.choose(TWS)
    dialog.endpoint.setText(f"127.0.0.1:{desk.sim.port}")  # the hub's simulator stands in for TWS
    dialog.client_id.setValue(7)
    qloop.run_until_complete(window.connect_to(dialog.choice(), ask=False))
    assert type(session.broker).__name__ == "IBBroker" and session.settings.feed == "" and not session.orders.adopt_refs
    assert session.status.live and session.status.endpoint == f"127.0.0.1:{desk.sim.port}"
    wait_until(qloop, lambda: any(s.client_id == 7 and s.subs.quotes for s in desk.sim.sessions),
               message="the watchlist subscribed at TWS")


def test_the_connect_dialog_names_a_bad_desk_bus_address_and_keeps_the_dialog_open(qtbot):
    dialog = ConnectDialog(feed="kafka://10.0.0.5:9092", trader="carol")
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.kind == DESK_HUB  # on the feed now: the dialog opens on it, with its address and trader
    assert (dialog.feed.text(), dialog.trader.text()) == ("kafka://10.0.0.5:9092", "carol")
    dialog.feed.setText("kafka://deskbus")
    dialog._check()
    assert dialog.isVisible() and "bad Kafka server 'deskbus'" in dialog.error.text()
    dialog.choose(GATEWAY)
    assert dialog.endpoint.text() == "127.0.0.1:4002" and dialog.error.text() == ""


def test_a_lost_ib_connection_greys_the_prices_too_and_a_reconnect_restores_them(terminal_window, qloop):
    window, session, aapl = open_with_symbol(terminal_window, qloop, "AAPL", in_process_simulator=True)
    row = window.watchlist.model.row_of(aapl.key)
    wait_until(qloop, lambda: window.depth.model.rows, message="the ladder")
    sim = session.simulator
    port = sim.port
    qloop.run_until_complete(sim.stop())
    wait_until(qloop, lambda: _stale_everywhere(window, row) and window.stale_label.isVisible(), timeout=STALE_WITHIN,
               message="the prices greyed once TWS is gone")
    assert window.connection_label.text().startswith(f"◐ reconnecting 127.0.0.1:{port} — connection to "
                                                     f"127.0.0.1:{port} lost"), window.connection_label.text()
    restarted = SimServer(port=port, seed=11, tick_interval=0.05)
    qloop.run_until_complete(restarted.start())
    session.simulator = restarted  # stopped with the session
    wait_until(qloop, lambda: session.status.live, timeout=20, message="reconnected")
    wait_until(qloop, lambda: _live_everywhere(window), timeout=2, message="the prices live again")


def test_a_replay_from_the_feed_trades_on_the_replay_and_ending_it_comes_back_to_the_desk_hub(
        desk, terminal_window, qloop, recording):  # noqa: F811
    from terminal.services.replay import ReplayRequest

    desk.hub()
    feed = f"kafka://{desk.bootstrap}"
    window, session, _ = open_with_symbol(terminal_window, qloop, "AAPL", feed=feed, bus_prefix=desk.topics.prefix)
    qloop.run_until_complete(session.start_replay(ReplayRequest(recording, speed=5.0)))
    wait_until(qloop, lambda: session.status.provenance is Provenance.REPLAY, message="the replay connection")
    assert type(session.broker).__name__ == "IBBroker", "a replay speaks TWS's protocol"
    assert window.provenance_label.text() == "REPLAY"

    qloop.run_until_complete(session.end_replay())
    assert type(session.broker).__name__ == "KafkaBroker" and not session.orders.replay_only
    assert session.status.live and session.status.endpoint == feed
    wait_until(qloop, lambda: window.provenance_label.text() == "SIMULATOR", message="the hub's session again")
    aapl = session.market.instrument_for_symbol("AAPL")
    wait_until(qloop, lambda: aapl is not None and aapl.key in session.market.quotes, timeout=15,
               message="AAPL quotes through the hub again")
