"""``quant-terminal backtest`` and ``optimize``: run a built-in or stored strategy, or a .py file, on stored bars;
once, or over a grid of parameters with an optional walk-forward split."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from terminal.broker.base import BrokerError
from terminal.cli_args import iso_date, positive_float
from terminal.domain import BarSize, DomainError
from terminal.sim.process import SimulatorError


def add_backtest_parser(commands: argparse._SubParsersAction) -> None:
    bt = commands.add_parser("backtest", help="backtest a strategy on stored bars")
    _run_options(bt)
    bt.add_argument("--json", action="store_true", help="print the result as JSON")
    bt.add_argument("--save", action="store_true", help="save the run in the store")
    opt = commands.add_parser("optimize", help="grid-search a strategy's parameters on stored bars, on all cores")
    _run_options(opt)
    opt.add_argument("--grid", action="append", required=True, metavar="K=SPEC",
                     help="parameter to vary: name=start:stop:step or name=a,b,c (repeatable)")
    opt.add_argument("--metric", default="sharpe", help="statistic to rank by (default sharpe)")
    opt.add_argument("--walk-forward", type=float, metavar="SHARE",
                     help="optimize on this share of the bars (e.g. 0.7), then run the best on the rest")
    opt.add_argument("--workers", type=int, help="worker processes (default: all cores)")
    opt.add_argument("--cluster", metavar="tcp://HOST:8786",
                     help="run the grid on this Dask scheduler's workers (see quant-terminal cluster)")
    opt.add_argument("--top", type=int, default=10, help="rows to print (default 10)")
    opt.add_argument("--json", action="store_true", help="print every row as JSON")


def _run_options(bt: argparse.ArgumentParser) -> None:
    bt.add_argument("strategy", help="built-in template name, stored strategy name, or a .py file")
    bt.add_argument("--symbol", action="append", required=True, help="symbol (repeat for pairs: Y then X)")
    bt.add_argument("--from", dest="start", type=iso_date, help="first date (YYYY-MM-DD)")
    bt.add_argument("--to", dest="end", type=iso_date, help="last date (YYYY-MM-DD)")
    bt.add_argument("--bar-size", default="1D")
    bt.add_argument("--param", action="append", default=[], metavar="K=V", help="strategy parameter (repeatable)")
    bt.add_argument("--engine", choices=["auto", "vectorized", "backtrader", "backtesting"], default="auto",
                    help="auto (default): vectorized when the strategy has signals() and the work pays its start-up, "
                         "else backtrader")
    bt.add_argument("--cash", type=float, default=100_000.0)
    bt.add_argument("--commission", type=float, default=0.0, help="commission as a fraction of value, e.g. 0.001")
    bt.add_argument("--slippage", type=float, default=0.0, help="slippage as a fraction of price")
    bt.add_argument("--units", type=float, default=0.0, help="fixed position size (default: 95%% of equity)")
    bt.add_argument("--time-limit", type=positive_float, default=300.0, help="seconds before a run is stopped")


def _service(settings):  # type: ignore[no-untyped-def]
    from terminal.services.backtests import BacktestService
    from terminal.store import Store

    return BacktestService(Store.open(settings.resolved_db_url))


async def _fetch_missing(args: argparse.Namespace, settings, service, bar_size: BarSize,  # type: ignore[no-untyped-def]
                         first_missing: Exception) -> None:
    """Bars of the run's symbols are missing: backfill them over the run's range (default: the span a chart of
    that bar size shows; ``services.missing_data`` plans it, as for the GUI) from --ib or the built-in simulator,
    with a progress line on stderr."""
    from terminal.cli_backfill import connected_broker, fill_missing
    from terminal.services.backfill import BackfillService
    from terminal.services.missing_data import plan_fetch

    plan = await plan_fetch(service, args.symbol, bar_size, args.start, args.end)
    if plan is None:  # a range in the future: nothing to fetch, the run's own message says what is missing
        raise first_missing
    try:
        async with connected_broker(settings) as broker:
            await fill_missing(BackfillService(broker, service.store), plan.symbols, bar_size, plan.first_day,
                               plan.last_day, out=sys.stderr)
    except (BrokerError, SimulatorError) as exc:
        raise DomainError(f"{str(first_missing).split(':')[0]} and fetching them failed: {exc}") from None


async def _prepare(args: argparse.Namespace, service, settings):  # type: ignore[no-untyped-def]
    """The request the arguments describe; DomainError / StrategyError on bad input. Nothing of the strategy
    runs here: its parameters are read from the source."""
    name, source = await service.resolve(args.strategy)
    from terminal.services.backtests import MissingBars

    bar_size = BarSize.parse(args.bar_size)
    start, end = args.start and args.start.isoformat(), args.end and args.end.isoformat()
    try:
        frames = await service.frames(args.symbol, bar_size, start, end)
    except MissingBars as missing:
        await _fetch_missing(args, settings, service, bar_size, missing)
        frames = await service.frames(args.symbol, bar_size, start, end)
    warning = service.data_warning(service.frames_provenance(frames))
    if warning:  # said before anything runs, on stderr so that --json output stays parseable
        print(f"quant-terminal: warning: {warning}", file=sys.stderr)
    return service.request(source, name, frames, _pairs(args.param, "--param"), args.engine, args.cash,
                           args.commission, args.slippage, args.units, args.time_limit, bar_size)


def _pairs(items: list[str], flag: str) -> dict[str, str]:
    bad = [p for p in items if "=" not in p]
    if bad:
        raise DomainError(f"{flag} {bad[0]!r} must look like name=value")
    return dict(p.split("=", 1) for p in items)


def _failed(message: str) -> int:
    print(f"quant-terminal: {message}", file=sys.stderr)
    return 1


def run_backtest_command(args: argparse.Namespace, settings) -> int:  # type: ignore[no-untyped-def]
    return asyncio.run(_backtest(args, settings))


async def _backtest(args: argparse.Namespace, settings) -> int:  # type: ignore[no-untyped-def]
    from terminal.services.backtests import StrategyError, result_to_json
    from terminal.store import StoreError

    try:
        service = _service(settings)
        request = service.with_engine(await _prepare(args, service, settings))
    except (DomainError, StrategyError, StoreError, ValueError, BrokerError, SimulatorError) as exc:
        return _failed(str(exc))
    result = await service.run(request)
    if args.save and result.ok:
        await service.record(request, result)
    if args.json:
        print(json.dumps({**result_to_json(result), "engine_reason": request.engine_reason}, indent=2))
        return 0 if result.ok else 1
    if not result.ok:
        where = f" (line {result.error_line} of {request.strategy_name})" if result.error_line else ""
        return _failed(f"backtest failed: {result.error}{where}")
    frames = request.frames
    print(f"{request.strategy_name} on {', '.join(frames)} ({result.engine}, {len(next(iter(frames.values())))} bars, "
          f"{result.seconds:.2f} s, data: {request.data_provenance})")
    if args.engine == "auto":
        print(f"  engine: {request.engine_reason}")
    for key, value in result.statistics.items():
        print(f"  {key:<22} {value:>14.4f}" if isinstance(value, float) else f"  {key:<22} {value}")
    return 0


def run_optimize_command(args: argparse.Namespace, settings) -> int:  # type: ignore[no-untyped-def]
    return asyncio.run(_optimize(args, settings))


async def _optimize(args: argparse.Namespace, settings) -> int:  # type: ignore[no-untyped-def]
    from terminal.backtest.runner import plain_json
    from terminal.services.backtests import (
        OptimizationAborted,
        OptimizationCancelled,
        StrategyError,
        grid,
        parse_values,
        rank,
    )
    from terminal.store import StoreError

    try:
        from terminal.analytics.stats import STATISTIC_NAMES

        if args.metric not in STATISTIC_NAMES:
            raise DomainError(f"--metric {args.metric!r} is not a statistic; use one of {', '.join(STATISTIC_NAMES)}")
        if args.workers is not None and args.workers < 1:
            raise DomainError(f"--workers {args.workers} is not valid: give 1 or more")
        if args.top < 1:
            raise DomainError(f"--top {args.top} is not valid: give 1 or more")
        if args.walk_forward is not None and not 0.1 <= args.walk_forward <= 0.9:
            raise DomainError(f"--walk-forward {args.walk_forward:g} is not valid: give the in-sample share, "
                              "0.1 to 0.9")
        service = _service(settings)
        request = await _prepare(args, service, settings)
        declared = service.declaration(request.strategy_source, request.strategy_name).params
        space = {}
        for key, spec in _pairs(args.grid, "--grid").items():
            if key not in declared:
                raise DomainError(f"--grid {key}: {request.strategy_name} declares no such parameter "
                                  f"({', '.join(declared)})")
            try:
                space[key] = parse_values(spec, declared[key])
            except ValueError as exc:
                raise DomainError(f"--grid {key}: {exc}") from None
        service.check_space(request, space)  # size first, then each value against its limits
        total = len(grid(space))
        request = service.with_engine(request, total)
    except (DomainError, StrategyError, StoreError, ValueError, BrokerError, SimulatorError) as exc:
        return _failed(str(exc))

    done = [0]

    def stage(text: str) -> None:
        if not args.json:
            print(f"quant-terminal: {text}", file=sys.stderr, flush=True)

    def progress(_row: dict) -> None:
        done[0] += 1
        if not args.json and sys.stderr.isatty():
            print(f"\r{done[0]}/{total} runs", end="", file=sys.stderr, flush=True)

    outcome = None
    try:
        result = await service.optimize(request, space, args.workers, progress, walk_forward_split=args.walk_forward,
                                        metric=args.metric, cluster=args.cluster, on_stage=stage)
    except (DomainError, StrategyError, ValueError, OptimizationCancelled, OptimizationAborted) as exc:
        if not args.json and sys.stderr.isatty() and done[0]:
            print(file=sys.stderr)
        return _failed(str(exc))
    import pandas as pd  # here, not at the top: every command (even --help, --version) built this parser

    if isinstance(result, pd.DataFrame):
        table = result
    else:
        outcome, table = result, result.table
    if not args.json and sys.stderr.isatty():
        print(file=sys.stderr)
    if args.metric not in table:
        print(f"quant-terminal: no statistic {args.metric!r}; runs failed or the name is wrong", file=sys.stderr)
        return 1
    ranked = rank(table, args.metric)
    if args.json:
        payload = {"rows": ranked.to_dict("records"), "data_provenance": request.data_provenance,
                   "engine": request.engine, "engine_reason": request.engine_reason}
        if outcome is not None:
            payload["walk_forward"] = {"best_params": outcome.best_params, "split_time": outcome.split_time.isoformat(),
                                       "in_sample": outcome.in_sample, "out_of_sample": outcome.out_of_sample}
        print(json.dumps(plain_json(payload), indent=2))
        return 0
    columns = [*space, args.metric, *(c for c in ("total_return", "max_drawdown", "trades") if c != args.metric),
               "error"]
    shown = ranked[columns].head(args.top).astype({"trades": "Int64"} if "trades" in columns else {})
    if outcome is not None:
        print(f"in-sample grid (bars before {outcome.split_time:%Y-%m-%d}), best {args.metric} first:")
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    failed = int((table["error"] != "").sum())
    if failed:
        print(f"{failed} of {len(table)} runs failed (see the error column)")
    if outcome is not None:
        chosen = ", ".join(f"{k}={v}" for k, v in outcome.best_params.items())
        print(f"walk-forward from {outcome.split_time:%Y-%m-%d}: best in-sample {chosen}; {args.metric} "
              f"in-sample {outcome.in_sample.get(args.metric, float('nan')):.4f}, out-of-sample "
              f"{outcome.out_of_sample.get(args.metric, float('nan')):.4f}")
    return 0

