"""A terminal session on a replay (the replay simulator as its child process, as in the app) survives a
crash of the replay process and a restart of the terminal, and its orders go to the replay only."""

from __future__ import annotations

import os
import signal

from terminal.archive.recorder import Recorder
from terminal.broker.ib import IBBroker
from terminal.config import load_settings
from terminal.domain import Instrument, Order, OrderSide, OrderType, Provenance
from terminal.services.replay import ReplayRequest
from terminal.services.session import TradingSession
from terminal.store import Store
from tests.support.trading import fill_order, wait


def _recording(tmp_path) -> str:
    """Ten minutes of AAPL quotes and trades, two a second: long enough to outlast the test at 1x."""
    from terminal.archive import open_archive

    archive = open_archive(str(tmp_path / "archive"))
    recorder = Recorder(archive, "live", tmp_path / "spool")
    aapl = Instrument("AAPL", contract_id=265598)
    start = 1_764_000_000.0
    for i in range(1200):
        when = start + i * 0.5
        price = round(190 + (i % 40) * 0.01, 2)
        recorder.ticks(aapl, [(when, "bid", price, 500.0), (when, "ask", round(price + 0.02, 2), 500.0),
                              (when, "last", round(price + 0.01, 2), 100.0)], recv=when)
    recorder.close()
    return str(tmp_path / "archive")


def _session(loop, tmp_path, archive: str) -> TradingSession:
    settings = load_settings(config_path=tmp_path / "none.toml", environ={"QT_NO_KEYRING": "1"},
                             overrides={"db_url": f"sqlite:///{tmp_path / 'replay.sqlite'}", "confirm_orders": False})
    session = TradingSession(settings, Store.open(settings.resolved_db_url),
                             IBBroker(reconnect_initial=0.2, reconnect_max=0.5))
    session.set_replay(ReplayRequest(archive, speed=1.0))
    loop.run_until_complete(session.start())
    return session


def test_a_replay_session_survives_a_crash_of_the_replay_and_a_restart_of_the_terminal(loop, tmp_path):
    archive = _recording(tmp_path)
    session = _session(loop, tmp_path, archive)
    try:
        assert session.broker.provenance is Provenance.REPLAY and session.orders.replay_only
        aapl = loop.run_until_complete(session.market.qualify("AAPL"))
        loop.run_until_complete(session.market.subscribe(aapl))  # the clock starts with it
        wait(loop, lambda: aapl.key in session.market.quotes, what="the first replayed quote")
        first = fill_order(loop, session, Order(aapl, OrderSide.BUY, 100, OrderType.MARKET))
        assert first.provenance is Provenance.REPLAY

        old_pid = session.simulator.pid
        loop.run_until_complete(session.reconciled())
        reconciled_before = session.last_reconcile
        os.kill(old_pid, signal.SIGKILL)  # the replay process dies: the session starts it again
        wait(loop, lambda: session.simulator.pid not in (None, old_pid) and session.broker.is_connected,
             timeout=30, what="the replay to be restarted and reconnected")
        assert session.broker.provenance is Provenance.REPLAY and session.orders.replay_only
        wait(loop, lambda: session.last_reconcile is not reconciled_before, timeout=15,
             what="the reconciliation after the reconnect")
        wait(loop, lambda: aapl.key in session.market.quotes, what="a quote from the restarted replay")
        # the restarted replay trades a fresh account: nothing it lost is held against it as a mismatch
        wait(loop, lambda: session.portfolio.account.account == "REPLAY1", what="the replay account's update")
        assert loop.run_until_complete(session.check_positions()) == []
        again = fill_order(loop, session, Order(aapl, OrderSide.SELL, 50, OrderType.MARKET), timeout=15)
        assert again.provenance is Provenance.REPLAY
        assert session.positions.quantity("REPLAY1", aapl.key) == -50
    finally:
        loop.run_until_complete(session.stop())
        session.store.close()

    restarted = _session(loop, tmp_path, archive)  # the terminal again, on the same store
    try:
        kept = restarted.orders.orders
        assert kept[first.client_order_id].provenance is Provenance.REPLAY  # still known, still replay's
        aapl = loop.run_until_complete(restarted.market.qualify("AAPL"))
        loop.run_until_complete(restarted.reconciled())
        wait(loop, lambda: restarted.portfolio.account.account == "REPLAY1", what="the replay account's update")
        assert loop.run_until_complete(restarted.check_positions()) == []  # the last replay's -50 is not expected
        loop.run_until_complete(restarted.market.subscribe(aapl))
        wait(loop, lambda: aapl.key in restarted.market.quotes, what="a quote after the terminal's restart")
        third = fill_order(loop, restarted, Order(aapl, OrderSide.BUY, 10, OrderType.MARKET), timeout=15)
        assert third.provenance is Provenance.REPLAY and restarted.portfolio.account.account == "REPLAY1"
    finally:
        loop.run_until_complete(restarted.stop())
        restarted.store.close()
