"""Backtest service: strategies (built-in, stored, files), their checks, the data a run needs, runs in
worker processes, optimizations, and the record of every run. The editor, the optimizer, the results
dock and the CLI all go through it.

User strategy code never runs in this process: parameters are read from the source's syntax tree,
and the check on save, every run and every grid point load the module in a worker under a time limit.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from terminal.backtest.api import Sizing
from terminal.backtest.engine_choice import ENGINE_CHOICES, choose_engine
from terminal.backtest.loader import (
    Declaration,
    Problem,
    StrategyError,
    check_strategy_source,
    coerce_params,
    read_declaration,
    template_names,
    template_source,
)
from terminal.backtest.optimize import (
    OptimizationAborted,
    OptimizationCancelled,
    WalkForward,
    best_row,
    grid,
    heatmap,
    optimize,
    parse_values,
    rank,
    suggest_values,
    walk_forward,
)
from terminal.backtest.paths import flag_trades
from terminal.backtest.paths import summary as paths_summary
from terminal.backtest.runner import (
    LOAD_TIME_LIMIT,
    BacktestRequest,
    BacktestResult,
    Cancelled,
    check_in_worker,
    result_to_json,
    run_in_worker,
)
from terminal.domain import BarSize, DomainError, Provenance
from terminal.domain.provenance import data_warning, weakest
from terminal.services.history import HistoryService
from terminal.services.journal import JournalService
from terminal.services.signal import Signal
from terminal.store import Store

MAX_COST_FRACTION = 0.1  # commission or slippage of 10 % of a trade's value is a typo, not a cost model


class MissingBars(DomainError):
    """No stored bars of a symbol in a run's range: the CLI fetches them, the GUI offers to."""

    def __init__(self, symbol: str, bar_size: BarSize, first: pd.Timestamp | None, last: pd.Timestamp | None) -> None:
        where = "" if first is None and last is None else " in that range"
        super().__init__(f"no stored {bar_size.short} bars of {symbol}{where}: fetch them ('quant-terminal backfill "
                         f"{symbol} --bar-size {bar_size.short} --from YYYY-MM-DD'), open its chart or import a CSV")
        self.symbol = symbol
        self.bar_size = bar_size
        self.first = first
        self.last = last


class BacktestService:
    def __init__(self, store: Store, history: HistoryService | None = None,
                 load_time_limit: float = LOAD_TIME_LIMIT, journal: JournalService | None = None) -> None:
        self._store = store
        self._history = history or HistoryService(None, store)
        self.journal = journal or JournalService(store)  # every saved run's trades are journaled
        self.load_time_limit = load_time_limit  # seconds a strategy module may spend loading, in its worker
        self.run_recorded: Signal[int] = Signal("backtests.run_recorded")  # the id of a run just saved

    @property
    def store(self) -> Store:
        return self._store

    # --- strategies ------------------------------------------------------------------------------
    @staticmethod
    def templates() -> list[str]:
        return template_names()

    async def open(self, name: str) -> tuple[str, dict[str, Any]] | None:
        """The newest saved version of ``name`` (source and saved parameters), else the built-in template."""
        stored = await asyncio.to_thread(self._store.strategies.latest, name)
        if stored is not None:
            return stored.source, dict(stored.params)
        if name in template_names():
            return template_source(name), {}
        return None

    async def resolve(self, reference: str) -> tuple[str, str]:
        """A strategy named on the command line: a .py file, a stored strategy, or a built-in."""
        path = Path(reference)
        if path.suffix == ".py":
            if path.is_dir() or not path.exists():
                raise DomainError(f"strategy file {reference} does not exist")
            try:
                return path.stem, path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise DomainError(f"cannot read strategy file {reference}: {exc}") from None
        opened = await self.open(reference)
        if opened is None:
            raise DomainError(f"no strategy {reference!r}: not a .py file, a built-in ({', '.join(template_names())}) "
                              "or a stored strategy")
        return reference, opened[0]

    @staticmethod
    def template_source(name: str) -> str:
        return template_source(name)

    @staticmethod
    def static_problems(source: str, name: str = "strategy") -> list[Problem]:
        """Syntax, a Strategy subclass, readable params: what can be told without running the module."""
        return check_strategy_source(source, name)

    @staticmethod
    def coerce(source: str, name: str, raw_params: dict[str, Any]) -> dict[str, Any]:
        """Parameter values typed and checked against the source's declaration (StrategyError names the one)."""
        return coerce_params(read_declaration(source, name), raw_params)

    @staticmethod
    def declaration(source: str, name: str = "strategy") -> Declaration:
        """Parameters and limits as the source declares them (read, never run)."""
        return read_declaration(source, name)

    async def check(self, source: str, name: str = "strategy") -> list[Problem]:
        """Static checks, then the module loaded in a worker (its module-level code runs there)."""
        return await asyncio.to_thread(check_in_worker, source, name, self.load_time_limit)

    async def save(self, name: str, source: str, raw_params: dict[str, Any]) -> Any:
        """A new version of the strategy with these parameters; StrategyError when they do not fit."""
        name = name.strip()
        if not name:
            raise DomainError("give the strategy a name")
        params = coerce_params(read_declaration(source, name), raw_params)
        return await asyncio.to_thread(self._store.strategies.save, name, source, params)

    # --- data ------------------------------------------------------------------------------------
    async def frames(self, symbols: Iterable[str], bar_size: BarSize | str, start: str | None = None,
                     end: str | None = None) -> dict[str, pd.DataFrame]:
        """Stored bars of each symbol in the range (aggregated from finer stored bars when needed); pairs are
        aligned on their common times. Each frame's ``attrs["provenance"]`` says where its bars came from
        (``frames_provenance`` reads them back)."""
        size = bar_size if isinstance(bar_size, BarSize) else BarSize.parse(bar_size)
        first = parse_day(start, "from") if start else None
        last = parse_day(end, "to") if end else None
        if first is not None and last is not None and first > last:
            raise DomainError(f"the range is reversed: from {first:%Y-%m-%d} is after to {last:%Y-%m-%d}")
        frames: dict[str, pd.DataFrame] = {}
        for symbol in [s.strip().upper() for s in symbols if s.strip()]:
            found = await asyncio.to_thread(self._store.instruments.find_symbol, symbol)
            frame = await self._history.stored_or_aggregated(found[0], size) if found else pd.DataFrame()
            if not frame.empty:
                if first is not None:
                    frame = frame[frame.index >= first]
                if last is not None:
                    frame = frame[frame.index < last + pd.Timedelta(days=1)]
            if frame.empty:
                raise MissingBars(symbol, size, first, last)
            frame = frame.copy()
            frame.attrs["provenance"] = (await asyncio.to_thread(_stored_provenance, self._store, found[0], size,
                                                                 frame)).value
            frames[symbol] = frame
        if not frames:
            raise DomainError("enter at least one symbol")
        if len(frames) > 1:
            common = sorted(set.intersection(*(set(f.index) for f in frames.values())))
            if not common:
                raise DomainError(f"{' and '.join(frames)} have no bar times in common")
            frames = {s: f.loc[common] for s, f in frames.items()}
        return frames

    @staticmethod
    def frames_provenance(frames: dict[str, pd.DataFrame]) -> Provenance:
        """Where the bars of a run came from, as one value (simulated or unknown wins: see ``weakest``)."""
        return weakest(Provenance.parse(f.attrs.get("provenance")) for f in frames.values())

    @staticmethod
    def data_warning(provenance: Provenance | str) -> str:
        """The note a run on such bars carries ("synthetic data (simulator) …"); empty for real data."""
        return data_warning(Provenance.parse(provenance))

    # --- runs ------------------------------------------------------------------------------------
    def request(self, source: str, name: str, frames: dict[str, pd.DataFrame], raw_params: dict[str, Any],
                engine: str = "backtrader", cash: float = 100_000.0, commission: float = 0.0,
                slippage: float = 0.0, units: float = 0.0, time_limit: float = 300.0,
                bar_size: BarSize = BarSize.DAY_1) -> BacktestRequest:
        """The run these settings describe, every value checked before anything starts."""
        declaration = read_declaration(source, name)
        params = coerce_params(declaration, raw_params)
        if engine not in ENGINE_CHOICES:
            raise DomainError(f"engine {engine!r} is not known; use one of {', '.join(ENGINE_CHOICES)}")
        self._choose(declaration, engine, frames, 1)  # a named engine that cannot run it is refused now
        _check_positive("cash", cash)
        _check_fraction("commission", commission)
        _check_fraction("slippage", slippage)
        if not math.isfinite(units) or units < 0:
            raise DomainError(f"units {units:g} is not valid: give a position size > 0, or 0 to size from equity")
        _check_positive("time limit", time_limit)
        periods = 252 if bar_size is BarSize.DAY_1 else 252 * 6.5 * 3600 / bar_size.seconds
        return BacktestRequest(source, frames, name, params, engine, cash, commission, slippage,
                               Sizing(units=units) if units else Sizing(percent=0.95), time_limit,
                               periods_per_year=periods, data_provenance=self.frames_provenance(frames).value)

    @staticmethod
    def _choose(declaration: Declaration, engine: str, frames: dict[str, pd.DataFrame], runs: int) -> Any:
        bars = len(next(iter(frames.values()))) if frames else 0
        try:
            return choose_engine(engine, declaration, len(frames), bars, runs)
        except ValueError as exc:
            raise DomainError(str(exc)) from None

    def with_engine(self, request: BacktestRequest, runs: int = 1) -> BacktestRequest:
        """The request with its engine settled for ``runs`` runs (``auto`` resolved, and why; see engine_choice)."""
        if request.engine_reason:
            return request
        choice = self._choose(read_declaration(request.strategy_source, request.strategy_name), request.engine,
                              request.frames, runs)
        return replace(request, engine=choice.engine, engine_reason=choice.reason)

    async def run(self, request: BacktestRequest, progress: Callable[[float], None] | None = None,
                  cancelled: Callable[[], bool] = lambda: False,
                  partial: Callable[[Any], None] | None = None) -> BacktestResult:
        """One backtest in a worker process (Cancelled when ``cancelled`` turns true). Trades whose stop and
        target both lay inside their exit bar are flagged and, where finer bars are stored, settled on them
        (``backtest/paths.py``; the notes say how many)."""
        on_loop = None
        if partial is not None:  # the worker's chunks arrive on the supervising thread: handed to the loop
            loop = asyncio.get_running_loop()

            def on_loop(payload: Any) -> None:
                loop.call_soon_threadsafe(partial, payload)

        result = await asyncio.to_thread(run_in_worker, self.with_engine(request), progress, cancelled,
                                         self.load_time_limit, on_loop)
        if result.ok and any(t.get("stop") is not None and t.get("target") is not None for t in result.trades):
            result = await asyncio.to_thread(self._flag_paths, request, result)
        return result

    def _flag_paths(self, request: BacktestRequest, result: BacktestResult) -> BacktestResult:
        trades = []
        for symbol, frame in request.frames.items():
            mine = [t for t in result.trades if t["symbol"] == symbol]
            trades += flag_trades(mine, frame, self._finer_bars(symbol, frame))
        line = paths_summary(trades)
        return replace(result, trades=trades, notes=f"{result.notes} {line}".strip() if line else result.notes)

    def _finer_bars(self, symbol: str, frame: pd.DataFrame) -> Callable[[pd.Timestamp, pd.Timestamp],
                                                                         list[tuple[str, pd.DataFrame]]]:
        """Stored bars of ``symbol`` finer than the run's, coarsest first, for a bar's span."""
        spacing = (frame.index[1:] - frame.index[:-1]).min().total_seconds() if len(frame) > 1 else 86_400.0
        keys = {i.key: i for i in self._store.instruments.find_symbol(symbol)}
        choices = sorted({(size, key) for key, size, *_ in self._store.bars.summary()
                          if key in keys and size.seconds < spacing}, key=lambda pair: -pair[0].seconds)

        def finer(start: pd.Timestamp, end: pd.Timestamp) -> list[tuple[str, pd.DataFrame]]:
            return [(size.short, self._store.bars.load_frame(keys[key], size, start.to_pydatetime(),
                                                             end.to_pydatetime()))
                    for size, key in choices]

        return finer

    async def record(self, request: BacktestRequest, result: BacktestResult) -> int:
        """Store a finished run (against the strategy's newest saved version, saved now if it has none)."""
        payload = result_to_json(result)
        payload["settings"] = {"cash": request.cash, "commission": request.commission, "slippage": request.slippage,
                               "units": request.sizing.units, "percent": request.sizing.percent,
                               "periods_per_year": request.periods_per_year}  # what a step-through re-runs with
        stored = await asyncio.to_thread(self._store.strategies.latest, request.strategy_name)
        if stored is None or stored.source != request.strategy_source:
            stored = await asyncio.to_thread(self._store.strategies.save, request.strategy_name,
                                             request.strategy_source, request.params)
        run_id = await asyncio.to_thread(self._store.backtest_runs.start, request.strategy_name, stored.version,
                                         result.engine, list(request.frames), request.params)
        await asyncio.to_thread(self._store.backtest_runs.finish, run_id, "done", payload["statistics"], payload)
        await self.journal.record_run(int(run_id), request.strategy_name, payload["trades"], request.frames)
        self.run_recorded.emit(int(run_id))
        return int(run_id)

    @staticmethod
    def run_bar_size(run: dict[str, Any]) -> BarSize:
        """The bar size a run ran on, from the spacing of its equity curve."""
        equity = run.get("equity", [])
        if len(equity) < 2:
            return BarSize.DAY_1
        spacing = (pd.Timestamp(equity[1][0]) - pd.Timestamp(equity[0][0])).total_seconds()
        return BarSize.DAY_1 if spacing >= 20 * 3600 else min(BarSize, key=lambda b: abs(b.seconds - spacing))

    async def step_through(self, run: dict[str, Any], partial: Callable[[Any], None] | None = None,
                           prepared: tuple[BacktestRequest, dict[str, pd.DataFrame]] | None = None
                           ) -> tuple[dict[str, Any], dict[str, pd.DataFrame], str]:
        """Run a saved run again in a worker, on backtrader, recording what a step-through plays (orders,
        fills, indicators per bar): its result JSON, its bars, and a warning when it did not trade the same
        as the saved run (its bars or settings changed since). ``partial`` gets the trace as the worker runs
        (``StepTrace.extend``); ``prepared`` is ``step_through_request(run)`` when the caller made it first."""
        request, frames = prepared or await self.step_through_request(run)
        result = await self.run(request, partial=partial)
        if not result.ok:
            raise DomainError(f"step-through of run {run.get('run_id')}: {result.error}")
        replayed = result_to_json(result)
        same = [(t["entry_time"], t["exit_time"], t["size"]) for t in replayed["trades"]] == \
            [(t["entry_time"], t["exit_time"], t["size"]) for t in run.get("trades", [])]
        warning = "" if same else (f"this replay made {len(replayed['trades'])} trades where the saved run "
                                   f"({run.get('engine')}) made {len(run.get('trades', []))}: its bars or "
                                   "settings changed since it was saved")
        return replayed, frames, warning

    async def step_through_request(self, run: dict[str, Any]) -> tuple[BacktestRequest, dict[str, pd.DataFrame]]:
        """The traced re-run of a saved run, and its bars (what a streaming step-through is built on)."""
        run_id = run.get("run_id")
        stored = await asyncio.to_thread(self._store.backtest_runs.get, int(run_id)) if run_id is not None else None
        if stored is None:
            raise DomainError("step-through needs a saved run; run the strategy first")
        strategy = await asyncio.to_thread(self._store.strategies.get, stored.strategy_name, stored.strategy_version)
        if strategy is None:
            raise DomainError(f"version {stored.strategy_version} of {stored.strategy_name} is not stored")
        times = pd.DatetimeIndex([t for t, _ in run["equity"]])
        frames = await self.frames(stored.symbols, self.run_bar_size(run), f"{times[0]:%Y-%m-%d}",
                                   f"{times[-1]:%Y-%m-%d}")
        frames = {s: f[(f.index >= times[0]) & (f.index <= times[-1])] for s, f in frames.items()}
        settings = run.get("settings") or {"cash": float(run["equity"][0][1])}
        sizing = Sizing(units=settings.get("units", 0.0), percent=settings.get("percent", 0.95))
        request = BacktestRequest(strategy.source, frames, stored.strategy_name, stored.params, "backtrader",
                                  settings["cash"], settings.get("commission", 0.0), settings.get("slippage", 0.0),
                                  sizing, periods_per_year=settings.get("periods_per_year", 252.0), trace=True,
                                  engine_reason="a step-through records on backtrader",
                                  data_provenance=self.frames_provenance(frames).value)
        return request, frames

    async def saved_run(self, run_id: int) -> dict[str, Any] | None:
        """One finished run as the result JSON with its ``run_id`` (None if there is none by that id)."""
        run = await asyncio.to_thread(self._store.backtest_runs.get, run_id)
        return dict(run.result, run_id=run.id) if run is not None and run.status == "done" else None

    async def saved_runs(self, limit: int = 50) -> list[dict[str, Any]]:
        """Finished runs, oldest first, as the result JSON with their ``run_id``."""
        runs = await asyncio.to_thread(self._store.backtest_runs.list, limit)
        return [dict(r.result, run_id=r.id) for r in reversed(runs) if r.status == "done"]

    # --- optimization ----------------------------------------------------------------------------
    @staticmethod
    def check_space(request: BacktestRequest, space: dict[str, Iterable[Any]]) -> None:
        """Refuse a grid too large to run, naming an undeclared parameter or a value out of its limits."""
        _ = grid(space)
        declaration = read_declaration(request.strategy_source, request.strategy_name)
        for key, values in space.items():
            if key not in declaration.params:
                raise DomainError(f"{request.strategy_name} declares no parameter {key!r} "
                                  f"({', '.join(declaration.params)})")
            for value in values:
                _ = coerce_params(declaration, {key: value})

    async def optimize(self, request: BacktestRequest, space: dict[str, Iterable[Any]], workers: int | None = None,
                       on_result: Callable[[dict[str, Any]], None] | None = None,
                       cancelled: Callable[[], bool] = lambda: False,
                       walk_forward_split: float | None = None, metric: str = "sharpe",
                       cluster: str | None = None, on_stage: Callable[[str], None] | None = None
                       ) -> pd.DataFrame | WalkForward:
        """The grid (counted and refused if too large before anything runs), after one check of the module
        in a worker so that a strategy that cannot load fails once, not at every grid point."""
        self.check_space(request, space)  # refuses an oversized grid before anything runs
        runs = len(grid(space))
        request = self.with_engine(request, runs)
        problems = await self.check(request.strategy_source, request.strategy_name)
        if problems:
            raise StrategyError(problems[0].message, problems[0].line)
        if on_stage is not None:
            on_stage(f"{runs} runs on {request.engine} ({request.engine_reason})"
                     + (f" on the cluster at {cluster}" if cluster else ""))
        if walk_forward_split is not None:
            return await asyncio.to_thread(walk_forward, request, space, walk_forward_split, metric, workers,
                                           on_result, cancelled, cluster, on_stage)
        return await asyncio.to_thread(optimize, request, space, workers, on_result, cancelled, cluster, on_stage)


def _stored_provenance(store: Store, instrument: Any, bar_size: BarSize, frame: pd.DataFrame) -> Provenance:
    """The sources of the stored bars ``frame`` was read (or aggregated) from, over its span."""
    start, end = frame.index[0].to_pydatetime(), frame.index[-1].to_pydatetime()
    found = store.bars.sources(instrument, bar_size, start, end)
    if not found:  # aggregated from a finer size: what the finer sizes hold in the span
        for finer in (b for b in BarSize if b.seconds < bar_size.seconds):
            found |= store.bars.sources(instrument, finer, start, end + pd.Timedelta(seconds=bar_size.seconds))
    return weakest(found)


def parse_day(text: str, what: str) -> pd.Timestamp:
    """A YYYY-MM-DD date as UTC midnight; DomainError that names the field otherwise."""
    value = text.strip()
    try:
        day = pd.Timestamp(value)
    except (ValueError, OverflowError):
        raise DomainError(f"{what} {value!r} is not a date; give YYYY-MM-DD") from None
    if pd.isna(day):
        raise DomainError(f"{what} {value!r} is not a date; give YYYY-MM-DD")
    return day.tz_localize("UTC") if day.tzinfo is None else day.tz_convert("UTC")


def _check_positive(what: str, value: float) -> None:
    if not math.isfinite(value) or value <= 0:
        raise DomainError(f"{what} {value:g} is not valid: give a number > 0")


def _check_fraction(what: str, value: float) -> None:
    if not math.isfinite(value) or not 0 <= value < MAX_COST_FRACTION:
        raise DomainError(f"{what} {value:g} is not valid: give a fraction of the trade's value from 0 to "
                          f"{MAX_COST_FRACTION:g} (e.g. 0.001 for 0.1 %)")



# What the research docks use from the backtest layer, so that the UI imports services only.
__all__ = [
    "BacktestRequest", "BacktestResult", "BacktestService", "Cancelled", "Declaration", "MissingBars", "OptimizationAborted",
    "OptimizationCancelled", "Problem", "StrategyError", "WalkForward", "best_row", "grid", "heatmap", "parse_day",
    "parse_values", "rank", "result_to_json", "suggest_values",
]
