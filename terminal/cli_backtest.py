"""``quant-terminal backtest``: run a built-in or stored strategy, or a .py file, on stored bars."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from terminal.domain import BarSize, DomainError


def add_backtest_parser(commands: argparse._SubParsersAction) -> None:
    bt = commands.add_parser("backtest", help="backtest a strategy on stored bars")
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
    bt.add_argument("--time-limit", type=float, default=300.0, help="seconds before the worker is stopped")
    bt.add_argument("--json", action="store_true", help="print the result as JSON")
    bt.add_argument("--save", action="store_true", help="save the run in the store")


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


def run_backtest_command(args: argparse.Namespace, settings) -> int:  # type: ignore[no-untyped-def]
    from terminal.backtest.api import Sizing
    from terminal.backtest.loader import StrategyError, coerce_params, load_strategy
    from terminal.backtest.runner import BacktestRequest, result_to_json, run_in_worker
    from terminal.store import Store, StoreError

    try:
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
        raw = dict(p.split("=", 1) for p in args.param if "=" in p)
        bad = [p for p in args.param if "=" not in p]
        if bad:
            raise DomainError(f"--param {bad[0]!r} must look like name=value")
        params = coerce_params(load_strategy(source, name), raw)
    except (DomainError, StrategyError, StoreError) as exc:
        print(f"quant-terminal: {exc}", file=sys.stderr)
        return 1
    periods = 252 if bar_size is BarSize.DAY_1 else 252 * 6.5 * 3600 / bar_size.seconds
    request = BacktestRequest(source, frames, name, params, args.engine, args.cash, args.commission, args.slippage,
                              Sizing(units=args.units) if args.units else Sizing(percent=0.95), args.time_limit,
                              periods_per_year=periods)
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
