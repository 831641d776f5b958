"""The desk-bus commands: ``hub`` (one broker connection for the desk, on Kafka) and ``order place | cancel |
ls | kill-switch`` (order commands to the hub, headless, through the same order service as the window)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
from dataclasses import replace
from typing import Any

from terminal.cli_args import positive_float, until_stopped
from terminal.config import Settings


def _fail(message: str) -> int:
    print(f"quant-terminal: {message}", file=sys.stderr)
    return 1


def add_bus_parsers(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    hub = commands.add_parser("hub", help="hold the desk's one broker connection and publish it on Kafka")
    hub.add_argument("--kafka", required=True, metavar="HOST:PORT", help="Kafka bootstrap server(s), e.g. 127.0.0.1:9092")
    hub.add_argument("--prefix", default="qt.", help="topic prefix (default qt.)")
    hub.add_argument("--retention-hours", type=positive_float, default=168.0, metavar="H",
                     help="how long events stay on the topics when the hub creates them (default 168 = 7 days)")
    hub.add_argument("--grace", type=positive_float, default=5.0, metavar="S",
                     help="after a restart, how long an unconfirmed order is looked for at the broker before it "
                          "is shown as Unknown (default 5 s)")
    hub.add_argument("--max-gross", type=positive_float, default=5_000_000.0, metavar="AMOUNT",
                     help="desk limit on gross exposure across all terminals (default 5,000,000)")
    hub.add_argument("--seconds", type=positive_float, metavar="N", help="stop after N seconds (default: Ctrl+C)")

    order = commands.add_parser("order", help="send order commands to the desk hub (place, cancel, ls, kill-switch)")
    verbs = order.add_subparsers(dest="kind", metavar="ACTION", required=True)
    place = verbs.add_parser("place", help="place one order through the hub (risk checks here and at the hub)")
    place.add_argument("--symbol", required=True)
    place.add_argument("--side", required=True, type=str.upper, choices=["BUY", "SELL"])
    place.add_argument("--qty", required=True, type=positive_float)
    place.add_argument("--type", dest="order_type", default="MKT", type=str.upper,
                       choices=["MKT", "LMT", "STP", "STP LMT"])
    place.add_argument("--limit", type=positive_float, help="limit price (LMT, STP LMT)")
    place.add_argument("--stop", type=positive_float, help="stop price (STP, STP LMT)")
    place.add_argument("--tif", default="DAY", type=str.upper, choices=["DAY", "GTC", "IOC"])
    place.add_argument("--id", dest="client_order_id",
                       help="our client order id: sending the same id again never makes a second order")
    place.add_argument("--wait", type=positive_float, default=10.0, metavar="S",
                       help="how long to wait for the broker's answer (default 10 s)")
    cancel = verbs.add_parser("cancel", help="cancel one of your working orders (any order with --desk-role desk)")
    cancel.add_argument("--id", dest="client_order_id", required=True)
    cancel.add_argument("--wait", type=positive_float, default=10.0, metavar="S")
    ls = verbs.add_parser("ls", help="your orders on the desk (every order with --desk-role desk)")
    ls.add_argument("--all", action="store_true", help="done orders too (default: working ones)")
    ls.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    kill = verbs.add_parser("kill-switch", help="the desk kill switch (needs --desk-role desk)")
    kill.add_argument("state", choices=["on", "off"])
    for sub in (place, cancel, ls, kill):
        sub.add_argument("--feed", metavar="kafka://HOST:PORT", help="the desk bus (or the feed setting)")
        sub.add_argument("--prefix", help="topic prefix of the desk bus (default: the bus_prefix setting, qt.)")


# --- hub -------------------------------------------------------------------------------------------
def run_hub(args: argparse.Namespace, settings: Settings) -> int:
    from terminal.config import parse_kafka_url

    try:
        bootstrap = parse_kafka_url(args.kafka)
    except ValueError as exc:
        return _fail(f"hub --kafka: {exc}")
    if settings.feed:
        return _fail("hub: --feed is for terminals; the hub itself connects to the broker (--ib, or the simulator)")
    if not settings.db_url:  # the hub's book is its own, not the terminal's on the same machine
        settings = replace(settings, db_url=f"sqlite:///{settings.resolved_data_dir / 'hub.sqlite'}")
    return asyncio.run(_hub(args, settings, bootstrap))


async def _hub(args: argparse.Namespace, settings: Settings, bootstrap: str) -> int:
    from terminal.broker.base import BrokerError
    from terminal.broker.ib import IBBroker
    from terminal.bus.hub import DeskLimits, Hub
    from terminal.bus.kafka import BusError, Topics
    from terminal.services.session import TradingSession
    from terminal.sim.process import SimulatorError
    from terminal.store import Store, StoreError

    if settings.log_level != "DEBUG":
        for name in ("ib_async", "ib_insync"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        store = Store.open(settings.resolved_db_url)
    except StoreError as exc:
        return _fail(f"hub: {exc}")
    session = TradingSession(settings, store, IBBroker())
    hub = Hub(session, bootstrap, Topics(args.prefix), limits=DeskLimits(args.max_gross), grace=args.grace,
              retention_hours=args.retention_hours)
    try:
        await hub.start()
    except (BusError, BrokerError, OSError, ConnectionError, TimeoutError, SimulatorError) as exc:
        with contextlib.suppress(Exception):
            await hub.stop()
        return _fail(f"hub: {exc}")
    print(f"hub {hub.hub_id} ready: broker {session.status.endpoint} ({session.broker.provenance.label}), "
          f"Kafka {bootstrap}, topics {args.prefix}*", file=sys.stderr, flush=True)
    await until_stopped(args.seconds)
    await hub.stop()
    store.close()
    print(f"hub {hub.hub_id} stopped after {hub.commands_done} command(s)", file=sys.stderr)
    return 0


# --- order -----------------------------------------------------------------------------------------
def run_order(args: argparse.Namespace, settings: Settings) -> int:
    from terminal.config import ConfigError, parse_kafka_url

    if getattr(args, "feed", None):
        settings = replace(settings, feed=args.feed, ib="")
    if getattr(args, "prefix", None):
        settings = replace(settings, bus_prefix=args.prefix)
    if not settings.feed:
        return _fail(f"order {args.kind}: give the desk bus with --feed kafka://HOST:PORT (or the feed setting)")
    try:
        parse_kafka_url(settings.feed)
    except ValueError as exc:
        raise ConfigError(f"order {args.kind} --feed: {exc}") from None
    return asyncio.run(_order(args, settings))


async def _order(args: argparse.Namespace, settings: Settings) -> int:
    from terminal.broker.base import BrokerError
    from terminal.bus.feed import KafkaBroker
    from terminal.bus.kafka import Topics
    from terminal.services.session import TradingSession
    from terminal.store import Store, StoreError

    if settings.log_level != "DEBUG":  # a command for scripts: its own lines only, not the session's log
        logging.getLogger("terminal").setLevel(logging.CRITICAL)
    try:
        store = Store.open(settings.resolved_db_url)
    except StoreError as exc:
        return _fail(f"order {args.kind}: {exc}")
    broker = KafkaBroker(Topics(settings.bus_prefix), trader=settings.trader, role=settings.desk_role,
                         order_ttl=settings.order_ttl)
    session = TradingSession(settings, store, broker)
    try:
        try:
            await session.start()
        except (BrokerError, OSError) as exc:
            return _fail(f"order {args.kind}: {exc}")
        return await {"place": _place, "cancel": _cancel, "ls": _ls, "kill-switch": _kill}[args.kind](args, session)
    finally:
        with contextlib.suppress(Exception):
            await session.stop()
        store.close()


async def _settled(session: Any, key: str, wait: float, done: Any) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while loop.time() < deadline:
        order = session.orders.orders.get(key)
        if order is not None and done(order):
            return order
        await asyncio.sleep(0.05)
    return session.orders.orders.get(key)


def _describe(order: Any) -> str:
    fill = f", filled {order.filled_quantity:g} @ {order.average_fill_price:g}" if order.filled_quantity else ""
    reason = f" — {order.reason}" if order.reason and not order.status.is_working else ""
    return f"{order.client_order_id}: {order.describe()} — {order.status.value}{fill}{reason}"


async def _place(args: argparse.Namespace, session: Any) -> int:
    from terminal.domain import (
        DomainError,
        Order,
        OrderRejected,
        OrderSide,
        OrderStatus,
        OrderType,
        TimeInForce,
    )

    key = args.client_order_id or ""
    if key and key in session.orders.orders:  # sent before (a resend after a timeout): its state, not a new order
        order = session.orders.orders[key]
        print(f"already sent, not placed again: {_describe(order)}")
        return 0 if order.status is not OrderStatus.INACTIVE else 1
    try:
        instrument = await session.market.qualify(args.symbol)
        order = Order(instrument, OrderSide(args.side), args.qty, OrderType(args.order_type), limit_price=args.limit,
                      stop_price=args.stop, time_in_force=TimeInForce(args.tif), client_order_id=key, source="cli")
        placed = await session.orders.place(order, confirmed=True)
    except OrderRejected as exc:
        return _fail(f"order place: rejected ({exc.rule}): {exc}")
    except DomainError as exc:
        return _fail(f"order place: {exc}")
    final = await _settled(session, placed.client_order_id, args.wait,
                           lambda o: o.status not in (OrderStatus.PENDING_SUBMIT,) and
                           (o.order_type is not OrderType.MARKET or not o.status.is_working))
    print(_describe(final))
    if final.status is OrderStatus.PENDING_SUBMIT:
        print(f"quant-terminal: order place: no answer from the desk hub within {args.wait:g} s; the order stays "
              f"pending (sent once; check 'order ls'), never sent again", file=sys.stderr)
        return 1
    return 1 if final.status is OrderStatus.INACTIVE else 0


async def _cancel(args: argparse.Namespace, session: Any) -> int:
    from terminal.domain import OrderRejected

    key = args.client_order_id
    order = session.orders.orders.get(key)
    if order is None:
        return _fail(f"order cancel --id {key}: no such order of yours on the desk (see 'order ls --all')")
    if not order.status.is_working:
        print(f"not working, nothing to cancel: {_describe(order)}")
        return 0
    try:
        await session.orders.cancel(key)
    except OrderRejected as exc:
        return _fail(f"order cancel: {exc}")
    final = await _settled(session, key, args.wait, lambda o: not o.status.is_working)
    print(_describe(final))
    return 0 if not final.status.is_working else 1


async def _ls(args: argparse.Namespace, session: Any) -> int:
    from terminal.bus.codec import order_dict

    orders = sorted(session.orders.orders.values(), key=lambda o: o.created.timestamp() if o.created else 0.0)
    shown = [o for o in orders if args.all or o.status.is_working]
    broker = session.broker
    for order in shown:
        if args.json:
            print(json.dumps({**order_dict(order), "trader": broker.order_owner(order.client_order_id)}))
        else:
            owner = broker.order_owner(order.client_order_id)
            print(f"{_describe(order)}{f'  [{owner}]' if owner else ''}")
    if not args.json:
        print(f"{len(shown)} order(s){'' if args.all else ' working'}", file=sys.stderr)
    return 0


async def _kill(args: argparse.Namespace, session: Any) -> int:
    from terminal.broker.base import BrokerError

    if session.settings.desk_role != "desk":
        return _fail("order kill-switch: the desk kill switch needs --desk-role desk")
    try:
        await session.broker.set_desk_kill_switch(args.state == "on")
    except BrokerError as exc:
        return _fail(f"order kill-switch: {exc}")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5.0
    while loop.time() < deadline:
        if bool(session.broker.hub_state.get("kill_switch")) == (args.state == "on"):
            print(f"desk kill switch is {args.state.upper()}")
            return 0
        await asyncio.sleep(0.1)
    return _fail("order kill-switch: the hub did not confirm within 5 s")
