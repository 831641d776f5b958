"""``KafkaBroker``: the Broker protocol over the desk bus, for a terminal in feed mode (``--feed kafka://``).

Market data comes from the hub's topics (only the instruments this terminal watches reach the loop);
orders, modifies and cancels go to ``commands`` with the trader's identity and an expiry; the order
state, fills, positions and account are read from the hub's journal on the bus. The feed is *connected*
while the hub's heartbeat is fresh and the hub itself is connected to its broker: a stale feed is said
(``ConnectionEvent`` DISCONNECTED) within ``STALE_SECONDS``, and nothing is sent while it lasts.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from terminal.broker.base import (
    HISTORY_CHUNK,
    BrokerError,
    NotConnected,
    OrderNotAtBroker,
    UnknownInstrument,
)
from terminal.broker.events import (
    AccountEvent,
    BarEvent,
    ConnectionEvent,
    ConnectionState,
    DepthEvent,
    EventBus,
    FillEvent,
    OrderEvent,
    PositionEvent,
    QuoteEvent,
    TickEvent,
)
from terminal.bus import codec
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
    Account,
    AccountValue,
    Bar,
    BarSize,
    Fill,
    Instrument,
    Order,
    OrderPreview,
    OrderStatus,
    Position,
    Provenance,
    Quote,
)

log = logging.getLogger(__name__)

STALE_SECONDS = 1.5  # no hub heartbeat (sent every 0.5 s) for this long: the feed is stale
TERMINAL_HEARTBEAT = 2.0
COMMANDS_WAIT = 2.0  # a live feed whose hub is not reading commands yet: how long an order waits before it is refused
PRODUCER_STALE_SECONDS = 5.0  # Kafka has confirmed none of this terminal's heartbeats for this long: send no order
JOURNAL_DAYS = 8  # orders and fills read back at connect (brokers report executions of about a week; a
# trader's positions are built from their fills in this window)


class KafkaBroker:
    """A terminal's broker when the desk hub holds the broker connection."""

    def __init__(self, topics: Topics | None = None, trader: str = "", terminal: str = "", role: str = "trader",
                 order_ttl: float = 10.0, answer_timeout: float = 10.0, read_only: bool = False) -> None:
        """``read_only``: a watcher (the desk monitor) that refuses to send any order command."""
        self.events = EventBus()
        self.read_only = read_only
        self.record_ticks = False
        self.provenance = Provenance.UNKNOWN
        self.topics = topics or Topics()
        self.trader = trader or os.environ.get("USER", "") or "trader"
        self.terminal = terminal or f"{socket.gethostname()}-{os.getpid()}"
        self.role = role
        self.order_ttl = order_ttl
        self.answer_timeout = answer_timeout
        self.bootstrap = ""
        self.producer: Producer | None = None
        self._consumers: list[Consumer] = []
        self._instruments: dict[str, Instrument] = {}
        self._watched: dict[str, set[str]] = {"quotes": set(), "depth": set(), "bars": set()}
        self._accepted_keys: frozenset[bytes] = frozenset()
        self._orders: dict[str, Order] = {}
        self._order_owner: dict[str, str] = {}
        self._fills: dict[str, Fill] = {}
        self._positions: dict[str, dict[str, Position]] = {}
        self._account = Account("")
        self._waiters: dict[str, asyncio.Future] = {}
        self._replies: dict[str, asyncio.Future] = {}
        self._request_ids = itertools.count(1)
        self._hub: dict[str, Any] = {}
        self._hub_seen = 0.0  # monotonic time of the last heartbeat
        self._delivered = 0.0  # monotonic time Kafka last confirmed one of this terminal's heartbeats
        self._live = False
        self._tasks: list[asyncio.Task] = []
        self._closing = False
        self.latency_probe: Callable[[str, float], None] | None = None  # bench: (key, sent) of each quote

    # --- connection --------------------------------------------------------------------------------
    @property
    def is_connected(self) -> bool:
        return self._live

    @property
    def client_id(self) -> int:
        return int(self._hub.get("client_id", 0))

    @property
    def hub_state(self) -> dict[str, Any]:
        """The hub's last heartbeat: hub, state, broker, provenance, account, client_id, kill_switch, time."""
        return dict(self._hub)

    async def connect(self, host: str, port: int, client_id: int, timeout: float = 10.0) -> None:
        """Join the bus at host:port: read the journal (orders and fills of the last days, positions, account),
        then wait for the hub's heartbeat."""
        await self.connect_bootstrap(f"{host}:{port}", timeout)

    async def connect_bootstrap(self, bootstrap: str, timeout: float = 10.0) -> None:
        loop = asyncio.get_running_loop()
        self.bootstrap = bootstrap
        self._closing = False
        self.events.publish(ConnectionEvent(ConnectionState.CONNECTING, message=f"kafka://{bootstrap}"))
        try:
            await asyncio.to_thread(ensure_topics, bootstrap, self.topics, timeout=timeout)
        except BusError as exc:
            raise NotConnected(str(exc)) from None
        self.producer = Producer(bootstrap, loop, client_id=f"{self.terminal}")
        self._delivered = time.monotonic()
        since = int((time.time() - JOURNAL_DAYS * 86400) * 1000)
        t = self.topics
        journal = Consumer(bootstrap, [t.orders, t.fills], self._on_journal, loop, start=since,
                           name=f"{self.terminal}-journal").start()
        state = Consumer(bootstrap, [t.positions, t.account], self._on_state, loop, start=BEGINNING,
                         name=f"{self.terminal}-state").start()
        market = Consumer(bootstrap, [t.quotes, t.depth, t.bars], self._on_market, loop, start=END,
                          accept=self._accept, name=f"{self.terminal}-market", batch=5000).start()
        replies = Consumer(bootstrap, [t.replies], self._on_replies, loop, start=END,
                           accept=lambda _t, key: key == self.terminal.encode(), name=f"{self.terminal}-replies").start()
        hub = Consumer(bootstrap, [t.connection], self._on_connection, loop, start=END,
                       name=f"{self.terminal}-hub").start()
        self._consumers = [journal, state, market, replies, hub]
        for consumer in self._consumers:
            if not await consumer.wait_assigned(timeout) or consumer.error:
                await self.disconnect()
                raise NotConnected(f"cannot read the desk bus at kafka://{bootstrap}: {consumer.error or 'timed out'}")
        for consumer in (journal, state):
            if not await consumer.wait_caught_up(timeout):
                await self.disconnect()
                raise NotConnected(f"the desk journal on kafka://{bootstrap} was not read within {timeout:g} s")
        self._tasks = [asyncio.ensure_future(self._watch()), asyncio.ensure_future(self._announce())]
        self._announce_now()
        deadline = time.monotonic() + timeout
        while not self._live and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if not self._live:
            await self.disconnect()
            raise NotConnected(f"no desk hub on kafka://{bootstrap}: no heartbeat on {t.connection} within "
                               f"{timeout:g} s (start one with 'quant-terminal hub --kafka {bootstrap}')")
        self._send_command("sync", "")

    async def disconnect(self) -> None:
        self._closing = True
        for task in self._tasks:
            task.cancel()
        self._tasks = []
        if self.producer is not None:
            for kind, keys in self._watched.items():  # nothing watched from here any more
                for key in keys:
                    self.producer.send(self.topics.subscriptions, self._sub_key(kind, key), None)
            await asyncio.to_thread(self.producer.close)
            self.producer = None
        for consumer in self._consumers:
            await asyncio.to_thread(consumer.close)
        self._consumers = []
        if self._live:
            self._live = False
            self.events.publish(ConnectionEvent(ConnectionState.DISCONNECTED, message="left the desk bus"))

    def forget_streams(self) -> None:
        for kind in self._watched:
            self._watched[kind] = set()
        self._refresh_accept()

    def remember(self, instrument: Instrument) -> None:
        self._instruments[instrument.key] = instrument

    async def _watch(self) -> None:
        """Stale when the hub's heartbeat stops (hub dead, Kafka down, network cut) or its broker is not connected."""
        while True:
            await asyncio.sleep(0.1)
            fresh = time.monotonic() - self._hub_seen < STALE_SECONDS
            up = fresh and self._hub.get("state") == "connected"
            if up == self._live:
                continue
            self._live = up
            self.provenance = Provenance(self._hub.get("provenance", "unknown")) if up else self.provenance
            if up:
                self.events.publish(ConnectionEvent(ConnectionState.CONNECTED, message=(
                    f"desk hub {self._hub.get('hub', '?')} on kafka://{self.bootstrap} ({self._hub.get('broker', '')})")))
            else:
                why = (f"feed stale: no word from the desk hub for {STALE_SECONDS:g} s" if not fresh else
                       f"the desk hub's broker is {self._hub.get('state', '?')}: {self._hub.get('message', '')}")
                self.events.publish(ConnectionEvent(ConnectionState.RECONNECTING, message=why))

    def _on_connection(self, records: list[Record]) -> None:
        for record in records:
            try:
                message = codec.loads(record.value or b"")
            except codec.BadMessage:
                continue
            if message.get("state") == "stopped":
                self._hub = message
                self._hub_seen = 0.0
                continue
            self._hub = message
            self._hub_seen = time.monotonic()

    # --- subscriptions -----------------------------------------------------------------------------
    def _sub_key(self, kind: str, instrument_key: str) -> str:
        return f"{self.terminal}|{kind}|{instrument_key}"

    def _accept(self, topic: str, key: bytes | None) -> bool:
        return key in self._accepted_keys

    def _refresh_accept(self) -> None:
        self._accepted_keys = frozenset(k.encode() for keys in self._watched.values() for k in keys)

    def _announce_now(self) -> None:
        if self.producer is None:
            return
        self.producer.send(self.topics.subscriptions, f"{self.terminal}|alive", codec.envelope(
            "terminal", terminal=self.terminal, trader=self.trader, role=self.role), self._heartbeat_delivered)

    def _heartbeat_delivered(self, error: Any, _message: Any) -> None:  # in the producer's thread
        if error is None:
            self._delivered = time.monotonic()

    async def _announce(self) -> None:
        while True:
            await asyncio.sleep(TERMINAL_HEARTBEAT)
            self._announce_now()

    def _watch_instrument(self, kind: str, instrument: Instrument, on: bool) -> None:
        self.remember(instrument)
        keys = self._watched[kind]
        if on:
            keys.add(instrument.key)
        else:
            keys.discard(instrument.key)
        self._refresh_accept()
        if self.producer is not None:
            message = codec.envelope("subscription", terminal=self.terminal, trader=self.trader, kind=kind,
                                     instrument=codec.instrument_dict(instrument)) if on else None
            self.producer.send(self.topics.subscriptions, self._sub_key(kind, instrument.key), message)

    async def subscribe_quotes(self, instrument: Instrument) -> None:
        self._watch_instrument("quotes", instrument, True)

    async def unsubscribe_quotes(self, instrument: Instrument) -> None:
        self._watch_instrument("quotes", instrument, False)

    async def subscribe_depth(self, instrument: Instrument, levels: int = 10) -> None:
        self._watch_instrument("depth", instrument, True)

    async def unsubscribe_depth(self, instrument: Instrument) -> None:
        self._watch_instrument("depth", instrument, False)

    async def subscribe_bars(self, instrument: Instrument) -> None:
        self._watch_instrument("bars", instrument, True)

    def _on_market(self, records: list[Record]) -> None:
        # Once per quote on the loop: the topic names are read once a batch (each is a property building a
        # string) and a message is decoded only for a stream this terminal watches.
        publish, probe, instruments, watched = self.events.publish, self.latency_probe, self._instruments, self._watched
        quotes_topic, depth_topic = self.topics.quotes, self.topics.depth
        for record in records:
            key = (record.key or b"").decode()
            instrument = instruments.get(key)
            value = record.value
            if instrument is None or value is None:
                continue
            topic = record.topic
            try:
                if topic == quotes_topic:
                    if key in watched["quotes"]:
                        message = codec.loads(value)
                        if self.record_ticks and message.get("ticks"):
                            publish(TickEvent(instrument, tuple((float(t), str(f), codec.to_float(p), codec.to_float(z))
                                                                for t, f, p, z in message["ticks"])))
                        publish(QuoteEvent(instrument, codec.quote_from(message, instrument.symbol)))
                        if probe is not None:
                            probe(key, float(message.get("sent", 0.0)))
                elif topic == depth_topic:
                    if key in watched["depth"]:
                        bids, asks = codec.depth_from(codec.loads(value))
                        publish(DepthEvent(instrument, bids, asks))
                elif key in watched["bars"]:
                    publish(BarEvent(instrument, codec.bar_from(codec.loads(value))))
            except (codec.BadMessage, KeyError, TypeError, ValueError) as exc:
                log.warning("bad market message on %s for %s: %s", topic, key, exc)

    # --- the journal: orders, fills, positions, account --------------------------------------------
    def _mine(self, message: dict[str, Any]) -> bool:
        return self.role == "desk" or message.get("trader") == self.trader

    def _on_journal(self, records: list[Record]) -> None:
        for record in records:
            try:
                message = codec.loads(record.value or b"")
                if message["type"] == "order":
                    self._on_order_message(message)
                elif message["type"] == "fill":
                    if not self._mine(message):
                        continue
                    fill = codec.fill_from(message)
                    if fill.execution_id not in self._fills:
                        self._fills[fill.execution_id] = fill
                        self.events.publish(FillEvent(fill))
                        self._apply_own_fill(fill)
            except (codec.BadMessage, KeyError, TypeError, ValueError) as exc:
                log.warning("bad journal message on %s at %s: %s", record.topic, record.offset, exc)

    def _on_order_message(self, message: dict[str, Any]) -> None:
        order = codec.order_from(message)
        key = order.client_order_id
        waiter = self._waiters.get(key)
        if waiter is not None and not waiter.done() and (
                order.status is not OrderStatus.PENDING_SUBMIT or order.order_id or message.get("rule")):
            waiter.set_result(message)
        if not self._mine(message):
            return
        self._orders[key] = order
        self._order_owner[key] = str(message.get("trader", ""))
        if not message.get("rule"):  # a refusal is the answer to our command, not a broker update
            self.events.publish(OrderEvent(order))

    def _on_state(self, records: list[Record]) -> None:
        for record in records:
            try:
                message = codec.loads(record.value or b"")
                if message["type"] == "positions":
                    self._on_positions(message)
                elif message["type"] == "account":
                    self._account = codec.account_from(message)
                    self.events.publish(AccountEvent(self._account))
            except (codec.BadMessage, KeyError, TypeError, ValueError) as exc:
                log.warning("bad state message on %s: %s", record.topic, exc)

    def _apply_own_fill(self, fill: Fill) -> None:
        """A trader's positions are what their own fills on the desk built; the account's (every trader's) are
        the desk role's, and the hub reconciles those with the broker."""
        if self.role == "desk":
            return
        positions = self._positions.setdefault(fill.account, {})
        key = fill.instrument.key
        current = positions.get(key) or Position(fill.instrument, account=fill.account)
        positions[key] = current.apply_fill(fill)
        self.events.publish(PositionEvent(positions[key]))

    def _on_positions(self, message: dict[str, Any]) -> None:
        if self.role != "desk":
            return
        account = message.get("account", "")
        fresh = {p.instrument.key: p for p in codec.positions_from(message)}
        before = self._positions.get(account, {})
        self._positions[account] = fresh
        for key, position in fresh.items():
            if before.get(key) != position:
                self.events.publish(PositionEvent(position))
        for key, position in before.items():
            if key not in fresh:
                self.events.publish(PositionEvent(replace(position, quantity=0.0)))

    async def open_orders(self) -> list[Order]:
        return [o for o in self._orders.values() if o.status.is_working]

    async def completed_orders(self) -> list[Order]:
        return [o for o in self._orders.values() if o.status.is_done]

    async def executions(self) -> list[Fill]:
        return list(self._fills.values())

    async def positions(self) -> list[Position]:
        return [p for positions in self._positions.values() for p in positions.values() if p.quantity]

    async def account(self) -> Account:
        return self._account

    # --- order commands ----------------------------------------------------------------------------
    @property
    def orders_blocked(self) -> str:
        """Empty while an order command sent now would reach the hub's command reader; otherwise why it would not."""
        if not self._live or self.producer is None:
            return "not connected: the desk feed is stale (no hub heartbeat) or the hub's broker is down"
        commands = str(self._hub.get("commands", "no word from the hub on it"))
        if commands != "ready":
            return f"the desk hub is not taking orders now ({commands}); nothing was sent, try again shortly"
        quiet = time.monotonic() - self._delivered
        if quiet > PRODUCER_STALE_SECONDS:
            return (f"Kafka at {self.bootstrap} has taken none of this terminal's messages for {quiet:.0f} s; "
                    f"nothing was sent")
        return ""

    async def _require(self) -> None:
        """Return once a command sent now reaches the hub. A live feed whose hub is (re)joining its group or whose
        Kafka has not confirmed a heartbeat yet gets ``COMMANDS_WAIT`` seconds; a stale feed none."""
        if self.read_only:
            raise BrokerError("this connection to the desk bus is read-only (the monitor): no order commands")
        deadline = time.monotonic() + COMMANDS_WAIT
        while (blocked := self.orders_blocked) and self._live and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if blocked:
            raise NotConnected(blocked)

    def _send_command(self, command: str, key: str, ttl: float | None = None, **fields: Any) -> dict[str, Any]:
        assert self.producer is not None
        now = time.time()
        message = codec.envelope("command", command=command, client_order_id=key, trader=self.trader,
                                 terminal=self.terminal, role=self.role,
                                 expires=None if ttl is None else now + ttl, **fields)
        message["sent"] = now
        self.producer.send(self.topics.commands, key or self.terminal, message)
        return message

    async def _command_answered(self, key: str, message: dict[str, Any]) -> dict[str, Any] | None:
        """Send the command (already built) and wait for the hub's answer; resent once, the same command
        (the hub places it once whatever happens), then None: the order stays pending, never re-sent again."""
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._waiters[key] = future
        try:
            for attempt in range(2):
                if attempt:
                    log.warning("no answer from the desk hub for %s within %.0f s: sending the same command again",
                                key, self.answer_timeout)
                    assert self.producer is not None
                    self.producer.send(self.topics.commands, key, message)
                try:
                    return await asyncio.wait_for(asyncio.shield(future), self.answer_timeout)
                except TimeoutError:
                    continue
            return None
        finally:
            self._waiters.pop(key, None)

    async def _place(self, orders: list[Order]) -> list[Order]:
        await self._require()
        key = orders[0].client_order_id
        ttl = self.order_ttl
        message = self._send_command("place", key, ttl, orders=[codec.order_dict(o) for o in orders])
        answer = await self._command_answered(key, message)
        if answer is not None and answer.get("rule"):
            raise BrokerError(f"the desk hub refused it ({answer['rule']}): {answer.get('reason', '')}")
        if answer is None:
            log.error("the desk hub did not confirm %s within %.0f s (sent twice, placed at most once): it stays "
                      "PendingSubmit until the hub reports it", key, 2 * self.answer_timeout)
            return orders
        placed = codec.order_from(answer)
        result = [replace(orders[0], order_id=placed.order_id, parent_id=placed.parent_id, transmit=placed.transmit)]
        for child in orders[1:]:
            known = self._orders.get(child.client_order_id)
            result.append(replace(child, order_id=known.order_id if known else 0,
                                  parent_id=known.parent_id if known else placed.order_id))
        return result

    async def place(self, order: Order) -> Order:
        return (await self._place([order]))[0]

    async def place_bracket(self, parent: Order, *children: Order) -> list[Order]:
        return await self._place([parent, *children])

    def _hub_key(self, order: Order) -> str:
        """The hub's client order id of ``order``: its own, or (another trader's order, seen by the desk role as
        external) the one with its permanent id."""
        if order.client_order_id in self._orders:
            return order.client_order_id
        for key, known in self._orders.items():
            if order.perm_id and known.perm_id == order.perm_id:
                return key
        raise OrderNotAtBroker(f"order {order.client_order_id} is not known to the desk hub")

    async def modify(self, order: Order) -> Order:
        await self._require()
        self._send_command("modify", self._hub_key(order), self.order_ttl, order={
            "quantity": order.quantity, "limit_price": codec.num(order.limit_price),
            "stop_price": codec.num(order.stop_price)})
        return order

    async def cancel(self, order: Order) -> None:
        await self._require()
        self._send_command("cancel", self._hub_key(order))

    async def cancel_all(self) -> None:
        await self._require()
        self._send_command("cancel_all", "")

    async def set_desk_kill_switch(self, on: bool) -> None:
        await self._require()
        self._send_command("kill_switch", "", on=on)

    # --- requests to the hub -----------------------------------------------------------------------
    def _on_replies(self, records: list[Record]) -> None:
        for record in records:
            try:
                message = codec.loads(record.value or b"")
            except codec.BadMessage:
                continue
            future = self._replies.pop(str(message.get("id")), None)
            if future is not None and not future.done():
                future.set_result(message)

    async def _request(self, method: str, wait: float = 15.0, **args: Any) -> Any:
        if self.producer is None:
            raise NotConnected("not connected to the desk bus")
        request_id = f"{self.terminal}-{next(self._request_ids)}"
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._replies[request_id] = future
        self.producer.send(self.topics.requests, self.terminal, codec.envelope(
            "request", id=request_id, terminal=self.terminal, trader=self.trader, method=method, args=args))
        try:
            reply = await asyncio.wait_for(future, wait)
        except TimeoutError:
            raise BrokerError(f"the desk hub did not answer {method} within {wait:g} s") from None
        finally:
            self._replies.pop(request_id, None)
        if not reply.get("ok"):
            error = str(reply.get("error", "failed"))
            if reply.get("kind") in ("UnknownInstrument", "UnknownSymbol"):
                raise UnknownInstrument(error.split(": ", 1)[-1])
            raise BrokerError(f"desk hub: {error}")
        return reply.get("result")

    async def qualify(self, instrument: Instrument) -> Instrument:
        qualified = codec.instrument_from(await self._request("qualify", instrument=codec.instrument_dict(instrument)))
        self.remember(qualified)
        return qualified

    async def search(self, pattern: str) -> list[Instrument]:
        return [codec.instrument_from(i) for i in await self._request("search", pattern=pattern)]

    async def history(self, instrument: Instrument, bar_size: BarSize, start: datetime, end: datetime,
                      progress: Callable[[float], None] | None = None,
                      open_periods: Sequence[tuple[datetime, datetime]] | None = None) -> list[Bar]:
        """From the hub's broker, one chunk per request (each reply stays well under Kafka's message size)."""
        chunk = HISTORY_CHUNK.get(bar_size, timedelta(days=30)) / 4
        bars: list[Bar] = []
        cursor = start
        while cursor < end:
            stop = min(end, cursor + chunk)
            rows = await self._request("history", wait=60.0, instrument=codec.instrument_dict(instrument),
                                       bar_size=bar_size.value, start=codec.iso(cursor), end=codec.iso(stop))
            for t, o, h, lo, c, v in rows:
                moment = codec.parse_time(t)
                assert moment is not None
                bars.append(Bar(moment, float(o), float(h), float(lo), float(c), float(v or 0.0), bar_size))
            cursor = stop
            if progress is not None:
                progress(min(1.0, (cursor - start) / (end - start)))
        unique = {b.time: b for b in bars}
        return [unique[t] for t in sorted(unique)]

    async def snapshot(self, instrument: Instrument, timeout: float = 3.0) -> Quote:
        message = await self._request("snapshot", wait=timeout + 2.0, instrument=codec.instrument_dict(instrument),
                                      timeout=timeout)
        return codec.quote_from(message, instrument.symbol)

    async def what_if(self, order: Order, timeout: float = 5.0) -> OrderPreview:
        result = await self._request("what_if", wait=timeout + 2.0, order=codec.order_dict(order), timeout=timeout)
        values = {k: (math.nan if v is None and k not in ("warning", "source", "note", "commission_currency") else v)
                  for k, v in result.items()}
        return OrderPreview(**values)

    async def account_values(self) -> list[AccountValue]:
        return [AccountValue(*row) for row in await self._request("account_values")]

    async def server_time(self) -> datetime:
        moment = codec.parse_time(await self._request("server_time"))
        return moment or datetime.now(UTC)

    def order_owner(self, client_order_id: str) -> str:
        return self._order_owner.get(client_order_id, "")

