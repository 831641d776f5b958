"""``quant-terminal backtest`` and ``optimize``: run a built-in or stored strategy, or a .py file, on stored bars;
once, or over a grid of parameters with an optional walk-forward split."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from terminal.domain import BarSize, DomainError


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
    opt.add_argument("--top", type=int, default=10, help="rows to print (default 10)")
    opt.add_argument("--json", action="store_true", help="print every row as JSON")


def _run_options(bt: argparse.ArgumentParser) -> None:
    bt.add_argument("strategy", help="built-in template name, stored strategy name, or a .py file")
    bt.add_argument("--symbol", action="append", required=True, help="symbol (repeat for pairs: Y then X)")
    bt.add_argument("--from", dest="start", help="first date (YYYY-MM-DD)")
    bt.add_argument("--to", dest="end", help="last date (YYYY-MM-DD)")
    bt.add_argument("--bar-size", default="1D")
    bt.add_argument("--param", action="append", default=[], metavar="K=V", help="strategy parameter (repeatable)")
    bt.add_argument("--engine", choices=["backtrader", "backtesting"], default="backtrader")
    bt.add_argument("--cash", type=float, default=100_000.0)
    bt.add_argument("--commission", type=float, default=0.0, help="commission as a fraction of value, e.g. 0.001")
    bt.add_argument("--slippage", type=float, default=0.0, help="slippage as a fraction of price")
    bt.add_argument("--units", type=float, default=0.0, help="fixed position size (default: 95%% of equity)")
    bt.add_argument("--time-limit", type=float, default=300.0, help="seconds before a run is stopped")


def _source(name: str, store) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    from terminal.backtest.loader import template_names, template_source

    path = Path(name)
    if path.suffix == ".py" and path.exists():
        return path.stem, path.read_text(encoding="utf-8")
    if name in template_names():
        return name, template_source(name)
    stored = store.strategies.latest(name)
    if stored is not None:
        return name, stored.source
    raise DomainError(f"no strategy {name!r}: not a .py file, a built-in ({', '.join(template_names())}) "
                      "or a stored strategy")


def _prepare(args: argparse.Namespace, settings):  # type: ignore[no-untyped-def]
    """The store and the request the arguments describe; DomainError etc. on bad input."""
    from terminal.backtest.api import Sizing
    from terminal.backtest.loader import coerce_params, load_strategy
    from terminal.backtest.runner import BacktestRequest
    from terminal.store import Store

    store = Store.open(settings.resolved_db_url)
    name, source = _source(args.strategy, store)
    bar_size = BarSize.parse(args.bar_size)
    frames = {}
    for symbol in args.symbol:
        found = store.instruments.find_symbol(symbol)
        frame = store.bars.load_frame(found[0], bar_size) if found else pd.DataFrame()
        if args.start:
            frame = frame[frame.index >= pd.Timestamp(args.start, tz="UTC")]
        if args.end:
            frame = frame[frame.index <= pd.Timestamp(args.end, tz="UTC") + pd.Timedelta(days=1)]
        if frame.empty:
            raise DomainError(f"no stored {bar_size.short} bars of {symbol.upper()} in that range; "
                              "import or fetch them first ('quant-terminal bars' lists what is stored)")
        frames[symbol.upper()] = frame
    if len(frames) > 1:
        common = sorted(set.intersection(*(set(f.index) for f in frames.values())))
        frames = {s: f.loc[common] for s, f in frames.items()}
    params = coerce_params(load_strategy(source, name), _pairs(args.param, "--param"))
    periods = 252 if bar_size is BarSize.DAY_1 else 252 * 6.5 * 3600 / bar_size.seconds
    request = BacktestRequest(source, frames, name, params, args.engine, args.cash, args.commission, args.slippage,
                              Sizing(units=args.units) if args.units else Sizing(percent=0.95), args.time_limit,
                              periods_per_year=periods)
    return store, request


def _pairs(items: list[str], flag: str) -> dict[str, str]:
    bad = [p for p in items if "=" not in p]
    if bad:
        raise DomainError(f"{flag} {bad[0]!r} must look like name=value")
    return dict(p.split("=", 1) for p in items)


def run_backtest_command(args: argparse.Namespace, settings) -> int:  # type: ignore[no-untyped-def]
    from terminal.backtest.loader import StrategyError
    from terminal.backtest.runner import result_to_json, run_in_worker
    from terminal.store import StoreError

    try:
        store, request = _prepare(args, settings)
    except (DomainError, StrategyError, StoreError) as exc:
        print(f"quant-terminal: {exc}", file=sys.stderr)
        return 1
    name, source, params, frames = request.strategy_name, request.strategy_source, request.params, request.frames
    result = run_in_worker(request)
    if args.save and result.ok:
        stored = store.strategies.save(name, source, params)
        run_id = store.backtest_runs.start(name, stored.version, args.engine, list(frames), params)
        store.backtest_runs.finish(run_id, "done", result_to_json(result)["statistics"], result_to_json(result))
    if args.json:
        print(json.dumps(result_to_json(result), indent=2))
        return 0 if result.ok else 1
    if not result.ok:
        print(f"quant-terminal: backtest failed: {result.error}", file=sys.stderr)
        if result.error_line:
            print(f"  at line {result.error_line} of {name}", file=sys.stderr)
        return 1
    print(f"{name} on {', '.join(frames)} ({args.engine}, {len(next(iter(frames.values())))} bars, "
          f"{result.seconds:.2f} s)")
    for key, value in result.statistics.items():
        print(f"  {key:<22} {value:>14.4f}" if isinstance(value, float) else f"  {key:<22} {value}")
    return 0


def run_optimize_command(args: argparse.Namespace, settings) -> int:  # type: ignore[no-untyped-def]
    from terminal.backtest.loader import StrategyError, load_strategy
    from terminal.backtest.optimize import (
        OptimizationCancelled,
        grid,
        optimize,
        parse_values,
        rank,
        walk_forward,
    )
    from terminal.backtest.runner import plain_json
    from terminal.store import StoreError

    try:
        _store, request = _prepare(args, settings)
        declared = dict(load_strategy(request.strategy_source, request.strategy_name).params)
        space = {}
        for key, spec in _pairs(args.grid, "--grid").items():
            if key not in declared:
                raise DomainError(f"--grid {key}: {request.strategy_name} declares no such parameter "
                                  f"({', '.join(declared)})")
            try:
                space[key] = parse_values(spec, declared[key])
            except ValueError as exc:
                raise DomainError(f"--grid {key}: {exc}") from None
        total = len(grid(space))
    except (DomainError, StrategyError, StoreError, ValueError) as exc:
        print(f"quant-terminal: {exc}", file=sys.stderr)
        return 1
    done = [0]

    def progress(_row: dict) -> None:
        done[0] += 1
        if not args.json and sys.stderr.isatty():
            print(f"\r{done[0]}/{total} runs", end="", file=sys.stderr, flush=True)

    outcome = None
    try:
        if args.walk_forward:
            outcome = walk_forward(request, space, args.walk_forward, args.metric, args.workers, progress)
            table = outcome.table
        else:
            table = optimize(request, space, args.workers, progress)
    except (ValueError, OptimizationCancelled) as exc:
        print(f"\nquant-terminal: {exc}", file=sys.stderr)
        return 1
    if not args.json and sys.stderr.isatty():
        print(file=sys.stderr)
    if args.metric not in table:
        print(f"quant-terminal: no statistic {args.metric!r}; runs failed or the name is wrong", file=sys.stderr)
        return 1
    ranked = rank(table, args.metric)
    if args.json:
        payload = {"rows": ranked.to_dict("records")}
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

