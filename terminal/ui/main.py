"""Start the GUI: one qasync loop runs Qt and the IB client together."""

from __future__ import annotations

import asyncio
import logging
import sys

from terminal.config import RiskLimits, Settings

log = logging.getLogger(__name__)


def build_session(settings: Settings, simulator_factory=None):  # type: ignore[no-untyped-def]
    """The window's session: on the desk feed with ``--feed`` (no built-in simulator), else on TWS or the simulator."""
    from terminal.app import make_broker
    from terminal.services.session import TradingSession
    from terminal.store import Store

    store = Store.open(settings.resolved_db_url)
    session = TradingSession(settings, store, make_broker(settings), simulator_factory, broker_factory=make_broker)
    saved_limits = session.workspace.saved_risk_limits()
    if saved_limits:
        try:
            session.risk.set_limits(RiskLimits(**saved_limits))
        except (TypeError, ValueError) as exc:
            session.log.warning("risk", f"saved risk limits ignored: {exc}")
    return session


async def open_window(session, theme: str | None = None):  # type: ignore[no-untyped-def]
    """Build the window, restore the workspace, connect, load the watchlist. Returns the window."""
    from PySide6.QtWidgets import QApplication

    from terminal.ui.main_window import MainWindow
    from terminal.ui.theme import THEMES, apply_theme

    saved = await session.workspace.layout()
    theme_name = theme or saved.get("theme") or session.settings.theme
    apply_theme(QApplication.instance(), THEMES[theme_name])
    window = MainWindow(session, theme_name)
    window.restore_workspace(saved)
    try:
        await session.start()
    except Exception as exc:  # the window stays up and says why; the user can fix settings
        window.sync_trading_state()
        window.statusBar().showMessage(f"not connected: {exc}")
        return window
    window.sync_trading_state()
    await window.watchlist.load(preferred=saved.get("watchlist", ""))
    await window.results.load_saved()
    current = saved.get("instrument") or ""
    instrument = session.market.instruments.get(current) if current else None
    if instrument is None and window.watchlist.model.instruments():
        instrument = window.watchlist.model.instruments()[0]
    if instrument is not None:
        window.show_instrument(instrument)
    return window


WINDOW_SHOWN = "QT-WINDOW-SHOWN"  # printed once the window has painted (start-up timing, smoke tests)


class _ErrorCount(logging.Handler):
    """Counts ERROR records: ``--exit-after`` exits non-zero when start-up or the run logged one."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def run(settings: Settings, replay=None, exit_after: float | None = None) -> int:  # type: ignore[no-untyped-def]
    """``replay``: a ReplayRequest to open on (``quant-terminal replay``) instead of the simulator or TWS.
    ``exit_after``: close the window that many seconds after it first painted; the exit code is then 1 if
    an error was logged (the packaging smoke test runs the bundle like this)."""
    import qasync
    from PySide6.QtWidgets import QApplication

    from terminal import __version__

    errors_logged = _ErrorCount()
    if exit_after is not None:
        logging.getLogger().addHandler(errors_logged)
    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName("QuantTerminal")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("quant-terminal")  # Wayland/X11 match the window to quant-terminal.desktop
    from terminal.ui.icon import app_icon

    app.setWindowIcon(app_icon())
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    simulator = _launch_simulator(settings) if replay is None else None
    session = build_session(settings)
    if simulator is not None:
        session.use_prelaunched_simulator(simulator)
    if replay is not None:
        session.set_replay(replay)
    try:
        monitor = start_monitor(session, settings, loop)
    except OSError as exc:
        print(f"quant-terminal: the monitor cannot listen on {settings.monitor}: {exc.strerror or exc}",
              file=sys.stderr)
        session.store.close()
        return 1
    closed = asyncio.Event()

    async def main() -> None:
        window = await open_window(session)
        from terminal.ui import errors

        errors.install(session, lambda text: window.statusBar().showMessage(text, 15_000), loop)
        window.show()
        settle_heap()
        # Closing the window ends main() here, on a running loop: with Qt's default (quit on the last window)
        # the loop stopped under main() before the session was stopped and every exit failed.
        app.setQuitOnLastWindowClosed(False)
        app.lastWindowClosed.connect(closed.set)
        app.aboutToQuit.connect(closed.set)
        if exit_after is not None:
            await _shown(window)
            print(WINDOW_SHOWN, flush=True)
            loop.call_later(exit_after, window.close)
        await closed.wait()
        monitor.stop()  # on the loop, before it closes: the feed's timer belongs to it
        await session.stop()

    with loop:
        loop.run_until_complete(main())
    session.store.close()
    logging.getLogger().removeHandler(errors_logged)
    if errors_logged.count:
        print(f"quant-terminal: {errors_logged.count} error(s) logged while the window was up (see above)",
              file=sys.stderr)
        return 1
    return 0


def _launch_simulator(settings: Settings):  # type: ignore[no-untyped-def]
    """The built-in simulator's child, started before the session's modules load (a second of imports) so that
    its own start-up runs beside them; None when the session trades elsewhere (TWS, the desk feed)."""
    if settings.ib_endpoint() is not None or settings.feed:
        return None
    from terminal.sim.process import SimulatorProcess

    simulator = SimulatorProcess.for_settings(settings)
    simulator.launch()
    return simulator


async def _shown(window) -> None:  # type: ignore[no-untyped-def]
    """Wait until the window has painted once (a frame exists: what a user sees as 'it is open')."""
    from PySide6.QtCore import QEvent, QObject

    painted = asyncio.Event()

    class _Watch(QObject):
        def eventFilter(self, _obj, event):  # type: ignore[no-untyped-def]
            if event.type() == QEvent.Type.Paint:
                painted.set()
            return False

    watch = _Watch(window)
    window.installEventFilter(watch)
    window.update()
    try:
        await asyncio.wait_for(painted.wait(), 10)
    except TimeoutError:  # offscreen platforms may paint children only: the window is up all the same
        pass
    window.removeEventFilter(watch)


def settle_heap() -> None:
    """Collect once, then keep what start-up built out of the collector's sight (``gc.freeze``).

    The started window holds ~225,000 long-lived Python objects (Qt wrappers, pandas, statsmodels,
    pyqtgraph); every full collection walked them all on the loop, 115 ms on this machine, whenever
    the ticks' short-lived objects triggered one. Frozen, a full collection takes microseconds."""
    import gc

    gc.collect()
    gc.freeze()


class TerminalMonitor:
    """The session's feed (always: the desk snapshot in the store) and, with ``--monitor``, its HTTP server."""

    def __init__(self, feed, thread=None) -> None:  # type: ignore[no-untyped-def]
        self.feed = feed
        self.thread = thread

    def stop(self) -> None:
        self.feed.stop()
        if self.thread is not None:
            self.thread.stop()


def start_monitor(session, settings: Settings, loop) -> TerminalMonitor:  # type: ignore[no-untyped-def]
    """Publish the session's state for monitors: every 5 s into the store (for a desk's ``quant-terminal monitor``)
    and, when ``settings.monitor`` is set, to the HTTP server on its own thread. OSError when it cannot listen."""
    from terminal.monitor.session_feed import FLUSH_SECONDS, SessionFeed
    from terminal.monitor.state import MonitorState

    state = MonitorState("terminal")
    thread = None
    if settings.monitor:
        from terminal.monitor.security import parse_listen
        from terminal.monitor.server import MonitorServer, MonitorThread

        host, port = parse_listen(settings.monitor)
        server = MonitorServer(state, host, port, settings.monitor_token)
        thread = MonitorThread(server)
        thread.start()
        session.log.info("monitor", f"read-only monitor on {server.url}"
                                    + (" (token required)" if settings.monitor_token else ""))
    # Without a server nobody reads the sections between snapshots: build them only as often as those.
    feed = SessionFeed(session, state, loop, store_every=5.0,
                       flush_seconds=FLUSH_SECONDS if thread is not None else 5.0)
    feed.start()
    return TerminalMonitor(feed, thread)
