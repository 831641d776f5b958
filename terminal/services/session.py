"""The trading session: broker connection (simulator or TWS), store and every service, wired together."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from terminal.config import Settings
from terminal.services.alerts import AlertService
from terminal.services.history import HistoryService
from terminal.services.log import LogService
from terminal.services.market import MarketService
from terminal.services.orders import OrderService
from terminal.services.portfolio import PortfolioService
from terminal.services.risk import RiskChecker
from terminal.services.signal import Signal

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConnectionStatus:
    state: str  # CONNECTING, CONNECTED, DISCONNECTED, RECONNECTING
    endpoint: str
    message: str = ""
    next_retry_seconds: float = 0.0
    account: str = ""


class TradingSession:
    """Owns the services; the UI and the CLI talk to these, never to the broker."""

    def __init__(self, settings: Settings, store, broker) -> None:  # type: ignore[no-untyped-def]
        self.settings = settings
        self.store = store
        self.broker = broker
        self.log = LogService()
        self.market = MarketService(broker, store)
        self.portfolio = PortfolioService()
        self.risk = RiskChecker(settings.risk_limits)
        self.orders = OrderService(broker, store, self.risk, self.market, self.portfolio, self.log)
        self.history = HistoryService(broker, store)
        self.alerts = AlertService(self.log)
        self.status = ConnectionStatus("DISCONNECTED", "")
        self.status_changed: Signal[ConnectionStatus] = Signal("session.status_changed")
        self.simulator = None
        self.market.quote_updated.connect(self._quote_side_effects)
        broker.events.subscribe(self._on_broker_event)

    def _quote_side_effects(self, item) -> None:  # type: ignore[no-untyped-def]
        instrument, quote = item
        self.portfolio.on_quote(instrument, quote)
        self.alerts.on_quote(instrument.key, quote)

    async def start(self) -> None:
        """Start the in-process simulator (unless --ib), connect, load order history."""
        await self.orders.load_history()
        endpoint = self.settings.ib_endpoint()
        if endpoint is None:
            from terminal.sim.tws_server import SimServer

            self.simulator = SimServer(host="127.0.0.1", port=self.settings.sim_port, seed=self.settings.sim_seed)
            await self.simulator.start()
            endpoint = ("127.0.0.1", self.simulator.port, self.settings.client_id)
            self.log.info("session", f"built-in simulator listening on 127.0.0.1:{self.simulator.port}")
        host, port, client_id = endpoint
        await self._connect(host, port, client_id)
        await self.refresh_portfolio()

    async def _connect(self, host: str, port: int, client_id: int) -> None:
        """Connect the broker, with the status bar and the log saying what happens (and why it failed)."""
        self._set_status(ConnectionStatus("CONNECTING", f"{host}:{port}"))
        try:
            await self.broker.connect(host, port, client_id)
        except Exception as exc:
            self._set_status(ConnectionStatus("DISCONNECTED", f"{host}:{port}", str(exc)))
            self.log.error("connection", f"cannot connect to {host}:{port} (client id {client_id}): {exc}")
            raise

    async def switch_to(self, host: str, port: int, client_id: int) -> None:
        """Leave the current broker (and the built-in simulator) and trade on TWS / Gateway at host:port.

        Quote subscriptions move along: every subscribed instrument is qualified again on the new
        connection (contract ids may differ) and re-subscribed. Orders stay with the old connection."""
        from terminal.domain import Instrument

        wanted = self.market.subscribed()
        await self.broker.disconnect()
        self.broker.forget_streams()
        if self.simulator is not None:
            await self.simulator.stop()
            self.simulator = None
        await self._connect(host, port, client_id)
        self._set_status(ConnectionStatus("CONNECTED", f"{host}:{port}"))
        self.log.info("session", f"switched to {host}:{port} client {client_id}")
        for old in wanted:
            try:
                fresh = await self.broker.qualify(Instrument(old.symbol, old.sec_type, old.exchange, old.currency,
                                                             old.tick_size, old.multiplier))
            except Exception as exc:  # one unknown symbol must not stop the others
                self.log.warning("session", f"{old.display_name} not available at {host}:{port}: {exc}")
                continue
            self.market.remember(fresh)
            await self.broker.subscribe_quotes(fresh)
        await self.refresh_portfolio()

    async def refresh_portfolio(self) -> None:
        for position in await self.broker.positions():
            self.portfolio.on_position(position)
        self.portfolio.on_account(await self.broker.account())
        for order in await self.broker.open_orders():
            self.orders.on_order(order)
        for fill in await self.broker.executions():
            self.orders.on_fill(fill)

    async def stop(self) -> None:
        try:
            await self.broker.disconnect()
        finally:
            if self.simulator is not None:
                await self.simulator.stop()
                self.simulator = None

    def _set_status(self, status: ConnectionStatus) -> None:
        self.status = status
        self.status_changed.emit(status)

    def _on_broker_event(self, event) -> None:  # type: ignore[no-untyped-def]
        from terminal.broker import events as ev

        if isinstance(event, ev.QuoteEvent):
            instrument = self.market.instrument_for_symbol(event.quote.symbol) if event.instrument is None else event.instrument
            if instrument is not None:
                self.market.on_quote(instrument, event.quote)
        elif isinstance(event, ev.DepthEvent):
            self.market.on_depth(event.instrument, event.bids, event.asks)
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
            text = f"IB {event.code}: {event.message}" + (f" (order {event.order_id})" if event.order_id else "")
            (self.log.info if informational else self.log.error)("broker", text)
        elif isinstance(event, ev.ConnectionEvent):
            state = event.state.name if hasattr(event.state, "name") else str(event.state)
            self._set_status(ConnectionStatus(state, self.status.endpoint, event.message,
                                              event.next_retry_seconds or 0.0, self.portfolio.account.account))
            (self.log.info if state in ("CONNECTED", "CONNECTING") else self.log.warning)(
                "connection", f"{state.lower()}: {event.message}")
            if state == "CONNECTED":
                asyncio.ensure_future(self.refresh_portfolio())
