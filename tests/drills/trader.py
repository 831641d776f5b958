"""The terminal's trading core in a process of its own, trading at random for the order-safety drill.

Runs a real TradingSession (real IB client, real store) against TWS / the simulator at
``--port`` and sends a stream of orders through the order service — market, resting
limit, bracket, modify, cancel — as an automated caller (``confirmed=True``). Commands on
stdin: ``pause PATH`` (stop sending, let the outbox drain, write the session's state to
PATH as JSON, answer ``paused``), ``resume``, ``quit``. With ``--check PATH`` it only
starts (which reconciles with the broker), writes the state and exits: what a restarted
terminal knows.

    python -m tests.drills.trader --port 7497 --client-id 5 --db sqlite:///drill.sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sys
from pathlib import Path

from terminal.broker.ib import IBBroker
from terminal.config import load_settings
from terminal.domain import DomainError, Order, OrderSide, OrderType
from terminal.services.session import TradingSession
from terminal.store import Store

SYMBOLS = ("AAPL", "MSFT", "KO")


def say(*words: object) -> None:
    print(*words, flush=True)


def state(session: TradingSession) -> dict:
    """What the session believes: orders, fills, position book, blocked symbols, records not yet written."""
    return {
        "orders": {k: {"status": o.status.value, "filled": o.filled_quantity, "quantity": o.quantity,
                       "side": o.side.value, "symbol": o.instrument.symbol, "perm_id": o.perm_id,
                       "order_id": o.order_id, "source": o.source, "reason": o.reason}
                   for k, o in session.orders.orders.items()},
        "fills": [{"exec_id": f.execution_id, "client_order_id": f.client_order_id, "quantity": f.quantity,
                   "side": f.side.value, "symbol": f.instrument.symbol} for f in session.orders.fills],
        "book": [[a, k, q] for (a, k), q in session.positions.expected.items()],
        "blocked": sorted(session.risk.blocked),
        "unapplied": len(session.orders.unapplied_fills()),
        "pending_records": session.records.pending,
    }


async def open_session(args: argparse.Namespace) -> TradingSession:
    settings = load_settings(config_path=Path("/nonexistent/none.toml"), environ={"QT_NO_KEYRING": "1"}, overrides={
        "db_url": args.db, "ib": f"127.0.0.1:{args.port}:{args.client_id}", "confirm_orders": False,
        "max_order_quantity": 100_000, "max_notional": 100_000_000, "max_position": 1_000_000,
        "daily_loss_limit": 1_000_000_000})
    session = TradingSession(settings, Store.open(settings.resolved_db_url),
                             IBBroker(reconnect_initial=0.2, reconnect_max=1.0))
    session.orders.reconciled.connect(lambda report: say("reconciled", report.describe()))
    await session.start()
    return session


async def one_action(session: TradingSession, rng: random.Random, instruments: list) -> None:
    instrument = rng.choice(instruments)
    price = session.market.reference_price(instrument)
    roll = rng.random()
    working = [o for o in session.orders.working() if o.order_type is OrderType.LIMIT and o.perm_id]
    side = rng.choice((OrderSide.BUY, OrderSide.SELL))
    if roll < 0.4 or price != price:
        order = Order(instrument, side, rng.randint(1, 20), source="drill")
        sent = await session.orders.place(order, confirmed=True)
    elif roll < 0.7:
        away = 0.97 if side is OrderSide.BUY else 1.03
        order = Order(instrument, side, rng.randint(1, 10), OrderType.LIMIT,
                      limit_price=instrument.round_to_tick(price * away), source="drill")
        sent = await session.orders.place(order, confirmed=True)
    elif roll < 0.8:
        parent = Order(instrument, OrderSide.BUY, rng.randint(1, 10), OrderType.LIMIT,
                       limit_price=instrument.round_to_tick(price * 0.999), source="drill")
        sent = (await session.orders.place_bracket(parent, round(price * 0.002, 2), round(price * 0.002, 2),
                                                   confirmed=True))[0]
    elif roll < 0.9 and working:
        await session.orders.cancel(rng.choice(working).client_order_id)
        return
    elif working:
        target = rng.choice(working)
        toward = 1.02 if target.side is OrderSide.BUY else 0.98  # may become marketable and fill
        await session.orders.modify(target.client_order_id, confirmed=True,
                                    limit_price=target.instrument.round_to_tick(
                                        session.market.reference_price(target.instrument) * toward))
        return
    else:
        return
    say("sent", sent.client_order_id)


def die_at(session: TradingSession, point: str, after: int) -> None:
    """SIGKILL this process at a precise moment of the ``after``-th order: right after its record is committed
    (``write``: before it is sent) or right after it was handed to the broker (``send``: before its IB id is kept)."""
    count = [0]

    def maybe_die() -> None:
        count[0] += 1
        if count[0] >= after:
            say("dying", point)
            os.kill(os.getpid(), signal.SIGKILL)

    if point == "write":
        write_ahead = session.records.write_ahead

        async def write_then_die(order, timeout=5.0):  # type: ignore[no-untyped-def]
            await write_ahead(order, timeout)
            maybe_die()

        session.records.write_ahead = write_then_die  # type: ignore[method-assign]
    elif point == "send":
        place = session.broker.place

        async def send_then_die(order):  # type: ignore[no-untyped-def]
            sent = await place(order)
            maybe_die()
            return sent

        session.broker.place = send_then_die  # type: ignore[method-assign]


async def trade(args: argparse.Namespace) -> int:
    session = await open_session(args)
    if args.die:
        point, _, after = args.die.partition(":")
        die_at(session, point, int(after or 1))
    rng = random.Random(args.seed)
    instruments = [await session.market.qualify(symbol) for symbol in SYMBOLS]
    for instrument in instruments:
        await session.market.subscribe(instrument)
    if args.check:
        await asyncio.sleep(0.5)
        await session.records.flush()
        Path(args.check).write_text(json.dumps(state(session)))
        await session.stop()
        say("checked")
        return 0
    paused = asyncio.Event()
    commands: asyncio.Queue[str] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def read_commands() -> None:
        while line := await reader.readline():
            commands.put_nowait(line.decode().strip())
        commands.put_nowait("quit")  # stdin closed: the drill is gone

    reading = asyncio.ensure_future(read_commands())  # noqa: F841 - runs as long as the trader
    in_flight: set[asyncio.Task] = set()

    async def act() -> None:
        try:
            await one_action(session, rng, instruments)
        except DomainError as exc:  # rejected (not connected, a rule): the drill goes on
            say("rejected", str(exc).splitlines()[0][:120])

    say("trading")
    while True:
        while not commands.empty():
            command, _, path = commands.get_nowait().partition(" ")
            if command == "pause":
                paused.set()
                if in_flight:
                    await asyncio.wait(in_flight)
                await asyncio.sleep(args.quiet)
                await session.records.flush()
                Path(path).write_text(json.dumps(state(session)))
                say("paused")
            elif command == "resume":
                paused.clear()
            elif command in ("quit", ""):
                await session.stop()
                return 0
        if not paused.is_set():
            task = asyncio.ensure_future(act())
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        await asyncio.sleep(args.interval)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--client-id", type=int, default=5)
    parser.add_argument("--db", required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--interval", type=float, default=0.03, help="seconds between actions")
    parser.add_argument("--quiet", type=float, default=0.6, help="seconds to let events settle before a dump")
    parser.add_argument("--check", default="", help="start, reconcile, write the state here and exit")
    parser.add_argument("--die", default="", help="write:N or send:N — SIGKILL itself at that point of order N")
    return asyncio.run(trade(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
