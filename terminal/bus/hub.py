"""The desk hub: one broker connection for the whole desk, published on Kafka; order commands placed once.

The hub is a ``TradingSession`` (its own store, the same order service, risk checks and reconciliation as
a terminal) with Kafka on both sides:

* broker events -> topics: quotes, depth, bars (keyed by instrument key), orders and fills (keyed by
  account), positions and account (compacted, latest per account), and a heartbeat on ``connection``;
* ``subscriptions`` (compacted) -> the broker: an instrument is subscribed while some live terminal
  watches it and released after; a restarted hub reads the topic and restores them;
* ``commands`` -> the order service, one at a time in order, under desk-wide risk (every terminal's
  orders and the one account's positions are in this one book), committed only once the broker has
  the order; the client order id makes each command idempotent;
* ``requests`` -> ``replies``: qualify, search, history, snapshot, what-if for the terminals (hub_requests).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from terminal.broker import events as ev
from terminal.bus import codec
from terminal.bus.desk_risk import DeskLimits, check_gross_exposure
from terminal.bus.hub_requests import answer
from terminal.bus.kafka import (
    BEGINNING,
    END,
    BusError,
    Consumer,
    Producer,
    Record,
    Topics,
    ensure_topics,
)
from terminal.domain import (
    DomainError,
    Instrument,
    Order,
    OrderRejected,
    OrderStatus,
    Position,
)
from terminal.services.session import TradingSession

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 0.5
LIVE_HUB_SECONDS = 1.2  # a heartbeat younger than this: that hub is alive
TERMINAL_TIMEOUT = 30.0  # a terminal not heard from for this long no longer holds subscriptions
DESK_ROLE = "desk"


@dataclass
class _Sub:
    terminal: str
    kind: str  # quotes | depth | bars
    instrument: Instrument


class Hub:
    """``quant-terminal hub``: start with ``start()``, stop with ``stop()``."""

    def __init__(self, session: TradingSession, bootstrap: str, topics: Topics | None = None, hub_id: str = "",
                 limits: DeskLimits | None = None, grace: float = 5.0, retention_hours: float = 168.0) -> None:
        self.session = session
        self.bootstrap = bootstrap
        self.topics = topics or Topics()
        self.hub_id = hub_id or f"hub-{socket.gethostname()}-{os.getpid()}"
        self.limits = limits or DeskLimits()
        self.grace = grace
        self.retention_hours = retention_hours
        self.producer: Producer | None = None
        self._consumers: list[Consumer] = []
        self._owners: dict[str, tuple[str, str]] = {}  # client order id -> (trader, terminal)
        self._rules: dict[str, str] = {}  # client order id -> the desk rule that refused it at the hub
        self._rejected: dict[str, Order] = {}  # refused before the order service knew it: republished on resend
        self._subs: dict[str, _Sub] = {}  # subscription key -> what it asks for
        self._alive: dict[str, float] = {}  # terminal -> wall clock of its last heartbeat
        self._held: dict[tuple[str, str], Instrument] = {}  # (kind, instrument key) subscribed at the broker
        self._commands: asyncio.Queue[Record] = asyncio.Queue()
        self._positions: dict[str, dict[str, Position]] = {}
        self._positions_due: set[str] = set()
        self._ticks: dict[str, tuple] = {}  # instrument key -> the ticks of its next quote message
        self._tasks: list[asyncio.Task] = []
        self.commands_done = 0
        self._command_reader: Consumer | None = None
        self.restored = asyncio.Event()

    # --- start and stop ----------------------------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.to_thread(ensure_topics, self.bootstrap, self.topics, self.retention_hours)
        others = await self._live_hubs(loop)
        if others:  # a beat that young may be a hub's last, killed a moment ago: a live hub beats again meanwhile
            await asyncio.sleep(LIVE_HUB_SECONDS)
            others = await self._live_hubs(loop)
        if others:
            raise BusError(f"another desk hub ({', '.join(others)}) is live on Kafka {self.bootstrap} with topic prefix "
                           f"{self.topics.prefix}: one hub per desk (stop it first, or use another --prefix)")
        self.producer = Producer(self.bootstrap, loop, client_id=self.hub_id)
        session = self.session
        self._owners = await asyncio.to_thread(session.store.order_owners.all)
        await session.load_state()
        # Orders the last hub wrote ahead but the broker never confirmed: not inactivated at the first
        # reconciliation; looked for during the grace period, then Unknown (never re-sent).
        unconfirmed = [o.client_order_id for o in session.orders.orders.values()
                       if o.status is OrderStatus.PENDING_SUBMIT]
        session.orders._in_flight.update(unconfirmed)
        session.orders.order_changed.connect(self._publish_order)
        session.orders.fill_added.connect(self._publish_fill)
        session.broker.events.subscribe(self._on_broker_event)
        session.broker.record_ticks = True  # every tick on the bus, for the recorders that consume it
        session.status_changed.connect(lambda status: self._heartbeat())
        await session.start()
        if unconfirmed:
            await self._resolve_unconfirmed(unconfirmed)
        for order in session.orders.orders.values():  # the desk's view starts from the hub's book
            if order.status.is_working:
                self._publish_order(order)
        self._publish_all_positions()
        self._publish_account()
        self._consumers.append(Consumer(self.bootstrap, [self.topics.subscriptions], self._on_subscriptions, loop,
                                        start=BEGINNING, name=f"{self.hub_id}-subscriptions").start())
        await self._consumers[-1].wait_caught_up(30.0)
        self._restore_alive()
        await self._apply_subscriptions()
        self.restored.set()
        self._consumers.append(Consumer(self.bootstrap, [self.topics.requests], self._on_requests, loop,
                                        start=END, name=f"{self.hub_id}-requests").start())
        # Standalone (one hub per desk, no group membership): a restarted hub, or one whose Kafka restarted, reads
        # on from the committed offset at once instead of rejoining a group and waiting out a dead member's session.
        self._command_reader = Consumer(self.bootstrap, [self.topics.commands], self._on_commands, loop,
                                        group=f"{self.topics.prefix}hub", standalone=True,
                                        name=f"{self.hub_id}-commands", batch=100).start()
        self._consumers.append(self._command_reader)
        if not await self._command_reader.wait_assigned(30.0) or self._command_reader.error:
            session.log.warning("hub", f"not reading commands yet: {self._commands_state()}")
        self._tasks = [asyncio.ensure_future(self._run_commands()), asyncio.ensure_future(self._beat())]
        session.log.info("hub", f"desk hub {self.hub_id} on Kafka {self.bootstrap}, topics {self.topics.prefix}*")

    async def _live_hubs(self, loop: asyncio.AbstractEventLoop) -> list[str]:
        """Other hubs whose heartbeat is fresh on this bus (two would place each command twice)."""
        beats: list[dict[str, Any]] = []

        def collect(records: list[Record]) -> None:
            for record in records:
                with contextlib.suppress(codec.BadMessage):
                    beats.append(codec.loads(record.value or b""))

        probe = Consumer(self.bootstrap, [self.topics.connection], collect, loop,
                         start=int((time.time() - 3.0) * 1000), name=f"{self.hub_id}-probe").start()
        try:
            await probe.wait_caught_up(10.0)
        finally:
            await asyncio.to_thread(probe.close)
        latest: dict[str, dict[str, Any]] = {}
        for beat in beats:
            latest[str(beat.get("hub", "?"))] = beat
        now = time.time()
        return [hub for hub, beat in latest.items() if hub != self.hub_id and beat.get("state") != "stopped"
                and now - float(beat.get("sent", 0.0)) < LIVE_HUB_SECONDS]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for consumer in self._consumers:
            await asyncio.to_thread(consumer.close)
        self._consumers.clear()
        self._command_reader = None
        if self.producer is not None:
            self._heartbeat("stopped", "the hub stopped")
            await asyncio.to_thread(self.producer.close)
            self.producer = None
        await self.session.stop()

    async def _resolve_unconfirmed(self, keys: list[str]) -> None:
        """Look for each order by its orderRef in the broker's open and completed orders until the grace period
        ends; one still missing becomes Unknown: it may or may not be at the broker, so it is never re-sent."""
        orders, broker = self.session.orders, self.session.broker
        deadline = time.monotonic() + self.grace
        missing = set(keys)
        while missing:
            try:
                reported = [*await broker.open_orders(), *await broker.completed_orders()]
            except Exception as exc:
                self.session.log.warning("hub", f"cannot list the broker's orders yet: {exc}")
                reported = []
            for update in reported:
                if update.client_order_id in missing:
                    orders.on_order(update)
                    missing.discard(update.client_order_id)
                    self.session.log.info("hub", f"order {update.client_order_id}, unconfirmed when the last hub "
                                                 f"stopped, is at the broker: {update.status.value}")
            if not missing or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        orders._in_flight.difference_update(keys)
        for key in missing:
            order = orders.orders[key]
            if order.status is OrderStatus.PENDING_SUBMIT:
                why = (f"UNKNOWN: sent towards the broker when the hub stopped, and not among the broker's open or "
                       f"completed orders {self.grace:g} s after the restart; check TWS before placing it again")
                orders._record(order.with_status(OrderStatus.UNKNOWN, reason=why, updated=datetime.now(UTC)))
                self.session.log.error("hub", f"order {key} ({order.describe()}) is Unknown: {why}")

    # --- publishing --------------------------------------------------------------------------------
    def _send(self, topic: str, key: str | None, message: dict[str, Any] | None) -> None:
        if self.producer is not None:
            self.producer.send(topic, key, message)

    def _publish_order(self, order: Order) -> None:
        trader, terminal = self._owners.get(order.client_order_id) or self._owners.get(order.parent_ref, ("", ""))
        self._send(self.topics.orders, order.account or "-", codec.order_message(
            order, trader, terminal, self._rules.get(order.client_order_id, "")))

    def _publish_fill(self, fill: Any) -> None:
        trader, terminal = self._owners.get(fill.client_order_id, ("", ""))
        self._send(self.topics.fills, fill.account or "-", codec.fill_message(fill, trader, terminal))

    def _publish_all_positions(self) -> None:
        by_account: dict[str, dict[str, Position]] = {}
        for position in self.session.portfolio.positions.values():
            by_account.setdefault(position.account, {})[position.instrument.key] = position
        for account, positions in by_account.items():
            self._positions[account] = positions
            self._send(self.topics.positions, account, codec.positions_message(account, list(positions.values())))

    def _publish_positions_due(self) -> None:
        for account in self._positions_due:
            self._send(self.topics.positions, account,
                       codec.positions_message(account, list(self._positions.get(account, {}).values())))
        self._positions_due.clear()

    def _publish_account(self) -> None:
        account = self.session.portfolio.account
        if account.account:
            self._send(self.topics.account, account.account, codec.account_message(account))

    def _heartbeat(self, state: str = "", message: str = "") -> None:
        session = self.session
        status = session.status
        self._send(self.topics.connection, self.hub_id, codec.envelope(
            "connection", hub=self.hub_id, state=state or status.state.lower(), broker=status.endpoint,
            message=message or status.message, provenance=session.broker.provenance.value,
            account=session.portfolio.account.account, client_id=session.broker.client_id,
            kill_switch=session.risk.kill_switch, commands=self._commands_state(), time=codec.iso(datetime.now(UTC))))

    def _commands_state(self) -> str:
        """``ready`` while the hub reads the commands topic; otherwise why it does not (terminals send nothing)."""
        reader = self._command_reader
        if reader is None:
            return "starting: the hub is not reading commands yet"
        if reader.error:
            return f"stopped: the hub's command reader failed: {reader.error}"
        if not reader.partitions:
            return "starting: the hub is finding its place in the commands topic"
        return "ready"

    async def _beat(self) -> None:
        while True:
            self._heartbeat()
            self._publish_account()
            await asyncio.sleep(HEARTBEAT_SECONDS)
            self._drop_silent_terminals()
            await self._apply_subscriptions()

    def _on_broker_event(self, event: ev.BrokerEvent) -> None:
        topics = self.topics
        if isinstance(event, ev.TickEvent):  # comes just before its QuoteEvent: the ticks ride in that message
            self._ticks[event.instrument.key] = event.ticks
        elif isinstance(event, ev.QuoteEvent):
            instrument = event.instrument or self.session.market.instrument_for_symbol(event.quote.symbol)
            if instrument is not None:
                message = codec.quote_message(instrument, event.quote)
                ticks = self._ticks.pop(instrument.key, None)
                if ticks:
                    message["ticks"] = [[t, f, codec.num(p), codec.num(z)] for t, f, p, z in ticks]
                self._send(topics.quotes, instrument.key, message)
        elif isinstance(event, ev.DepthEvent):
            self._send(topics.depth, event.instrument.key,
                       codec.depth_message(event.instrument, event.bids, event.asks))
        elif isinstance(event, ev.BarEvent):
            self._send(topics.bars, event.instrument.key, codec.bar_message(event.instrument, event.bar))
        elif isinstance(event, ev.PositionEvent):
            position = event.position
            self._positions.setdefault(position.account, {})[position.instrument.key] = position
            if not self._positions_due:
                asyncio.get_running_loop().call_soon(self._publish_positions_due)
            self._positions_due.add(position.account)
        elif isinstance(event, ev.AccountEvent):
            self._publish_account()
        elif isinstance(event, ev.ConnectionEvent):
            self._heartbeat(event.state.name.lower(), event.message)

    # --- subscriptions -----------------------------------------------------------------------------
    def _on_subscriptions(self, records: list[Record]) -> None:
        for record in records:
            key = (record.key or b"").decode()
            if record.value is None:
                self._subs.pop(key, None)
                continue
            try:
                message = codec.loads(record.value)
                if message["type"] == "terminal":
                    self._alive[message["terminal"]] = float(message.get("sent", 0.0))
                    continue
                self._subs[key] = _Sub(message["terminal"], message["kind"], codec.instrument_from(message["instrument"]))
                self._alive.setdefault(message["terminal"], float(message.get("sent", 0.0)))
            except (codec.BadMessage, KeyError, TypeError, ValueError) as exc:
                log.warning("hub: bad subscription message %r: %s", key, exc)
        if self.restored.is_set():
            asyncio.ensure_future(self._apply_subscriptions())

    def _restore_alive(self) -> None:
        now = time.time()
        gone = [t for t, seen in self._alive.items() if now - seen > TERMINAL_TIMEOUT]
        for terminal in gone:
            self._alive.pop(terminal)

    def _drop_silent_terminals(self) -> None:
        now = time.time()
        for terminal, seen in list(self._alive.items()):
            if now - seen > TERMINAL_TIMEOUT:
                self._alive.pop(terminal)
                self.session.log.warning("hub", f"terminal {terminal} silent for {TERMINAL_TIMEOUT:g} s: its "
                                                "subscriptions are released")

    def wanted(self) -> dict[tuple[str, str], Instrument]:
        return {(s.kind, s.instrument.key): s.instrument for s in self._subs.values() if s.terminal in self._alive}

    async def _apply_subscriptions(self) -> None:
        """Subscribe at the broker what live terminals watch; release what nobody watches any more."""
        if not self.session.broker.is_connected:
            return
        wanted = self.wanted()
        market = self.session.market
        for key, instrument in wanted.items():
            if key in self._held:
                continue
            self._held[key] = instrument
            kind = key[0]
            try:
                fresh = instrument if instrument.contract_id else await market.qualify(instrument)
                if kind == "quotes":
                    await market.subscribe(fresh)
                    quote = market.quotes.get(fresh.key)
                    if quote is not None:  # the newcomer sees the last quote now, not at the next tick
                        self._send(self.topics.quotes, fresh.key, codec.quote_message(fresh, quote))
                elif kind == "depth":
                    await market.subscribe_depth(fresh)
                elif kind == "bars":
                    await self.session.broker.subscribe_bars(fresh)
            except Exception as exc:
                self.session.log.warning("hub", f"cannot subscribe {kind} of {instrument.display_name}: {exc}")
        for key in [k for k in self._held if k not in wanted]:
            instrument = self._held.pop(key)
            try:
                if key[0] == "quotes":
                    await market.unsubscribe(instrument)
                elif key[0] == "depth":
                    await market.unsubscribe_depth(instrument)
            except Exception as exc:
                self.session.log.warning("hub", f"cannot release {key[0]} of {instrument.display_name}: {exc}")

    # --- order commands ----------------------------------------------------------------------------
    def _on_commands(self, records: list[Record]) -> None:
        for record in records:
            self._commands.put_nowait(record)

    async def _run_commands(self) -> None:
        consumer = self._command_reader
        assert consumer is not None
        while True:
            record = await self._commands.get()
            try:
                await self._command(record)
            except Exception:
                log.exception("hub: command at offset %s failed", record.offset)
            consumer.commit(record)  # after the broker has it (or the hub refused it): never before
            self.commands_done += 1

    async def _command(self, record: Record) -> None:
        try:
            message = codec.loads(record.value or b"")
            kind = message["command"]
        except (codec.BadMessage, KeyError) as exc:
            self.session.log.error("hub", f"unreadable command at offset {record.offset}: {exc}; skipped")
            return
        trader, terminal = str(message.get("trader", "")), str(message.get("terminal", ""))
        desk = message.get("role") == DESK_ROLE
        handler: dict[str, Callable[..., Any]] = {
            "place": self._place, "modify": self._modify, "cancel": self._cancel, "cancel_all": self._cancel_all,
            "kill_switch": self._kill_switch, "sync": self._sync}
        if kind not in handler:
            self.session.log.error("hub", f"unknown command {kind!r} from {trader}@{terminal}; skipped")
            return
        await handler[kind](message, trader, terminal, desk)

    def _refuse(self, order: Order, trader: str, terminal: str, rule: str, why: str) -> None:
        refused = order.with_status(OrderStatus.INACTIVE, reason=why, updated=datetime.now(UTC))
        self._rejected[order.client_order_id] = refused
        self._rules[order.client_order_id] = rule
        self._owners.setdefault(order.client_order_id, (trader, terminal))  # in memory: whom the answer is for
        self.session.log.error("hub", f"refused ({rule}) {order.client_order_id} from {trader}@{terminal}: {why}")
        self._publish_order(refused)

    async def _place(self, message: dict[str, Any], trader: str, terminal: str, desk: bool) -> None:
        try:
            orders = [codec.order_from(o) for o in message["orders"]]
        except (codec.BadMessage, KeyError, TypeError) as exc:
            self.session.log.error("hub", f"unreadable place command from {trader}@{terminal}: {exc}")
            return
        parent, children = orders[0], orders[1:]
        key = parent.client_order_id
        known = self.session.orders.orders.get(key) or self._rejected.get(key)
        if known is not None:  # a redelivery or a resend: the answer again, never a second order
            self.session.log.info("hub", f"command for {key} again (redelivered or resent): not placed twice, "
                                         f"it is {known.status.value}")
            self._publish_order(known)
            for child in children:
                if child.client_order_id in self.session.orders.orders:
                    self._publish_order(self.session.orders.orders[child.client_order_id])
            return
        expires = message.get("expires")
        now = time.time()
        if isinstance(expires, (int, float)) and now > expires:
            sent = float(message.get("sent", expires))
            self._refuse(parent, trader, terminal, "expired",
                         f"expired: sent {now - sent:.1f} s ago, {now - expires:.1f} s past its expiry; a "
                         f"{parent.order_type.value} order is not placed late")
            return
        try:
            self._check_desk(parent, children)
        except OrderRejected as exc:
            self._refuse(parent, trader, terminal, exc.rule, str(exc))
            return
        keys = [o.client_order_id for o in orders]
        await asyncio.to_thread(self.session.store.order_owners.record, keys, trader, terminal)
        for k in keys:
            self._owners[k] = (trader, terminal)
        source = f"{parent.source} · {trader}@{terminal}" if trader else parent.source
        parent = replace(parent, source=source)
        children = [replace(c, source=source) for c in children]
        try:
            if children:
                placed = await self.session.orders.place_group(parent, children, confirmed=True)
            else:
                placed = [await self.session.orders.place(parent, confirmed=True)]
        except OrderRejected as exc:
            if key not in self.session.orders.orders:
                self._refuse(parent, trader, terminal, exc.rule or "risk", str(exc))
            else:
                self._rules[key] = exc.rule or "broker"
                self._publish_order(self.session.orders.orders[key])
            return
        except DomainError as exc:
            self._refuse(parent, trader, terminal, "validation", str(exc))
            return
        await self._accepted(placed[0].client_order_id)

    async def _accepted(self, key: str, timeout: float = 5.0) -> None:
        """Wait until the broker answered the order (any status past PendingSubmit), at most ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            order = self.session.orders.orders.get(key)
            if order is None or order.status is not OrderStatus.PENDING_SUBMIT:
                return
            await asyncio.sleep(0.01)

    def _check_desk(self, order: Order, children: list[Order]) -> None:
        check_gross_exposure(order, self.limits, self.session.market, self.session.portfolio,
                             self.session.orders.working())

    def _may_touch(self, key: str, trader: str, desk: bool) -> str:
        """Why ``trader`` may not change order ``key`` ('' if they may): a trader's own orders, or any with the desk role."""
        owner = self._owners.get(key, ("", ""))[0]
        if desk or owner == trader:
            return ""
        return f"order {key} belongs to {owner or 'nobody on the desk (placed outside the hub)'}, not {trader or '?'}"

    async def _modify(self, message: dict[str, Any], trader: str, terminal: str, desk: bool) -> None:
        key = str(message.get("client_order_id", ""))
        why = self._may_touch(key, trader, desk)
        expires = message.get("expires")
        if not why and isinstance(expires, (int, float)) and time.time() > expires:
            why = f"modify of {key} expired before it reached the hub; nothing changed"
        current = self.session.orders.orders.get(key)
        if why or current is None:
            self.session.log.error("hub", f"modify from {trader}@{terminal} refused: {why or f'{key} is not known'}")
            if current is not None:
                self._publish_order(current)
            return
        change = message.get("order", {})
        try:
            await self.session.orders.modify(key, quantity=change.get("quantity"), limit_price=change.get("limit_price"),
                                             stop_price=change.get("stop_price"), confirmed=True)
        except (OrderRejected, DomainError) as exc:
            self.session.log.error("hub", f"modify of {key} from {trader}@{terminal} refused: {exc}")
            self._publish_order(self.session.orders.orders[key])

    async def _cancel(self, message: dict[str, Any], trader: str, terminal: str, desk: bool) -> None:
        key = str(message.get("client_order_id", ""))
        why = self._may_touch(key, trader, desk)
        order = self.session.orders.orders.get(key)
        if why or order is None:
            self.session.log.error("hub", f"cancel from {trader}@{terminal} refused: {why or f'{key} is not known'}")
            return
        if order.status is OrderStatus.UNKNOWN:
            await self._cancel_unknown(order)
            return
        try:
            await self.session.orders.cancel(key)
        except (OrderRejected, DomainError) as exc:
            self.session.log.error("hub", f"cancel of {key} from {trader}@{terminal} failed: {exc}")
            self._publish_order(self.session.orders.orders[key])

    async def _cancel_unknown(self, order: Order) -> None:
        """Cancel of an Unknown order: look for it at the broker once more; found, it is cancelled there;
        still missing, the trader's cancel settles it as Inactive."""
        broker, orders = self.session.broker, self.session.orders
        for update in [*await broker.open_orders(), *await broker.completed_orders()]:
            if update.client_order_id == order.client_order_id:
                orders.on_order(update)
                current = orders.orders[order.client_order_id]
                if current.status.is_working:
                    await orders.cancel(order.client_order_id)
                return
        orders._record(order.with_status(OrderStatus.INACTIVE, reason="not at the broker; the trader cancelled the "
                                                                     "Unknown order", updated=datetime.now(UTC)))

    async def _cancel_all(self, message: dict[str, Any], trader: str, terminal: str, desk: bool) -> None:
        if desk:
            count = await self.session.orders.cancel_all(confirmed=True)
            self.session.log.warning("hub", f"desk cancel all by {trader}@{terminal}: {count} order(s)")
            return
        for order in self.session.orders.working():
            if self._owners.get(order.client_order_id, ("", ""))[0] == trader and not order.parent_ref:
                await self._cancel({"client_order_id": order.client_order_id}, trader, terminal, False)

    async def _kill_switch(self, message: dict[str, Any], trader: str, terminal: str, desk: bool) -> None:
        on = bool(message.get("on", True))
        if not desk:
            self.session.log.error("hub", f"desk kill switch from {trader}@{terminal} refused: it needs the desk role")
            return
        if on:
            task = self.session.orders.set_kill_switch(True)
            if task is not None:
                await task
        else:
            await self.session.orders.reset_kill_switch(confirmed=True)
        self.session.log.warning("hub", f"desk kill switch {'ON' if on else 'off'} by {trader}@{terminal}")
        self._heartbeat()

    async def _sync(self, message: dict[str, Any], trader: str, terminal: str, desk: bool) -> None:
        for order in self.session.orders.orders.values():
            if order.status.is_working:
                self._publish_order(order)
        self._publish_all_positions()
        self._publish_account()

    # --- requests ----------------------------------------------------------------------------------
    def _on_requests(self, records: list[Record]) -> None:
        for record in records:
            try:
                message = codec.loads(record.value or b"")
            except codec.BadMessage as exc:
                log.warning("hub: unreadable request: %s", exc)
                continue
            asyncio.ensure_future(self._answer(message))

    async def _answer(self, message: dict[str, Any]) -> None:
        self._send(self.topics.replies, str(message.get("terminal", "")), await answer(self.session, message))

