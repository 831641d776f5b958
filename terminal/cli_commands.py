"""Implementations of the command-line sub-commands; each returns a process exit code."""

from __future__ import annotations

import argparse
import sys

from terminal.config import Settings, describe
from terminal.domain import BarSize, DomainError, Instrument, SecType


def _fail(message: str) -> int:
    print(f"quant-terminal: {message}", file=sys.stderr)
    return 1


def _open_store(settings: Settings):  # type: ignore[no-untyped-def]
    from terminal.store import Store

    return Store.open(settings.resolved_db_url)


def run_config(args: argparse.Namespace, settings: Settings) -> int:
    rows = describe(settings)
    width = max(len(r[0]) for r in rows)
    value_width = min(60, max(len(r[1]) for r in rows))
    for name, value, source in rows:
        print(f"{name:<{width}}  {value:<{value_width}}  ({source})")
    return 0


def _instrument_from_args(args: argparse.Namespace, store) -> Instrument:  # type: ignore[no-untyped-def]
    symbol = args.symbol.strip().upper()
    explicit = Instrument(
        symbol=symbol,
        sec_type=SecType(args.sec_type),
        exchange=args.exchange,
        currency=args.currency,
        tick_size=args.tick_size,
        multiplier=args.multiplier,
    )
    stored = store.instruments.get(explicit.key)
    return stored or explicit


def run_import(args: argparse.Namespace, settings: Settings) -> int:
    from terminal.data import CsvImportError, infer_bar_size, read_bars_csv
    from terminal.store import StoreError

    try:
        frame = read_bars_csv(args.file, timezone=args.tz)
        bar_size = BarSize.parse(args.bar_size) if args.bar_size else infer_bar_size(frame)
        store = _open_store(settings)
        instrument = _instrument_from_args(args, store)
    except (CsvImportError, DomainError, StoreError) as exc:
        return _fail(str(exc))
    count = store.bars.write_frame(instrument, bar_size, frame)
    print(
        f"imported {count} {bar_size.short} bars of {instrument.symbol} "
        f"({frame.index[0]:%Y-%m-%d %H:%M} .. {frame.index[-1]:%Y-%m-%d %H:%M} UTC) into {store.url}"
    )
    return 0


def run_fetch(args: argparse.Namespace, settings: Settings) -> int:
    from terminal.data.quandl_source import QuandlFetchError, fetch_dataset
    from terminal.store import StoreError

    symbol = (args.symbol or args.code.split("/")[-1]).upper()
    try:
        frame = fetch_dataset(
            args.code,
            api_key=settings.quandl_api_key,
            api_base=args.api_base or settings.quandl_api_base,
            start=args.start,
            end=args.end,
        )
        store = _open_store(settings)
        instrument = store.instruments.get(Instrument(symbol).key) or Instrument(symbol, description=f"quandl {args.code}")
    except (QuandlFetchError, DomainError, StoreError) as exc:
        return _fail(str(exc))
    if frame.empty:
        return _fail(f"quandl dataset {args.code} returned no rows for that date range")
    count = store.bars.write_frame(instrument, BarSize.DAY_1, frame)
    print(f"fetched {count} daily bars of {args.code} as {symbol} "
          f"({frame.index[0]:%Y-%m-%d} .. {frame.index[-1]:%Y-%m-%d}) into {store.url}")
    return 0


def run_bars(args: argparse.Namespace, settings: Settings) -> int:
    from terminal.store import StoreError

    try:
        store = _open_store(settings)
    except StoreError as exc:
        return _fail(str(exc))
    if not args.symbol:
        summary = store.bars.summary()
        if not summary:
            print(f"no bars stored in {store.url}; import some with 'quant-terminal import csv FILE --symbol X'")
            return 0
        print(f"{'instrument':<28} {'size':>5} {'bars':>10}  first .. last (UTC)")
        for key, size, count, first, last in summary:
            print(f"{key:<28} {size.short:>5} {count:>10}  {first:%Y-%m-%d %H:%M} .. {last:%Y-%m-%d %H:%M}")
        return 0
    try:
        bar_size = BarSize.parse(args.bar_size)
    except DomainError as exc:
        return _fail(str(exc))
    matches = store.instruments.find_symbol(args.symbol)
    if not matches:
        return _fail(f"no stored instrument {args.symbol.upper()}; 'quant-terminal bars' lists what is stored")
    instrument = matches[0]
    frame = store.bars.load_frame(instrument, bar_size, limit=args.tail)
    if frame.empty:
        sizes = ", ".join(s.short for k, s, *_ in store.bars.summary() if k == instrument.key) or "none"
        return _fail(f"no {bar_size.short} bars of {instrument.symbol}; stored bar sizes: {sizes}")
    total = store.bars.count(instrument, bar_size)
    nd = instrument.price_decimals()
    print(f"{instrument.symbol} {bar_size.short}: {total} bars stored, newest {len(frame)}:")
    print(f"{'time (UTC)':<17} {'open':>12} {'high':>12} {'low':>12} {'close':>12} {'volume':>14}")
    for t, row in frame.iterrows():
        print(f"{t:%Y-%m-%d %H:%M} {row.open:>12.{nd}f} {row.high:>12.{nd}f} {row.low:>12.{nd}f} "
              f"{row.close:>12.{nd}f} {row.volume:>14,.0f}")
    return 0


def run_sim(args: argparse.Namespace, settings: Settings) -> int:
    from terminal.sim.tws_server import run_server

    replay = {}
    if args.replay:
        store = _open_store(settings)
        size = BarSize.parse(args.replay_bar_size)
        for symbol in args.replay:
            matches = store.instruments.find_symbol(symbol)
            frame = store.bars.load_frame(matches[0], size) if matches else None
            if frame is None or frame.empty:
                return _fail(f"--replay {symbol}: no stored {size.short} bars; import or fetch them first")
            replay[symbol.upper()] = frame
    symbols = [s.strip().upper() for s in args.symbols.split(",")] if args.symbols else None
    seed = args.seed if args.seed is not None else settings.sim_seed
    print(f"simulator listening on {args.host}:{args.port} (seed {seed}); Ctrl-C stops it", flush=True)
    run_server(host=args.host, port=args.port, seed=seed, symbols=symbols, replay=replay or None)
    return 0


def run_gui(args: argparse.Namespace, settings: Settings) -> int:
    from terminal.app import run_app

    return run_app(settings)


def run_backtest(args: argparse.Namespace, settings: Settings) -> int:
    from terminal.cli_backtest import run_backtest_command

    return run_backtest_command(args, settings)


def run_optimize(args: argparse.Namespace, settings: Settings) -> int:
    from terminal.cli_backtest import run_optimize_command

    return run_optimize_command(args, settings)
