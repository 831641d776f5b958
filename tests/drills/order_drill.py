"""Order-safety drill: restart the broker mid-stream and kill -9 the terminal mid-order, then check every order and fill.

A trader process (``tests/drills/trader.py``: the real TradingSession, real IB client, real
store) sends a stream of market, limit and bracket orders, modifies and cancels, against
the simulator run by this script. Phase 1 restarts the simulator ``--restarts`` times while
orders work (a fresh simulator: no memory of orders, order ids start again; positions and
cash carry over, as IB keeps them). Phase 2 kills the trader with SIGKILL ``--kills`` times
right after it started an order, and starts it again. After each event the market is
frozen and three views are compared — the session's, the store's and the simulator's:

- every order the simulator has for the client is in the session and the store, under the
  same client order id, with the same status and filled quantity; no two share an id;
- no order is working in the session unless the simulator has it working; none is stuck
  in PendingSubmit / PendingCancel;
- every execution the simulator made for the client is in the store exactly once, on the
  order it belongs to (same instrument and side); every order's fills add up to its filled
  quantity; the session and the store agree on orders and fills;
- the broker's positions equal the position book, and no symbol is blocked.

Exit status 0 when every check of every round passed; the failures are printed otherwise.

    python tests/drills/order_drill.py --restarts 10 --kills 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from terminal.domain import OrderStatus  # noqa: E402
from terminal.sim.tws_server import SimServer  # noqa: E402
from terminal.store import Store  # noqa: E402

CLIENT_ID = 5
STUCK = {OrderStatus.PENDING_SUBMIT.value, OrderStatus.PENDING_CANCEL.value}


class Trader:
    """The trader subprocess and its output lines."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []
        self._reader = asyncio.ensure_future(self._read())

    @classmethod
    async def start(cls, port: int, db: str, seed: int, check: str = "", die: str = "") -> Trader:
        args = [sys.executable, "-m", "tests.drills.trader", "--port", str(port), "--client-id", str(CLIENT_ID),
                "--db", db, "--seed", str(seed)]
        if check:
            args += ["--check", check]
        if die:
            args += ["--die", die]
        process = await asyncio.create_subprocess_exec(*args, cwd=ROOT, stdin=asyncio.subprocess.PIPE,
                                                       stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        return cls(process)

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            self.lines.append(raw.decode().rstrip())

    async def wait_for(self, prefix: str, at_least: int, timeout: float, what: str) -> None:
        """Until the trader has printed ``at_least`` lines starting with ``prefix``."""
        deadline = time.monotonic() + timeout
        while self.count(prefix) < at_least:
            if self.process.returncode is not None and self.process.returncode != 0:
                stderr = (await self.process.stderr.read()).decode()[-2000:] if self.process.stderr else ""
                raise RuntimeError(f"trader exited with {self.process.returncode} waiting for {what}:\n{stderr}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}; last lines: {self.lines[-5:]}")
            await asyncio.sleep(0.02)

    def count(self, prefix: str) -> int:
        return sum(1 for line in self.lines if line.startswith(prefix))

    async def command(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((text + "\n").encode())
        await self.process.stdin.drain()

    async def dump(self, path: Path) -> dict:
        before = self.count("paused")
        await self.command(f"pause {path}")
        await self.wait_for("paused", before + 1, 30, "the paused dump")
        return json.loads(path.read_text())

    async def quit(self) -> None:
        await self.command("quit")
        try:
            await asyncio.wait_for(self.process.wait(), 30)
        except TimeoutError:
            self.kill()
            raise RuntimeError(f"the trader did not quit within 30 s; last lines: {self.lines[-5:]}") from None

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)


def compare(sim: SimServer, dump: dict, store: Store, label: str) -> list[str]:
    """Every disagreement between the session (``dump``), the store and the simulator, as one line each."""
    problems: list[str] = []
    orders, fills = dump["orders"], dump["fills"]
    stored_orders = {o.client_order_id: o for o in store.orders.list(limit=1_000_000)}
    stored_fills = store.fills.list(limit=1_000_000)
    # the session and the store
    for key, order in orders.items():
        saved = stored_orders.get(key)
        if saved is None:
            problems.append(f"{label}: order {key} is in the session, not in the store")
        elif (saved.status.value, saved.filled_quantity) != (order["status"], order["filled"]):
            problems.append(f"{label}: order {key}: session {order['status']} {order['filled']:g}, "
                            f"store {saved.status.value} {saved.filled_quantity:g}")
        if order["status"] in STUCK:
            problems.append(f"{label}: order {key} is stuck in {order['status']}")
    missing = set(stored_orders) - set(orders)
    if missing:
        problems.append(f"{label}: {len(missing)} stored order(s) not in the session, e.g. {sorted(missing)[:3]}")
    session_fills = Counter(f["exec_id"] for f in fills)
    if any(n > 1 for n in session_fills.values()):
        problems.append(f"{label}: duplicated fills in the session: {[k for k, n in session_fills.items() if n > 1]}")
    stored_ids = {f.execution_id for f in stored_fills}
    if set(session_fills) - stored_ids:
        problems.append(f"{label}: fills in the session, not in the store: {sorted(set(session_fills) - stored_ids)[:3]}")
    if dump["unapplied"]:
        problems.append(f"{label}: {dump['unapplied']} fill(s) still wait for their order")
    # every order's fills add up, and each fill is on an order of its instrument and side
    by_order: Counter[str] = Counter()
    for fill in stored_fills:
        by_order[fill.client_order_id] += fill.quantity
        owner = stored_orders.get(fill.client_order_id)
        if owner is None:
            problems.append(f"{label}: fill {fill.execution_id} belongs to no stored order ({fill.client_order_id!r})")
        elif (owner.instrument.symbol, owner.side) != (fill.instrument.symbol, fill.side):
            problems.append(f"{label}: fill {fill.execution_id} ({fill.side.value} {fill.instrument.symbol}) is "
                            f"misattributed to {owner.client_order_id} ({owner.describe()})")
    for key, saved in stored_orders.items():
        if abs(by_order[key] - saved.filled_quantity) > 1e-9:
            problems.append(f"{label}: order {key} says {saved.filled_quantity:g} filled, its fills add up to "
                            f"{by_order[key]:g}")
    # the simulator
    at_sim = [w for (client, _), w in sim.engine.orders.items() if client == CLIENT_ID]
    refs = Counter(w.order.client_order_id for w in at_sim)
    if any(n > 1 for n in refs.values()):
        problems.append(f"{label}: the simulator got an order twice: {[k for k, n in refs.items() if n > 1]}")
    working_at_sim = set()
    for working in at_sim:
        o = working.order
        ours = orders.get(o.client_order_id)
        if o.status.is_working:
            working_at_sim.add(o.client_order_id)
        if ours is None:
            problems.append(f"{label}: the simulator's order {o.client_order_id} ({o.describe()}) is unknown here")
        elif (ours["status"], ours["filled"]) != (o.status.value, o.filled_quantity):
            problems.append(f"{label}: order {o.client_order_id}: here {ours['status']} {ours['filled']:g}, "
                            f"simulator {o.status.value} {o.filled_quantity:g}")
    for key, order in orders.items():
        if OrderStatus(order["status"]).is_working and key not in working_at_sim:
            problems.append(f"{label}: order {key} is {order['status']} here but not working at the simulator")
    for execution in sim.engine.executions_of(CLIENT_ID):
        fill = execution.fill
        if fill.execution_id not in stored_ids:
            problems.append(f"{label}: execution {fill.execution_id} of {fill.client_order_id} was lost")
    stored_by_id = {f.execution_id: f for f in stored_fills}
    for execution in sim.engine.executions_of(CLIENT_ID):
        saved_fill = stored_by_id.get(execution.fill.execution_id)
        if saved_fill is not None and saved_fill.client_order_id != execution.fill.client_order_id:
            problems.append(f"{label}: execution {execution.fill.execution_id} of {execution.fill.client_order_id} "
                            f"is stored on {saved_fill.client_order_id}")
    # positions
    book = {(a, k): q for a, k, q in dump["book"]}
    for account in sim.accounts.ids():
        held = {p.instrument.key: p.quantity for p in sim.accounts.positions_of(account)}
        for key in set(held) | {k for (a, k) in book if a == account}:
            if abs(held.get(key, 0.0) - book.get((account, key), 0.0)) > 1e-9:
                problems.append(f"{label}: position {key}: simulator {held.get(key, 0.0):+g}, "
                                f"book {book.get((account, key), 0.0):+g}")
    if dump["blocked"]:
        problems.append(f"{label}: orders blocked in {dump['blocked']}")
    return problems


async def drill(restarts: int, kills: int, seed: int, workdir: Path) -> int:
    rng = random.Random(seed)
    db = f"sqlite:///{workdir / 'drill.sqlite'}"
    sim = SimServer(port=0, seed=seed, tick_interval=0.05)
    await sim.start()
    port = sim.port
    problems: list[str] = []
    figures = Counter()

    async def check(trader: Trader | None, label: str) -> None:
        sim.freeze()
        path = workdir / f"{label}.json"
        if trader is not None:
            dump = await trader.dump(path)
        else:  # a restarted terminal: start, reconcile, tell what it knows
            checker = await Trader.start(port, db, seed, check=str(path))
            await checker.wait_for("checked", 1, 60, "the restarted terminal's state")
            await checker.process.wait()
            dump = json.loads(path.read_text())
        store = Store.open(db)
        try:
            found = compare(sim, dump, store, label)
        finally:
            store.close()
        figures["orders"] = len(dump["orders"])
        figures["fills"] = len(dump["fills"])
        figures["inactive"] = sum(1 for o in dump["orders"].values() if o["status"] == "Inactive")
        print(f"{label}: {len(dump['orders'])} orders, {len(dump['fills'])} fills, "
              f"{sum(1 for o in dump['orders'].values() if OrderStatus(o['status']).is_working)} working — "
              f"{'OK' if not found else f'{len(found)} problem(s)'}", flush=True)
        problems.extend(found)
        sim.freeze(False)

    trader = await Trader.start(port, db, seed)
    await trader.wait_for("trading", 1, 60, "the trader to start")
    for n in range(1, restarts + 1):  # phase 1: the broker restarts mid-stream
        await asyncio.sleep(rng.uniform(0.6, 1.2))
        reconciled = trader.count("reconciled")
        await sim.stop()
        figures["restarts"] += 1
        await asyncio.sleep(rng.uniform(0.2, 0.6))
        sim = SimServer(port=port, seed=seed + n, tick_interval=0.05, accounts=sim.accounts)
        await sim.start()
        await trader.wait_for("reconciled", reconciled + 1, 30, f"reconnect {n}")
        await asyncio.sleep(rng.uniform(0.3, 0.8))
        await check(trader, f"restart-{n:02d}")
        await trader.command("resume")
    await trader.quit()
    for n in range(1, kills + 1):  # phase 2: the terminal is killed mid-order
        # In turn: at a random moment of the stream, right after an order's record is committed (before it
        # is sent), and right after an order was handed to the broker (before its IB id is kept).
        mode = ("stream", "write", "send")[(n - 1) % 3]
        after = rng.randint(5, 40)
        trader = await Trader.start(port, db, seed * 100 + n, die="" if mode == "stream" else f"{mode}:{after}")
        await trader.wait_for("trading", 1, 60, "the trader to start")
        if mode == "stream":
            sent = trader.count("sent") + after
            await trader.wait_for("sent", sent, 60, "orders in flight")
            await asyncio.sleep(rng.uniform(0.0, 0.02))
            trader.kill()
        await asyncio.wait_for(trader.process.wait(), 60)
        if trader.process.returncode != -signal.SIGKILL:
            problems.append(f"kill-{n:02d}: the trader ended with {trader.process.returncode}, not by SIGKILL")
        figures["kills"] += 1
        await check(None, f"kill-{n:02d}-{mode}")
    await sim.stop()
    print(f"\n{figures['restarts']} simulator restarts, {figures['kills']} kill -9 of the terminal; "
          f"{figures['orders']} orders and {figures['fills']} fills at the end "
          f"({figures['inactive']} Inactive: gone with a restarted broker or never sent)")
    if problems:
        print(f"\n{len(problems)} problem(s):")
        for line in problems:
            print(f"  {line}")
        return 1
    print("every order and fill agrees in the terminal, the store and the simulator")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--restarts", type=int, default=10)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--seed", type=int, default=int(os.environ.get("QT_DRILL_SEED", "3")))
    parser.add_argument("--workdir", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="order-drill-") as scratch:
        workdir = Path(args.workdir or scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        return asyncio.run(drill(args.restarts, args.kills, args.seed, workdir))


if __name__ == "__main__":
    sys.exit(main())
