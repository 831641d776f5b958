"""A strategy trading live: the same class a backtest runs, in its own worker process, fed one closed bar at a time.

The worker holds the strategy and every bar it has seen. On each new bar it runs ``init`` again
over the history so far, then ``next`` at the new bar (``self.i`` is the last bar): the strategy
API's indicators are causal, so the decision equals the one a backtest takes at that bar. Its
``buy``/``sell``/``close`` do not trade: they are the worker's answer, a list of intents that the
terminal's order service checks, records and sends like any other order. The strategy reads the
position and equity the terminal gives with each bar (what its own orders filled).

Warm-up bars (history before the start, or the bars of a run resumed after a restart) go through
``next`` too, with no orders taken: the strategy's own state (attributes it keeps) is rebuilt as
it would have been, and it sees the position it actually had at each of them.

The main process never runs the strategy's code: ``LiveWorker`` only starts the process and
exchanges plain tuples with it over a pipe, with a time limit on every answer.
"""

from __future__ import annotations

import multiprocessing as mp
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from terminal.backtest.api import Data, Sizing

# (time ns, open, high, low, close, volume)
BarRow = tuple[int, float, float, float, float, float]


@dataclass(frozen=True)
class Intent:
    """An order the strategy asked for at a bar: ``side`` "BUY" or "SELL", ``quantity`` > 0."""

    side: str
    quantity: float
    symbol: str
    stop: float | None = None  # exits attached to it (a stop and a limit, one cancelling the other)
    target: float | None = None


class StrategyFailed(RuntimeError):
    """The strategy raised, looped past its time limit, or ended its worker; the message says which, and where."""


class _Intents:
    """The strategy's broker in the worker: positions and equity as the terminal told them; orders are recorded."""

    def __init__(self) -> None:
        self.positions: dict[str, float] = {}
        self.equity_value = 0.0
        self.taken: list[Intent] | None = None  # None: warm-up, orders are not taken

    def buy(self, size: float, symbol: str, stop: float | None = None, target: float | None = None) -> None:
        self._add("BUY", size, symbol, stop, target)

    def sell(self, size: float, symbol: str, stop: float | None = None, target: float | None = None) -> None:
        self._add("SELL", size, symbol, stop, target)

    def _add(self, side: str, size: float, symbol: str, stop: float | None, target: float | None) -> None:
        size = float(size)
        if not np.isfinite(size) or size <= 0:
            return  # as the engines do: an order of nothing is no order
        if self.taken is not None:  # the position stays as it was until the order fills, as on backtrader
            self.taken.append(Intent(side, size, symbol, None if stop is None else float(stop),
                                     None if target is None else float(target)))

    def position(self, symbol: str) -> float:
        return self.positions.get(symbol, 0.0)

    def equity(self) -> float:
        return self.equity_value


def _user_error(exc: BaseException, name: str) -> str:
    from terminal.backtest.runner import _user_line

    line = getattr(exc, "line", 0) or _user_line(traceback.format_exc(), name)
    where = f" (line {line} of {name})" if line else f" (in {name})"
    if isinstance(exc, SystemExit):
        return f"the strategy called sys.exit({exc.code!r}){where}"
    return f"{type(exc).__name__}: {exc}{where}"


class _Held:
    """The strategy and its bars, in the worker. The bars live in arrays that grow by doubling, and each bar
    hands the strategy read-only views of what has come so far: a new bar costs O(1), not a copy of the history."""

    def __init__(self, cls: type, params: dict[str, Any], sizing: Sizing, symbol: str) -> None:
        self.cls, self.params, self.sizing, self.symbol = cls, params, sizing, symbol
        self.n = 0
        self._times = np.zeros(1024, dtype=np.int64)
        self._values = np.zeros((5, 1024))  # open, high, low, close, volume
        self.broker = _Intents()
        self.strategy: Any = None

    def _append(self, rows: list[BarRow]) -> None:
        need = self.n + len(rows)
        if need > len(self._times):
            size = max(need, 2 * len(self._times))
            times, values = np.zeros(size, dtype=np.int64), np.zeros((5, size))
            times[:self.n], values[:, :self.n] = self._times[:self.n], self._values[:, :self.n]
            self._times, self._values = times, values
        if rows:
            self._times[self.n:need] = [r[0] for r in rows]
            self._values[:, self.n:need] = np.asarray([r[1:] for r in rows], dtype=float).T
        self.n = need

    def _data(self) -> Data:
        views = [self._times[:self.n], *(self._values[k, :self.n] for k in range(5))]
        for view in views:
            view.flags.writeable = False  # the history is what happened: a strategy cannot rewrite it
        return Data(self.symbol, *views)

    def _init(self) -> None:
        data = self._data()
        if self.strategy is None:
            self.strategy = self.cls({self.symbol: data}, self.params, self.broker, self.sizing)
        else:  # the same instance: what the strategy keeps in its attributes carries on
            self.strategy.datas = {self.symbol: data}
            self.strategy.data = data
        self.strategy.init()

    def warm(self, rows: list[BarRow], positions: list[float], equity: float) -> None:
        start = self.n
        self._append(rows)
        self._init()
        self.broker.taken = None
        self.broker.equity_value = equity
        for n in range(start, self.n):
            self.broker.positions = {self.symbol: positions[n - start]}
            self.strategy.i = n
            self.strategy.next()

    def decide(self, row: BarRow, position: float, equity: float) -> list[Intent]:
        self._append([row])
        self._init()
        self.broker.positions = {self.symbol: position}
        self.broker.equity_value = equity
        self.broker.taken = []
        self.strategy.i = self.n - 1
        self.strategy.next()
        taken, self.broker.taken = self.broker.taken, None
        return taken


def serve(source: str, name: str, params: dict[str, Any], sizing: Sizing, symbol: str, conn: Connection) -> None:
    """Body of the worker: load the strategy, then answer ("warm", rows, positions, equity) and
    ("bar", row, position, equity) until the pipe closes. Answers: ("ok", [Intent…]) or ("error", message)."""
    from terminal.backtest.loader import load_strategy
    from terminal.backtest.runner import quiet_stdout

    quiet_stdout()
    try:
        held = _Held(load_strategy(source, name), params, sizing, symbol)
    except BaseException as exc:  # noqa: BLE001 - a module that fails to load is the strategy's error
        conn.send(("error", _user_error(exc, name)))
        return
    conn.send(("ok", []))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        try:
            if message[0] == "warm":
                held.warm(message[1], message[2], message[3])
                conn.send(("ok", []))
            elif message[0] == "bar":
                conn.send(("ok", held.decide(message[1], message[2], message[3])))
            else:
                return
        except BaseException as exc:  # noqa: BLE001 - anything the strategy raised is reported, then the worker ends
            conn.send(("error", _user_error(exc, name)))
            return


START_LIMIT = 60.0  # a spawned worker imports numpy and pandas before the strategy: not the strategy's time


class LiveWorker:
    """The main process's handle on one strategy's worker: ask and wait (blocking: call from a thread)."""

    def __init__(self, source: str, name: str, params: dict[str, Any], sizing: Sizing, symbol: str) -> None:
        self.name = name
        context = mp.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=serve, args=(source, name, params, sizing, symbol, child),
                                        daemon=True, name=f"strategy {name}")
        self._process.start()
        child.close()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def started(self, load_limit: float) -> None:
        """Wait until the strategy module is loaded; StrategyFailed if it fails or takes too long."""
        self._answer(START_LIMIT + load_limit, "loading")

    def warm(self, rows: list[BarRow], positions: list[float], equity: float, limit: float) -> None:
        self._conn.send(("warm", rows, positions, equity))
        self._answer(limit, f"warming up on {len(rows)} bars")

    def decide(self, row: BarRow, position: float, equity: float, limit: float) -> list[Intent]:
        self._conn.send(("bar", row, position, equity))
        return self._answer(limit, "deciding on a bar")

    def _answer(self, limit: float, doing: str) -> list[Intent]:
        deadline = time.monotonic() + limit
        while not self._conn.poll(0.05):
            if not self._process.is_alive():
                from terminal.backtest.runner import _ended

                self.stop()
                raise StrategyFailed(f"{self.name}: {_ended(self._process.exitcode)}")
            if time.monotonic() > deadline:
                self.stop()
                raise StrategyFailed(f"{self.name} took more than {limit:g} s {doing} (does it loop forever?); "
                                     "its worker was stopped")
        try:
            kind, payload = self._conn.recv()
        except (EOFError, OSError):
            self.stop()
            raise StrategyFailed(f"{self.name}: its worker process ended") from None
        if kind == "error":
            self.stop()
            raise StrategyFailed(f"{self.name}: {payload}")
        return list(payload)

    def stop(self) -> None:
        if self._process.is_alive():
            self._process.kill()
        self._process.join(timeout=5)
        self._conn.close()
