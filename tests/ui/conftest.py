"""GUI fixtures: the real window, on a real session (simulator over loopback, real IB client, temp store)."""

from __future__ import annotations

import asyncio

import pytest

from terminal.config import load_settings
from tests.support.trading import cancel_leftover_tasks, wait


@pytest.fixture
def settings_factory(tmp_path):
    def make(**overrides):
        values = {"db_url": f"sqlite:///{tmp_path / 'gui.sqlite'}", "sim_seed": 11, "confirm_orders": False}
        values.update(overrides)
        return load_settings(config_path=tmp_path / "none.toml", environ={"QT_NO_KEYRING": "1"}, overrides=values)

    return make


def _test_loop_class():
    import qasync

    class TestLoop(qasync.QEventLoop):
        """qasync's ``run_until_complete`` ends with one more pass of Qt's events after ``run_forever`` has unset
        the running loop: a task stepped in that pass (the desk feed's heartbeat watcher waking from
        ``asyncio.sleep``) died of "no running event loop", and the feed never went stale. The app runs its loop
        once for its lifetime and never sees that pass; the tests run it once per wait, so here the pass runs
        as this loop's, like every other step."""

        completing = False

        def run_forever(self):  # type: ignore[no-untyped-def]
            try:
                return super().run_forever()
            finally:
                if self.completing:
                    asyncio.events._set_running_loop(self)  # for the last pass of run_until_complete

        def run_until_complete(self, future):  # type: ignore[no-untyped-def]
            self.completing = True
            try:
                return super().run_until_complete(future)
            finally:
                self.completing = False
                asyncio.events._set_running_loop(None)

    return TestLoop


@pytest.fixture(scope="session")
def _session_loop(qapp):
    """One qasync loop for all GUI tests, as the app has one loop for its lifetime."""
    loop = _test_loop_class()(qapp, already_running=False)
    asyncio.set_event_loop(loop)
    yield loop
    loop.close()
    asyncio.set_event_loop(None)


@pytest.fixture
def qloop(_session_loop):
    """The shared qasync loop; tasks a test leaves behind are cancelled after it.

    The heap is settled first, as the app does once its window is up (``settle_heap``): without it,
    full collections late in a run walk every object earlier tests left (250-500 ms), inside the
    stall windows the loop tests measure."""
    from terminal.ui.main import settle_heap

    settle_heap()
    yield _session_loop
    cancel_leftover_tasks(_session_loop)


def wait_until(loop, predicate, timeout: float = 10.0, message: str = "condition") -> None:
    """Run the loop until ``predicate()`` is true (fails the test with ``message`` after ``timeout``)."""
    wait(loop, predicate, timeout, message)


def open_with_symbol(terminal_window, qloop, symbol="AAPL", **overrides):
    """The window on a fresh session, ``symbol`` in the watchlist and shown, its first quote in; the window active."""
    window, session = terminal_window(**overrides)
    instrument = qloop.run_until_complete(window.watchlist.add_symbol(symbol))
    window.show_instrument(instrument)
    wait_until(qloop, lambda: instrument.key in session.market.quotes, message=f"a quote of {symbol}")
    window.activateWindow()
    return window, session, instrument


@pytest.fixture
def terminal_window(qloop, qapp, settings_factory):
    """Opens the main window on a fresh session; yields a factory returning (window, session); closes both."""
    from terminal.ui.main import build_session, open_window

    opened = []

    def open_(in_process_simulator=False, **overrides):
        """``in_process_simulator``: the exchange runs in the test's process (``session.simulator`` is the
        ``SimServer``) for tests that look at its orders and accounts; else a child process, as in the app."""
        settings = settings_factory(**overrides)
        factory = None
        if in_process_simulator:
            from terminal.sim.tws_server import SimServer

            factory = lambda: SimServer(port=0, seed=settings.sim_seed)  # noqa: E731
        session = build_session(settings, factory)
        window = qloop.run_until_complete(open_window(session))
        window.show()
        opened.append((window, session))
        return window, session

    yield open_
    # Windows are closed but not deleted: destroying pyqtgraph scenes mid-run can crash Qt,
    # and the app itself never deletes its main window before exit.
    for window, session in opened:
        qloop.run_until_complete(session.stop())
        window.close()
        session.store.close()


def answer_confirmation(loop, qtbot, window, yes: bool = True) -> str:
    """Wait for the order confirmation box, click Yes or No on it with the mouse; returns its question."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QMessageBox

    wait_until(loop, lambda: window.entry.dialog is not None and window.entry.dialog.isVisible(),
               message="the confirmation box")
    box = window.entry.dialog
    question = box.text()
    button = box.button(QMessageBox.StandardButton.Yes if yes else QMessageBox.StandardButton.No)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    wait_until(loop, lambda: window.entry.dialog is None, message="the confirmation box to close")
    return question


def run_sma_on_goog(window, session, qloop, real_csv_dir) -> dict:
    """GOOG's real daily bars stored, the SMA crossover run on them from the editor (saved): the run's JSON."""
    from terminal.data import read_bars_csv
    from terminal.domain import BarSize, Instrument, Provenance

    session.store.bars.write_frame(Instrument("GOOG", primary_exchange="NASDAQ", contract_id=208813720),
                                   BarSize.DAY_1, read_bars_csv(real_csv_dir / "GOOG.csv"), Provenance.CSV)
    window.editor.strategies.setCurrentText("sma_cross")
    window.editor.symbols.setText("GOOG")
    run = qloop.run_until_complete(window.editor.run())
    assert run is not None
    return run
