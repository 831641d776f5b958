"""The trading session: broker connection (simulator or TWS), store and every service, wired together.

At start the session loads the trading state from the store (orders, fills, position book,
kill switch, confirmation preference, the trading day's starting equity); after every
connect and reconnect it reconciles orders, fills and positions with the broker before the
user's next order can rely on them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from terminal.broker import events as ev
from terminal.broker.base import Broker
from terminal.config import Settings, parse_feed_url
from terminal.domain import DomainError, Fill, Instrument, Order
from terminal.services.alerts import AlertService
from terminal.services.analytics import AnalyticsService
from terminal.services.backfill import BackfillService
from terminal.services.backtests import BacktestService
from terminal.services.confirmation import ConfirmationPolicy
from terminal.services.connection import BrokerFactory, ConnectionStatus, ib_broker
from terminal.services.history import HistoryService
from terminal.services.journal import JournalService
from terminal.services.log import LogService
from terminal.services.market import MarketService
from terminal.services.orders import OrderService
from terminal.services.portfolio import PortfolioService
from terminal.services.reconcile import PositionBook, PositionMismatch, ReconcileReport
from terminal.services.recording import RecordingRequest, RecordingService
from terminal.services.records import RecordWriter
from terminal.services.replay import ReplayController, ReplayRequest
from terminal.services.risk import RiskChecker
from terminal.services.signal import Signal
from terminal.services.strategies import LiveStrategies
from terminal.services.trading_day import TradingDay
from terminal.services.workspace import WorkspaceService
from terminal.store import Store

log = logging.getLogger(__name__)

# A built-in simulator that ends by itself is started again on its port this many times in a row at most.
SIMULATOR_RESTARTS = 5


class Simulator(Protocol):
    """The built-in exchange: a child process by default (``terminal.sim.process``); tests that inspect
    the exchange's state pass an in-process ``SimServer``, which has the same three members."""

    port: int

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


# Brokers report executions of the current day (TWS at most 7 days back): ids older than this are never replayed.
EXECUTION_MEMORY = timedelta(days=8)
# A broker position read and the fills that move it are separate messages: re-read after this before
# calling a difference a mismatch.
POSITION_SETTLE_SECONDS = 1.5


@dataclass(frozen=True)
class _Saved:
    orders: list[Order]
    fills: list[Fill]
    executions: set[str]
    book: dict[tuple[str, str], float]
    instruments: list[Instrument]
    kill_switch: dict[str, Any]
    preferences: dict[str, Any]
    trading_day: dict[str, Any]


class TradingSession:
    """Owns the services; the UI and the CLI talk to these, never to the broker."""

    def __init__(self, settings: Settings, store: Store, broker: Broker,
                 simulator_factory: Callable[[], Simulator] | None = None,
                 broker_factory: BrokerFactory | None = None) -> None:
        """``simulator_factory`` builds the built-in simulator when no ``settings.ib`` is given (default:
        ``quant-terminal sim`` as a child process that never outlives this one). ``broker_factory`` builds the
        broker of another kind when a switch needs one (the desk feed's for ``switch_to_feed``, IB's for TWS or
        a replay after the feed); ``broker`` is the one for ``settings``."""
        self.settings = settings
        self.store = store
        self.broker = broker
        self._broker_factory = broker_factory or ib_broker
        self._on_feed = bool(settings.feed)  # which kind ``broker`` is
        self.log = LogService()
        self.records = RecordWriter(store, self.log, dead_letter=settings.resolved_data_dir / "unwritten-records.jsonl")
        self.market = MarketService(broker, store)
        self.portfolio = PortfolioService(TradingDay(settings.daily_reset_time, settings.daily_reset_timezone))
        self.risk = RiskChecker(settings.risk_limits)
        self.positions = PositionBook()
        self.confirmation = ConfirmationPolicy(settings.confirm_orders)
        self.orders = OrderService(broker, self.records, self.risk, self.market, self.portfolio, self.log,
                                   self.positions, self.confirmation)
        self.orders.adopt_refs = getattr(broker, "role", "") == "desk"  # every order of the desk, by its own id
        self.history = HistoryService(broker, store)
        self.backfill = BackfillService(broker, store)
        self.journal = JournalService(store)
        self.backtests = BacktestService(store, self.history, journal=self.journal)
        self.strategies = LiveStrategies(store, self.orders, self.market, self.history, self.backtests,
                                         self.confirmation, self.log, lambda: self.broker,
                                         lambda: self.portfolio.account.account)
        self.workspace = WorkspaceService(store)
        self.alerts = AlertService(self.log)
        self.analytics = AnalyticsService()
        self.status = ConnectionStatus("DISCONNECTED", "")
        self.status_changed: Signal[ConnectionStatus] = Signal("session.status_changed")
        self.mismatches_changed: Signal[list[PositionMismatch]] = Signal("session.mismatches_changed")
        self.simulator: Simulator | None = None
        self.replay: ReplayController | None = None
        self.recording: RecordingService | None = None
        self.recording_changed: Signal[RecordingService | None] = Signal("session.recording_changed")
        self.replay_changed: Signal[ReplayController | None] = Signal("session.replay_changed")
        self._wanted: tuple[list[Instrument], list[Instrument]] = ([], [])
        self._simulator_factory = simulator_factory or self._simulator_process
        self._prelaunched: Simulator | None = None
        self._simulator_restarts = 0
        self._simulator_restarted = 0.0
        self.last_reconcile: ReconcileReport | None = None
        self._reconcile_lock = asyncio.Lock()
        self._reconcile_task: asyncio.Task | None = None
        self.market.quote_updated.connect(self._quote_side_effects)
        self.portfolio.day_started.connect(lambda day: self.records.save_value("trading_day", day.saved()))
        broker.events.subscribe(self._on_broker_event)

    def _quote_side_effects(self, item: tuple[Instrument, Any]) -> None:
        instrument, quote = item
        self.portfolio.on_quote(instrument, quote)
        self.alerts.on_quote(instrument.key, quote)

    # --- start and stop ------------------------------------------------------------------------
    async def load_state(self) -> None:
        """Trading state from the store: what the terminal knew when it last ran."""
        store = self.store

        def read() -> _Saved:
            since = datetime.now(UTC) - EXECUTION_MEMORY
            working = store.orders.list(working_only=True)
            recent = store.orders.list(limit=2000)
            orders = {o.client_order_id: o for o in [*recent, *working]}
            return _Saved(sorted(orders.values(), key=lambda o: o.created or since), list(reversed(store.fills.list())),
                          store.fills.execution_ids_since(since), store.position_book.all(), store.instruments.all(),
                          store.key_values.get("kill_switch", {}) or {}, store.key_values.get("trading", {}) or {},
                          store.key_values.get("trading_day", {}) or {})

        saved = await asyncio.to_thread(read)
        for instrument in saved.instruments:
            self.broker.remember(instrument)
        self.positions.load(saved.book)
        self.orders.load(saved.orders, saved.fills, saved.executions)
        self.portfolio.trading_day.load(saved.trading_day)
        if "confirm_orders" in saved.preferences:
            self.confirmation.confirm_orders = bool(saved.preferences["confirm_orders"])
        if saved.kill_switch.get("on"):
            self.risk.kill_switch = True
            self.log.error("risk", f"KILL SWITCH is on (since {saved.kill_switch.get('since', '?')}): new orders "
                                   "are blocked until it is reset (Trading → Kill switch)")

    async def start(self) -> None:
        """Load the trading state, start the in-process simulator (unless --ib), connect and reconcile."""
        await self.load_state()
        await self.strategies.load()
        if self.replay is not None:  # quant-terminal replay: the replay, and no other broker, from the start
            await self._start_replay_process(self.replay)
            await self.reconciled()
            return
        if self.settings.feed:  # the desk hub holds the broker connection; the bus is this session's broker
            await self._connect_feed()
            await self.reconciled()
            return
        endpoint = self.settings.ib_endpoint()
        if endpoint is None:
            self.simulator, self._prelaunched = self._prelaunched or self._simulator_factory(), None
            await self.simulator.start()
            endpoint = ("127.0.0.1", self.simulator.port, self.settings.client_id)
            self.log.info("session", f"built-in simulator listening on 127.0.0.1:{self.simulator.port}")
        host, port, client_id = endpoint
        await self._connect(host, port, client_id)
        await self.reconciled()

    # --- recording -------------------------------------------------------------------------------
    async def start_recording(self, instruments: list[Instrument], depth: bool = False,
                              archive_url: str = "") -> RecordingService:
        """Record these instruments' ticks (and depth) from this session's broker into the archive
        (Data → Record). One recording at a time; it lasts until ``stop_recording`` or the session's end."""
        from terminal.archive import open_archive

        if self.recording is not None:
            raise DomainError("a recording is already running; stop it first (Data → Stop recording)")
        if not instruments:
            raise DomainError("nothing to record: give at least one symbol")
        archive = await asyncio.to_thread(open_archive, archive_url or self.settings.resolved_archive)
        service = RecordingService(self.broker, archive, self.broker.provenance.value,
                                   self.settings.resolved_data_dir / "spool", batch_seconds=60.0)
        qualified = [await self.market.qualify(i) for i in instruments]
        await service.start(RecordingRequest(tuple(qualified), depth=depth))
        self.recording = service
        self.recording_changed.emit(service)
        names = ", ".join(i.display_name for i in qualified)
        self.log.info("recorder", f"recording {names} ({self.broker.provenance.label}) into {archive.url}")
        return service

    async def stop_recording(self) -> None:
        service = self.recording
        if service is None:
            return
        self.recording = None
        stats = await service.stop()
        self.recording_changed.emit(None)
        lost = f"; {stats.failures} batches wait in the spool for the archive" if stats.failures else ""
        self.log.info("recorder", f"recording stopped: {stats.written:,} of {stats.rows:,} rows in the archive, "
                                  f"{stats.gaps} gaps{lost}")

    # --- market replay ---------------------------------------------------------------------------
    def set_replay(self, request: ReplayRequest) -> ReplayController:
        """Before ``start``: open on a replay instead of the simulator or TWS (``quant-terminal replay``)."""
        self.replay = ReplayController(request)
        self.orders.replay_only = True
        self.replay_changed.emit(self.replay)
        return self.replay

    def _fresh_replay_account(self) -> None:
        """A replay (and a replay process started again after a crash) trades a fresh account: what the last
        replay held there is not expected of this one, so the position book takes it from the broker anew."""
        from terminal.sim.tws_server import REPLAY_ACCOUNTS

        for account in REPLAY_ACCOUNTS:
            if self.positions.tracks(account):
                self.positions.forget(account)
                self.records.replace_positions(account, {})

    async def _start_replay_process(self, controller: ReplayController) -> None:
        from terminal.sim.process import SimulatorProcess

        self._fresh_replay_account()
        settings = self.settings
        tws = self._broker_for(replace(settings, feed=""))  # a replay speaks TWS's protocol, on the feed too
        await self._use_broker(tws, feed=False)
        process = SimulatorProcess(settings.sim_seed, 0, tick_rate=settings.sim_tick_rate,
                                   universe=settings.sim_universe, on_exit=self._simulator_ended,
                                   replay_args=controller.request.simulator_args(), on_line=controller.on_line)
        controller.channel = process
        self.orders.clock = lambda: controller.now() or datetime.now(UTC)  # orders in replay time, as its fills
        self.simulator = process
        await process.start()
        self.log.info("session", f"replaying {controller.request.archive} on 127.0.0.1:{process.port}")
        await self._connect("127.0.0.1", process.port, settings.client_id)
        self._set_status(ConnectionStatus("CONNECTED", f"127.0.0.1:{process.port}", provenance=self.broker.provenance))

    async def start_replay(self, request: ReplayRequest) -> ReplayController:
        """Leave the current broker (live, paper or the simulator) and trade on a replay of ``request``.

        Orders are held to the replay from here (``OrderService.replay_only``) until ``end_replay``."""
        self.orders.replay_only = True  # first: nothing may reach the broker being left meanwhile
        controller = ReplayController(request)
        await self._leave_broker()
        self.replay = controller
        await self._start_replay_process(controller)
        await self._resubscribe("the replay")
        self.replay_changed.emit(controller)  # connected: views may ask for the replay's history now
        await self.reconciled()
        return controller

    async def end_replay(self) -> None:
        """Back to where the session traded before: the built-in simulator, TWS (``--ib`` or the last switch),
        or the desk hub (``--feed`` or the last switch)."""
        if self.replay is None:
            return
        back = self._broker_for(self.settings)
        await self._leave_broker()
        self.replay = None
        await self._use_broker(back, feed=bool(self.settings.feed))
        if self.settings.feed:  # the desk hub holds the broker connection; the bus is this session's broker
            await self._connect_feed()
        else:
            endpoint = self.settings.ib_endpoint()
            if endpoint is None:
                self.simulator = self._simulator_factory()
                await self.simulator.start()
                endpoint = ("127.0.0.1", self.simulator.port, self.settings.client_id)
            await self._connect(*endpoint)
            self._set_status(ConnectionStatus("CONNECTED", f"{endpoint[0]}:{endpoint[1]}",
                                              provenance=self.broker.provenance))
        self.orders.replay_only = False
        self.orders.clock = lambda: datetime.now(UTC)
        await self._resubscribe(self.status.endpoint)
        self.replay_changed.emit(None)
        await self.reconciled()

    async def _leave_broker(self) -> None:
        """Disconnect (and stop our simulator); remember what was subscribed, forget what it quoted.

        A recording ends here: it records one broker's feed, under that broker's provenance."""
        if self.recording is not None:
            self.log.info("recorder", "the connection changes: the recording stops here")
            await self.stop_recording()
        self._wanted = (self.market.subscribed(), self.market.subscribed_depth())
        await self.broker.disconnect()
        self.broker.forget_streams()
        self.market.forget_market_data()
        self.portfolio.forget_account()  # its daily P&L must not stand for the next account's
        if self.simulator is not None:
            simulator, self.simulator = self.simulator, None
            await simulator.stop()

    async def _resubscribe(self, where: str) -> None:
        """Quotes and depth move along: each instrument qualified again on the new connection (contract ids
        may differ there) and subscribed again."""
        quotes, depth = self._wanted
        quote_keys, depth_keys = {i.key for i in quotes}, {i.key for i in depth}
        for old in quotes + [i for i in depth if i.key not in quote_keys]:
            try:
                fresh = await self.broker.qualify(Instrument(old.symbol, old.sec_type, old.exchange, old.currency,
                                                             old.tick_size, old.multiplier))
            except Exception as exc:  # one unknown symbol must not stop the others
                self.log.warning("session", f"{old.display_name} not available at {where}: {exc}")
                continue
            self.market.remember(fresh)
            if old.key in quote_keys:
                await self.broker.subscribe_quotes(fresh)
            if old.key in depth_keys:
                await self.broker.subscribe_depth(fresh)

    def _broker_for(self, settings: Settings, fresh: bool = False) -> Broker | None:
        """A new broker when ``settings`` connect with another kind than the current one (the desk feed's or
        IB's), or when ``fresh``; None: the current one does. Built before leaving the current connection,
        so that a broker that cannot be built leaves the session where it was."""
        if not fresh and bool(settings.feed) == self._on_feed:
            return None
        return self._broker_factory(settings)

    async def _use_broker(self, broker: Broker | None, feed: bool) -> None:
        """Put ``broker`` (of the desk feed when ``feed``) in the old one's place in every service, between
        ``_leave_broker`` and the next connect, knowing the stored instruments as the first did; None: keep."""
        if broker is None:
            return
        instruments = await asyncio.to_thread(self.store.instruments.all)
        self.broker.events.unsubscribe(self._on_broker_event)
        self.broker = broker
        self._on_feed = feed
        for service in (self.market, self.orders, self.history, self.backfill):
            service.use_broker(broker)
        self.orders.adopt_refs = getattr(broker, "role", "") == "desk"  # as a session built on it does
        for instrument in [*instruments, *self.market.instruments.values()]:
            broker.remember(instrument)
        broker.events.subscribe(self._on_broker_event)

    def _simulator_process(self) -> Simulator:
        from terminal.sim.process import SimulatorProcess

        return SimulatorProcess.for_settings(self.settings, on_exit=self._simulator_ended)

    def use_prelaunched_simulator(self, simulator: Any) -> None:
        """``start()`` connects to this simulator, launched before the session was built (``ui.main.run``
        starts it first so that its start-up overlaps the window's); restarts use the factory as before.
        ``simulator``: a ``terminal.sim.process.SimulatorProcess`` whose ``launch()`` ran."""
        simulator.on_exit = self._simulator_ended
        self._prelaunched = simulator

    def _simulator_ended(self, code: int) -> None:
        """The simulator process ended by itself (a crash, or killed): start it again on its port, as a
        restarted TWS comes back; the broker reconnects and the session reconciles as after any restart."""
        simulator = self.simulator
        if simulator is None:
            return
        how = f"was killed by signal {-code}" if code < 0 else f"ended with exit code {code}"
        if time.monotonic() - self._simulator_restarted > 60.0:  # it ran a minute since: a new streak
            self._simulator_restarts = 0
        if self._simulator_restarts >= SIMULATOR_RESTARTS:
            self.log.error("session", f"the built-in simulator {how}; it was restarted {SIMULATOR_RESTARTS} times "
                                      "in a row, so it is left stopped (restart the terminal)")
            return
        self._simulator_restarts += 1
        self._simulator_restarted = time.monotonic()
        if self.replay is not None:
            self._fresh_replay_account()
            self.log.warning("session", "the replay starts again from its beginning with a fresh account: "
                                        "what the replay account held is gone with the process")
        self.log.error("session", f"the built-in simulator {how}; starting it again on port {simulator.port}")
        asyncio.ensure_future(self._restart_simulator(simulator))

    async def _restart_simulator(self, simulator: Simulator) -> None:
        try:
            await simulator.start()
        except Exception as exc:
            self.log.error("session", f"the built-in simulator could not be started again: {exc}")
            return
        if simulator is self.simulator:
            self.log.info("session", f"built-in simulator listening again on 127.0.0.1:{simulator.port}")

    async def _connect(self, host: str, port: int, client_id: int, endpoint: str = "") -> None:
        """Connect the broker, with the status bar and the log saying what happens (and why it failed).
        ``endpoint``: how the status names the connection (default HOST:PORT)."""
        endpoint = endpoint or f"{host}:{port}"
        self._set_status(ConnectionStatus("CONNECTING", endpoint))
        try:
            await self.broker.connect(host, port, client_id)
        except Exception as exc:
            self._set_status(ConnectionStatus("DISCONNECTED", endpoint, str(exc)))
            whom = "" if endpoint.startswith("kafka://") else f" (client id {client_id})"
            self.log.error("connection", f"cannot connect to {endpoint}{whom}: {exc}")
            raise

    async def _connect_feed(self) -> None:
        """Join the desk bus of ``settings.feed`` (its first server); the hub there holds the broker connection."""
        feed = self.settings.feed_endpoint()
        assert feed is not None
        host, port = feed
        await self._connect(host, port, self.settings.client_id, f"kafka://{host}:{port}")

    async def switch_to(self, host: str, port: int, client_id: int) -> None:
        """Leave the current broker (and the built-in simulator) and trade on TWS / Gateway at host:port.

        Quote subscriptions move along: every subscribed instrument is qualified again on the new
        connection (contract ids may differ) and re-subscribed. Orders of the old connection that the
        new broker does not know become Inactive at the reconciliation that follows. The session's settings
        say TWS at host:port from here (an ended replay comes back to it), on the desk feed no more."""
        settings = replace(self.settings, ib=f"{host}:{port}:{client_id}", feed="")
        broker = self._broker_for(settings)
        await self._leave_broker()
        await self._use_broker(broker, feed=False)
        self.settings = settings
        await self._connect(host, port, client_id)
        self._set_status(ConnectionStatus("CONNECTED", f"{host}:{port}", provenance=self.broker.provenance))
        self.log.info("session", f"switched to {host}:{port} client {client_id}")
        await self._resubscribe(f"{host}:{port}")
        await self.reconciled()

    async def switch_to_feed(self, feed: str, trader: str = "") -> None:
        """Leave the current broker (and the built-in simulator) and trade through the desk hub on the Kafka bus
        at ``feed`` (kafka://HOST:PORT), as ``trader`` (default: the trader setting, else the login name).

        As ``switch_to``: subscriptions move along, qualified again at the hub; orders of the old connection
        the hub does not know become Inactive at the reconciliation. Settings say the feed from here."""
        settings = replace(self.settings, feed=parse_feed_url(feed), ib="", trader=trader or self.settings.trader)
        broker = self._broker_for(settings, fresh=True)  # a new one for each feed: its trader, its terminal id
        await self._leave_broker()
        await self._use_broker(broker, feed=True)
        self.settings = settings
        await self._connect_feed()
        endpoint = self.status.endpoint
        self.log.info("session", f"switched to the desk hub on {endpoint}" + (f" as {trader}" if trader else ""))
        await self._resubscribe(endpoint)
        await self.reconciled()

    async def stop(self) -> None:
        """Write what is left in the outbox, disconnect, stop the simulator and the analytics worker."""
        try:
            await self.strategies.shutdown()  # no strategy decides while the session goes
            await self.stop_recording()  # what was recorded goes to the archive (or its spool) first
            await self.records.flush(timeout=10.0)
            await self.broker.disconnect()
        finally:
            for simulator in (self.simulator, self._prelaunched):  # one launched for a start that never came
                if simulator is not None:
                    await simulator.stop()
            self.simulator = self._prelaunched = None
            self.analytics.close()
            await self.records.close()

    # --- reconciliation ------------------------------------------------------------------------
    def _schedule_reconcile(self) -> None:
        self._reconcile_task = asyncio.ensure_future(self.reconcile())

    async def reconciled(self) -> ReconcileReport | None:
        """Wait for the reconciliation the last connect started (or run one)."""
        task = self._reconcile_task
        if task is None:
            return await self.reconcile()
        try:
            return await asyncio.shield(task)
        except Exception as exc:
            self.log.error("reconcile", f"reconciliation with the broker failed: {exc}")
            return None

    async def reconcile(self) -> ReconcileReport:
        """Orders, fills and positions against what the broker reports now; the result goes to the log."""
        async with self._reconcile_lock:
            positions = await self.broker.positions()
            self.portfolio.replace_positions(positions)
            self.portfolio.on_account(await self.broker.account())
            report = self.orders.reconcile(await self.broker.open_orders(), await self.broker.completed_orders(),
                                           await self.broker.executions(), self.broker.client_id)
            mismatches = await self.check_positions()
            report = replace(report, mismatches=tuple(mismatches))
            self.last_reconcile = report
            (self.log.error if mismatches else self.log.warning if report.inactivated else self.log.info)(
                "reconcile", report.describe())
            self.orders.reconciled.emit(report)
            await self.orders.after_reconcile()
            return report

    async def check_positions(self, settle: float = POSITION_SETTLE_SECONDS) -> list[PositionMismatch]:
        """Compare the broker's positions with the position book; a lasting difference blocks the instrument."""
        found = self._compare_or_adopt_positions()
        if found and settle > 0:
            await asyncio.sleep(settle)
            self.portfolio.replace_positions(await self.broker.positions())
            found = self._compare_or_adopt_positions()
        self.positions.mismatches = {m.instrument.key: m for m in found}
        self.risk.blocked = {
            m.instrument.key: f"position mismatch in {m.describe()}; new orders in "
                              f"{m.instrument.display_name} wait until you acknowledge it (Positions dock)"
            for m in found}
        for mismatch in found:
            self.log.error("reconcile", f"POSITION MISMATCH {mismatch.describe()}: orders in "
                                        f"{mismatch.instrument.display_name} are blocked until acknowledged")
        self.mismatches_changed.emit(found)
        return found

    def _compare_or_adopt_positions(self) -> list[PositionMismatch]:
        held = list(self.portfolio.positions.values())
        accounts = {p.account for p in held} | {self.portfolio.account.account}
        found: list[PositionMismatch] = []
        for account in sorted(a for a in accounts if a):
            if self.positions.tracks(account):
                found += self.positions.compare(account, held)
            else:
                rows = self.positions.adopt(account, held)
                self.records.replace_positions(account, rows)
                self.log.info("reconcile", f"position book of {account} starts from the broker's "
                                           f"{len(rows) - 1} position(s)")
        return found

    def acknowledge_position(self, instrument_key: str) -> PositionMismatch | None:
        """Accept the broker's quantity for a mismatched position; orders in it are allowed again."""
        mismatch = self.positions.acknowledge(instrument_key)
        self.risk.blocked.pop(instrument_key, None)
        if mismatch is not None:
            self.records.set_position(mismatch.account, instrument_key, mismatch.broker)
            self.log.warning("reconcile", f"position mismatch acknowledged: {mismatch.describe()}; the book now "
                                          f"follows the broker ({mismatch.broker:+g})")
            self.mismatches_changed.emit(list(self.positions.mismatches.values()))
        return mismatch

    def set_confirm_orders(self, on: bool) -> None:
        self.confirmation.confirm_orders = on
        self.records.save_value("trading", {"confirm_orders": on})

    # --- broker events -------------------------------------------------------------------------
    def _set_status(self, status: ConnectionStatus) -> None:
        self.status = status
        self.status_changed.emit(status)

    def _on_broker_event(self, event: ev.BrokerEvent) -> None:
        if isinstance(event, ev.QuoteEvent):
            instrument = self.market.instrument_for_symbol(event.quote.symbol) if event.instrument is None else event.instrument
            if instrument is not None:
                self.market.on_quote(instrument, event.quote)
        elif isinstance(event, ev.DepthEvent):
            self.market.on_depth(event.instrument, event.bids, event.asks)
        elif isinstance(event, ev.BarEvent):
            self.strategies.on_bar(event.instrument, event.bar)
        elif isinstance(event, ev.OrderEvent):
            self.orders.on_order(event.order)
        elif isinstance(event, ev.FillEvent):
            self.orders.on_fill(event.fill)
        elif isinstance(event, ev.PositionEvent):
            self.portfolio.on_position(event.position)
        elif isinstance(event, ev.AccountEvent):
            self.portfolio.on_account(event.account)
        elif isinstance(event, ev.ErrorEvent):
            informational = event.code in (2104, 2106, 2107, 2108, 2158, 2119)
            order = f" (order {event.client_order_id or event.order_id})" if event.order_id else ""
            (self.log.info if informational else self.log.error)("broker", f"IB {event.code}: {event.message}{order}")
            self.orders.on_error(event)
        elif isinstance(event, ev.ConnectionEvent):
            state = event.state.name
            self._set_status(ConnectionStatus(state, self.status.endpoint, event.message,
                                              event.next_retry_seconds or 0.0, self.portfolio.account.account,
                                              self.broker.provenance))
            (self.log.info if state in ("CONNECTED", "CONNECTING") else self.log.warning)(
                "connection", f"{state.lower()}: {event.message}")
            if state == "CONNECTED":
                self._schedule_reconcile()
