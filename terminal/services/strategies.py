"""Strategies trading live or on the simulator: a worker per strategy, every order through the order service.

A run takes the broker's 5-second bars of its instrument, builds its own bars from them (5 s to
1 hour), and after each closed bar asks its worker (``terminal.backtest.live``) what to do. Each
answer becomes a market order with the run's identity — client order id ``<run>-<bar>-<n>``,
source ``strategy <name>`` — placed through ``OrderService.place``: the same qualification, risk
rules, kill switch, write-ahead record and reconciliation as an order from the ticket. The user's
yes to starting the run is the confirmation of its orders (``ConfirmationPolicy.check_strategy_start``).

What a run holds is its own: its position and P&L come from the fills of its orders only, read
from the store, so they survive a restart of the terminal and of the broker. A run that was
running when the terminal ended is *interrupted*, never restarted behind the trader's back; Resume
warms a new worker on the bars the run had seen (each with the position it held then) and goes on.
A bar whose orders were already sent before a crash sends nothing again: their ids are known.

``compare`` re-runs the run's strategy as a backtest over exactly the bars it saw and sets the two
side by side: missed and extra trades, slippage per fill (``terminal.domain.journal.compare``).
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from terminal.backtest.api import Sizing
from terminal.backtest.live import BarRow, LiveWorker, StrategyFailed
from terminal.backtest.loader import StrategyError, coerce_params, read_declaration
from terminal.backtest.runner import LOAD_TIME_LIMIT, result_to_json
from terminal.broker.base import Broker, BrokerError
from terminal.domain import (
    Bar,
    BarSize,
    DomainError,
    Fill,
    Instrument,
    Order,
    OrderRejected,
    OrderSide,
    OrderType,
)
from terminal.domain.journal import Comparison, backtest_round_trips, compare, fill_round_trips
from terminal.services.backtests import BacktestService
from terminal.services.confirmation import ConfirmationPolicy
from terminal.services.history import HistoryService
from terminal.services.log import LogService
from terminal.services.market import MarketService, UnknownSymbol
from terminal.services.orders import OrderService
from terminal.services.signal import Signal
from terminal.store import RUN_ID_PREFIX, LiveRunRecord, Store, run_id_of

LIVE_BAR_SIZES = (BarSize.SEC_5, BarSize.MIN_1, BarSize.MIN_5, BarSize.MIN_15, BarSize.HOUR_1)
FEED_SECONDS = 5  # the broker's real-time bars
WARMUP_LIMIT = 120.0  # seconds the warm-up may take
RUNNING, STOPPED, FAILED, INTERRUPTED = "running", "stopped", "failed", "interrupted"


class BarBuilder:
    """Bars of ``seconds`` from the broker's 5-second bars; a bar is closed by its last 5-second part (or, after a
    gap, by the first part of a later bar). The first bar is taken whole only: a start mid-bar waits for the next."""

    def __init__(self, seconds: int, after_ns: int = 0) -> None:
        self.seconds = seconds
        self._after_ns = after_ns  # bars starting before this are not built (already decided on)
        self._open: list[float] | None = None  # [start s, o, h, l, c, v]

    def add(self, bar: Bar) -> list[BarRow]:
        t = int(bar.time.timestamp())
        start = t - t % self.seconds
        done: list[BarRow] = []
        if self._open is not None and start != self._open[0]:
            done.append(self._row())
            self._open = None
        if self._open is None:
            if t != start or start * 1_000_000_000 < self._after_ns:
                return done  # joined mid-bar, or a bar already decided on
            self._open = [start, bar.open, bar.high, bar.low, bar.close, bar.volume]
        else:
            o = self._open
            o[2], o[3], o[4], o[5] = max(o[2], bar.high), min(o[3], bar.low), bar.close, o[5] + bar.volume
        if t + FEED_SECONDS >= start + self.seconds:
            done.append(self._row())
            self._open = None
        return done

    def _row(self) -> BarRow:
        o = self._open
        assert o is not None
        self._after_ns = (int(o[0]) + self.seconds) * 1_000_000_000
        return (int(o[0]) * 1_000_000_000, o[1], o[2], o[3], o[4], o[5])


@dataclass
class LiveRun:
    """One strategy run as the terminal holds it (the stored record plus what is going on now)."""

    record: LiveRunRecord
    instrument: Instrument
    bar_size: BarSize
    fills: list[Fill] = field(default_factory=list)
    bars: int = 0  # bars decided on since this worker started
    orders: int = 0
    rejected: int = 0
    last_bar: datetime | None = None
    last_close: float = math.nan
    worker: LiveWorker | None = None
    builder: BarBuilder | None = None
    queue: asyncio.Queue | None = None
    task: asyncio.Task | None = None
    deciding: bool = False  # a bar is being decided on and its orders placed
    halting: bool = False

    @property
    def run_id(self) -> str:
        return self.record.run_id

    @property
    def status(self) -> str:
        return self.record.status

    @property
    def prefix(self) -> str:
        return f"{self.run_id}-"

    @property
    def position(self) -> float:
        return sum(f.signed_quantity for f in self.fills)

    def pnl(self, mark: float | None = None) -> float:
        """Realized plus unrealized (marked at ``mark``, else the last close), after commission."""
        price = self.last_close if mark is None else mark
        cash = sum(-f.signed_quantity * f.price - f.commission for f in self.fills)
        held = self.position
        return cash + (held * price if held and math.isfinite(price) else 0.0)

    def describe(self) -> str:
        r = self.record
        params = ", ".join(f"{k}={v}" for k, v in r.params.items())
        size = f"{r.units:g} units" if r.units else "95 % of its capital"
        return (f"{r.strategy}({params}) on {r.symbol}, {self.bar_size.short} bars, capital "
                f"{r.capital:,.0f}, positions of {size}")


class LiveStrategies:
    """Start, stop, resume and compare strategies trading through the session's order service."""

    def __init__(self, store: Store, orders: OrderService, market: MarketService, history: HistoryService,
                 backtests: BacktestService, confirmation: ConfirmationPolicy, log: LogService,
                 broker: Callable[[], Broker], account: Callable[[], str] = lambda: "") -> None:
        self._store = store
        self._orders = orders
        self._market = market
        self._history = history
        self._backtests = backtests
        self._confirmation = confirmation
        self._log = log
        self._broker = broker
        self._account = account
        self.runs: dict[str, LiveRun] = {}
        self.changed: Signal[LiveRun] = Signal("strategies.changed")
        self.decision_limit = 10.0  # seconds a strategy may take on one bar
        self.load_limit = LOAD_TIME_LIMIT
        orders.fill_added.connect(self._on_fill)
        orders.order_changed.connect(self._on_order)

    # --- the store ---------------------------------------------------------------------------------
    async def load(self) -> None:
        """The stored runs. One still marked running was so when the terminal ended: it is interrupted."""

        def read() -> list[LiveRun]:  # one trip off the loop at start-up: the runs, their instruments, their fills
            records = [r for r in self._store.live_runs.all() if r.run_id not in self.runs]
            known = self._store.instruments.by_keys(r.instrument_key for r in records)
            fills = fills_by_run(self._store) if records else {}
            return [LiveRun(r, known.get(r.instrument_key) or Instrument(r.symbol), BarSize(r.bar_size),
                            fills=fills.get(r.run_id, [])) for r in records]

        for run in await asyncio.to_thread(read):
            self.runs[run.run_id] = run
            if run.status == RUNNING:  # the terminal died under it
                await self._set(run, INTERRUPTED, "the terminal ended while it ran; Resume goes on from here")
            if run.status == INTERRUPTED:  # said at every start until the trader resumes or stops it
                self._log.warning("strategy", f"{run.describe()} was interrupted when the terminal ended, holding "
                                              f"{run.position:g} {run.record.symbol}: resume or stop it in the "
                                              "Strategies dock")

    async def _set(self, run: LiveRun, status: str, message: str = "") -> None:
        run.record.status, run.record.message = status, message
        stopped = datetime.now(UTC).isoformat() if status != RUNNING else ""
        await asyncio.to_thread(self._store.live_runs.set_status, run.run_id, status, message, stopped)
        self.changed.emit(run)

    # --- start, resume, stop -----------------------------------------------------------------------
    async def start(self, strategy: str, source: str, raw_params: dict[str, Any], symbol: str,
                    bar_size: BarSize | str = BarSize.MIN_1, units: float = 0.0, capital: float = 100_000.0,
                    warmup_bars: int = 200, confirmed: bool = False) -> LiveRun:
        """Start ``strategy`` trading ``symbol``; every value is checked before anything starts. Raises
        DomainError (what is wrong) or ConfirmationRequired (ask the user, then call again confirmed)."""
        try:
            params = coerce_params(read_declaration(source, strategy), raw_params)
        except StrategyError as exc:
            raise DomainError(f"strategy {strategy}: {exc}") from None
        size = BarSize.parse(bar_size) if isinstance(bar_size, str) else bar_size
        if size not in LIVE_BAR_SIZES:
            raise DomainError(f"a live strategy decides on bars of {', '.join(b.short for b in LIVE_BAR_SIZES)}, "
                              f"not {size.short}")
        if not (math.isfinite(capital) and capital > 0):
            raise DomainError(f"capital {capital:g} is not valid: give the money the strategy sizes from (> 0)")
        if not (math.isfinite(units) and units >= 0):
            raise DomainError(f"units {units:g} is not valid: give a position size > 0, or 0 to size from capital")
        if not 0 <= warmup_bars <= 20_000:
            raise DomainError(f"warm-up of {warmup_bars} bars is not valid: give 0 to 20000")
        try:
            instrument = await self._market.qualify(symbol)
        except (UnknownSymbol, BrokerError) as exc:
            raise DomainError(f"{symbol} is not known at the broker: {exc}") from None
        self._check_free(instrument)
        record = LiveRunRecord(f"{RUN_ID_PREFIX}{int(time.time()):x}{secrets.token_hex(2)}", strategy, source, params,
                               instrument.symbol, size.value, capital, units, instrument.key,
                               started=datetime.now(UTC).isoformat(), account=self._account())
        run = LiveRun(record, instrument, size)
        self._confirmation.check_strategy_start(run.describe(), confirmed)
        await asyncio.to_thread(self._store.live_runs.add, record)
        self.runs[record.run_id] = run
        warm = await self._history_rows(instrument, size, warmup_bars)
        await self._launch(run, warm, [0.0] * len(warm), store_warm=True)
        return run

    async def resume(self, run_id: str, confirmed: bool = False) -> LiveRun:
        """Go on with an interrupted, stopped or failed run: a new worker, warmed on the bars it had seen."""
        run = self._run(run_id)
        if run.status == RUNNING:
            raise DomainError(f"{run.describe()} is running")
        self._check_free(run.instrument)
        self._confirmation.check_strategy_start(f"Resume {run.describe()}, holding {run.position:g}", confirmed)
        stored = await asyncio.to_thread(self._store.live_runs.bars, run_id)
        rows = [(int(b["time"]), b["open"], b["high"], b["low"], b["close"], b["volume"]) for b in stored]
        run.fills = await asyncio.to_thread(self._store.fills.list, ref_prefix=run.prefix)
        await self._launch(run, rows, [float(b["position"]) for b in stored], store_warm=False)
        return run

    def _check_free(self, instrument: Instrument) -> None:
        busy = [r for r in self.runs.values() if r.status == RUNNING and r.instrument.key == instrument.key]
        if busy:
            raise DomainError(f"{busy[0].describe()} already trades {instrument.display_name}; stop it first "
                              "(one strategy per instrument keeps each position its own)")

    async def _launch(self, run: LiveRun, warm: list[BarRow], positions: list[float], store_warm: bool) -> None:
        r = run.record
        sizing = Sizing(units=r.units) if r.units else Sizing(percent=0.95)
        try:
            run.worker = await asyncio.to_thread(LiveWorker, r.source, r.strategy, r.params, sizing, r.symbol)
            await asyncio.to_thread(run.worker.started, self.load_limit)
            await asyncio.to_thread(run.worker.warm, warm, positions, r.capital + run.pnl(), WARMUP_LIMIT)
        except StrategyFailed as exc:
            await self._fail(run, str(exc))
            raise DomainError(str(exc)) from None
        if store_warm:
            await asyncio.to_thread(self._store.live_runs.add_bars, run.run_id, warm, positions, True)
        after = warm[-1][0] + run.bar_size.seconds * 1_000_000_000 if warm else 0
        run.builder = BarBuilder(run.bar_size.seconds, after)
        run.queue = asyncio.Queue()
        run.bars = 0
        await self._set(run, RUNNING)
        run.task = asyncio.get_running_loop().create_task(self._consume(run), name=f"strategy {run.run_id}")
        await self._market.subscribe(run.instrument)  # a quote for the risk checks' reference price
        await self._broker().subscribe_bars(run.instrument)
        self._log.info("strategy", f"started {run.describe()} (run {run.run_id}, warmed on {len(warm)} bars)")

    async def stop(self, run_id: str, flatten: bool = False, confirmed: bool = False) -> Order | None:
        """Stop the run's worker; with ``flatten``, cancel its working orders and close its position (asked like a
        close). Returns the closing order, if one was sent. The position stays otherwise, as the trader's."""
        run = self._run(run_id)
        closing = None
        if flatten and run.position:
            self._confirmation.check_new([self._closing(run, run.position)], confirmed)
        await self._halt(run)
        if run.status in (RUNNING, INTERRUPTED):  # an interrupted run stopped is no longer said at every start
            await self._set(run, STOPPED, "stopped by the trader")
        if flatten:
            for order in [o for o in self._orders.working() if o.client_order_id.startswith(run.prefix)]:
                await self._orders.cancel_and_wait(order, 5.0, f"stop and flatten {run.run_id}")
            held = run.position  # what is left once its working orders are done (filled on the way, or cancelled)
            closing = self._closing(run, held) if held else None
            if closing is not None:
                closing = await self._orders.place(closing, confirmed=True)
        self._log.info("strategy", f"stopped {run.describe()}, holding {run.position:g}")
        return closing

    @staticmethod
    def _closing(run: LiveRun, held: float) -> Order:
        return Order(run.instrument, OrderSide.SELL if held > 0 else OrderSide.BUY, abs(held), OrderType.MARKET,
                     client_order_id=f"{run.prefix}flat-{secrets.token_hex(2)}", source=f"strategy {run.record.strategy}")

    async def shutdown(self) -> None:
        """The terminal is closing: every running run is interrupted (resumed only by the trader)."""
        for run in list(self.runs.values()):
            if run.status == RUNNING:
                await self._halt(run)
                await self._set(run, INTERRUPTED, "the terminal was closed while it ran; Resume goes on from here")

    async def _halt(self, run: LiveRun) -> None:
        """End the run's task and worker. A bar being decided on is finished first (its orders placed): a
        place cut off half way would leave an order recorded and perhaps sent, with nobody waiting for it."""
        run.halting = True
        deadline = time.monotonic() + self.decision_limit + 15.0
        while run.deciding and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if run.task is not None:
            run.task.cancel()
            await asyncio.gather(run.task, return_exceptions=True)
            run.task = None
        run.halting = False
        if run.worker is not None:
            await asyncio.to_thread(run.worker.stop)
            run.worker = None

    async def _fail(self, run: LiveRun, message: str) -> None:
        if run.worker is not None:
            await asyncio.to_thread(run.worker.stop)
            run.worker = None
        await self._set(run, FAILED, message)
        self._log.error("strategy", f"{message}: stopped run {run.run_id}; its position of {run.position:g} "
                                    f"{run.record.symbol} is still open")

    def _run(self, run_id: str) -> LiveRun:
        run = self.runs.get(run_id)
        if run is None:
            raise DomainError(f"no strategy run {run_id!r}; the Strategies dock lists them")
        return run

    # --- bars and decisions --------------------------------------------------------------------------
    async def _history_rows(self, instrument: Instrument, size: BarSize, count: int) -> list[BarRow]:
        if count <= 0:
            return []
        try:
            frame = await self._history.bars(instrument, size)
        except (BrokerError, DomainError) as exc:
            self._log.warning("strategy", f"no history to warm up on ({exc}); starting cold")
            return []
        now = pd.Timestamp.now(tz="UTC")
        frame = frame[frame.index + pd.Timedelta(seconds=size.seconds) <= now].tail(count)
        return [(int(t.value), float(r.open), float(r.high), float(r.low), float(r.close), float(r.volume))
                for t, r in zip(frame.index, frame.itertuples(), strict=True)]

    def on_bar(self, instrument: Instrument, bar: Bar) -> None:
        """A 5-second bar from the broker (the session passes every one)."""
        for run in self.runs.values():
            if run.status == RUNNING and run.instrument.key == instrument.key and run.builder and run.queue:
                for row in run.builder.add(bar):
                    run.queue.put_nowait(row)

    async def _consume(self, run: LiveRun) -> None:
        assert run.queue is not None
        while True:
            row = await run.queue.get()
            if run.halting:
                return
            run.deciding = True
            try:
                await self._decide(run, row)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug here must not leave a run that looks alive and decides nothing
                run.task = None
                await self._fail(run, f"the terminal could not act on its bar: {exc}")
            finally:
                run.deciding = False
            if run.status != RUNNING:
                return

    def _working(self, run: LiveRun) -> float:
        """What its working entries will add (its exits are no new position: they close what is held)."""
        return sum(o.side.sign * o.remaining for o in self._orders.orders.values()
                   if o.client_order_id.startswith(run.prefix) and o.status.is_working and not o.parent_ref)

    def _exits(self, run: LiveRun) -> list[Order]:
        return [o for o in self._orders.working() if o.client_order_id.startswith(run.prefix) and o.parent_ref]

    async def _decide(self, run: LiveRun, row: BarRow) -> None:
        assert run.worker is not None
        # What its orders hold, and what its working ones will: a bar must not send again what is on its way.
        position = run.position + self._working(run)
        run.last_close = row[4]
        equity = run.record.capital + run.pnl(row[4])
        try:
            intents = await asyncio.to_thread(run.worker.decide, row, position, equity, self.decision_limit)
        except StrategyFailed as exc:
            run.worker = None
            run.task = None  # this task: it ends after this bar
            await self._fail(run, str(exc))
            return
        await asyncio.to_thread(self._store.live_runs.add_bars, run.run_id, [row], [position], False)
        run.bars += 1
        run.last_bar = datetime.fromtimestamp(row[0] / 1e9, UTC)
        epoch = row[0] // 1_000_000_000
        if intents:  # a new order cancels the exits still working: they belong to the position it changes
            for exit_order in self._exits(run):
                await self._orders.cancel_and_wait(exit_order, 5.0, f"run {run.run_id}: a new order")
        for n, intent in enumerate(intents):
            key = f"{run.prefix}{epoch}-{n}"
            if key in self._orders.orders:
                continue  # sent before a restart: never twice
            if intent.symbol != run.record.symbol:
                run.rejected += 1
                run.record.message = f"an order in {intent.symbol} was not sent: this run trades {run.record.symbol}"
                self._log.error("strategy", f"run {run.run_id}: {run.record.message}")
                continue
            quantity = math.floor(intent.quantity)
            if quantity <= 0:
                continue
            order = Order(run.instrument, OrderSide(intent.side), quantity, OrderType.MARKET, client_order_id=key,
                          source=f"strategy {run.record.strategy}")
            try:
                if intent.stop is None and intent.target is None:
                    await self._orders.place(order, confirmed=True)  # confirmed when the run was started
                else:
                    await self._orders.place_group(order, _exit_orders(order, intent), confirmed=True)
                run.orders += 1
            except (OrderRejected, BrokerError) as exc:
                run.rejected += 1
                run.record.message = f"order refused: {exc}"
                self._log.warning("strategy", f"run {run.run_id}: {order.describe()} refused: {exc}")
        self.changed.emit(run)

    def _run_of(self, client_order_id: str) -> LiveRun | None:
        """The run an order belongs to, by its id (``<run>-…``): one lookup per order event, however many runs."""
        run_id = run_id_of(client_order_id)
        return self.runs.get(run_id) if run_id else None

    def _on_fill(self, fill: Fill) -> None:
        run = self._run_of(fill.client_order_id)
        if run is not None and all(f.execution_id != fill.execution_id for f in run.fills):
            run.fills.append(fill)
            self.changed.emit(run)

    def _on_order(self, order: Order) -> None:
        run = self._run_of(order.client_order_id)
        if run is not None:
            self.changed.emit(run)

    # --- live against backtest ------------------------------------------------------------------------
    async def compare(self, run_id: str) -> tuple[Comparison, str, int]:
        """Re-run the strategy as a backtest over the bars the run saw (saved, so it is in the results and the
        journal) and match its trades after the run's start to the run's own round trips within one bar."""
        run = self._run(run_id)
        return await compare_live_run(self._store, self._backtests, run.record, run.bar_size)


def fills_by_run(store: Store) -> dict[str, list[Fill]]:
    """Every live run's fills, by run id, in one query (its orders' ids start with the run's)."""
    fills: dict[str, list[Fill]] = defaultdict(list)
    for fill in store.fills.list(ref_prefix=RUN_ID_PREFIX):
        fills[run_id_of(fill.client_order_id) or ""].append(fill)
    return fills


def _exit_orders(parent: Order, intent: Any) -> list[Order]:
    """The stop and target of a strategy's order as a bracket's exits (``<id>-tp`` limit, ``<id>-sl`` stop, one
    cancelling the other; IB activates them once the entry fills)."""
    ins = parent.instrument
    common: dict[str, Any] = {"time_in_force": parent.time_in_force, "oca_group": f"oca-{parent.client_order_id}",
              "source": parent.source, "parent_ref": parent.client_order_id}
    exits = []
    if intent.target is not None:
        exits.append(Order(ins, parent.side.opposite, parent.quantity, OrderType.LIMIT,
                           limit_price=ins.round_to_tick(intent.target), client_order_id=f"{parent.client_order_id}-tp",
                           **common))
    if intent.stop is not None:
        exits.append(Order(ins, parent.side.opposite, parent.quantity, OrderType.STOP,
                           stop_price=ins.round_to_tick(intent.stop), client_order_id=f"{parent.client_order_id}-sl",
                           **common))
    return exits


async def compare_live_run(store: Store, backtests: BacktestService, record: LiveRunRecord,
                           bar_size: BarSize) -> tuple[Comparison, str, int]:
    """See ``LiveStrategies.compare``; the store alone is enough (the CLI calls this)."""
    stored = await asyncio.to_thread(store.live_runs.bars, record.run_id)
    live = [b for b in stored if not b["warmup"]]
    if not live:
        raise DomainError(f"run {record.run_id} has decided on no bar yet; nothing to compare")
    index = pd.to_datetime([b["time"] for b in stored], utc=True)
    frame = pd.DataFrame({k: [float(b[k]) for b in stored] for k in ("open", "high", "low", "close", "volume")},
                         index=index)
    request = backtests.request(record.source, record.strategy, {record.symbol: frame}, record.params,
                                engine="backtrader", cash=record.capital, units=record.units, bar_size=bar_size)
    result = await backtests.run(request)
    if not result.ok:
        raise DomainError(f"the backtest of run {record.run_id} failed: {result.error}")
    run_id = await backtests.record(request, result)
    first = pd.Timestamp(live[0]["time"], tz="UTC")
    trades = result_to_json(result)["trades"]
    backtest = [t for t in backtest_round_trips(run_id, record.strategy, trades) if t.entry_time > first]
    fills = await asyncio.to_thread(store.fills.list, ref_prefix=f"{record.run_id}-")
    # A trade entered after the last bar's close (on the run's last decision) is beyond the backtest's bars.
    horizon = pd.Timestamp(live[-1]["time"], tz="UTC") + pd.Timedelta(seconds=bar_size.seconds)
    trips = fill_round_trips(fills)
    actual = [t for t in trips if t.entry_time < horizon]
    beyond = f"; {len(trips) - len(actual)} entered after its last bar, not compared" if len(actual) < len(trips) \
        else ""
    what = (f"live run {record.run_id} ({record.strategy} on {record.symbol}, {len(live)} bars from "
            f"{first:%Y-%m-%d %H:%M:%S} UTC, {len(actual)} round trips{beyond}) against its backtest, run {run_id} "
            f"({len(backtest)} trades after the start; one open at the end is marked at the last close), "
            "matched within one bar")
    return compare(backtest, actual, bar_size.seconds), what, run_id
