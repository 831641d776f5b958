"""Implementations of the command-line sub-commands; each returns a process exit code."""

from __future__ import annotations

import argparse
import os
import sys

from terminal.config import Settings, describe
from terminal.domain import BarSize, DomainError, Instrument, Provenance, SecType, ValidationError


def _fail(message: str) -> int:
    print(f"quant-terminal: {message}", file=sys.stderr)
    return 1


def _open_store(settings: Settings):  # type: ignore[no-untyped-def]
    from terminal.store import SchemaTooNew, Store, StoreError, safe_url

    try:
        return Store.open(settings.resolved_db_url)
    except SchemaTooNew as exc:
        raise StoreError(f"cannot open database {safe_url(settings.resolved_db_url)}: {exc}") from exc


def _write_frame(store, instrument: Instrument, bar_size: BarSize, frame,  # type: ignore[no-untyped-def]
                 provenance: Provenance) -> int:
    """Store the bars (from ``provenance``) in one transaction; a database that refuses (read-only, locked) is
    a StoreError."""
    from sqlalchemy.exc import DatabaseError

    from terminal.store import StoreError

    driver_error = store.engine.dialect.loaded_dbapi.Error  # the bar writer uses the driver's cursor directly
    try:
        return store.bars.write_frame(instrument, bar_size, frame, provenance)
    except (DatabaseError, driver_error) as exc:
        reason = getattr(exc, "orig", None) or exc
        raise StoreError(f"cannot write to database {store.url}: {reason}; no bars were stored") from exc


def run_config(args: argparse.Namespace, settings: Settings) -> int:
    rows = describe(settings)
    width = max(len(r[0]) for r in rows)
    value_width = min(60, max(len(r[1]) for r in rows))
    for name, value, source in rows:
        print(f"{name:<{width}}  {value:<{value_width}}  ({source})")
    return 0


def _instrument_from_args(args: argparse.Namespace) -> Instrument:
    return Instrument(
        symbol=args.symbol.strip().upper(),
        sec_type=SecType(args.sec_type),
        exchange=args.exchange,
        currency=args.currency,
        tick_size=args.tick_size,
        multiplier=args.multiplier,
    )


def run_import(args: argparse.Namespace, settings: Settings) -> int:
    from terminal.data import CsvImportError, infer_bar_size, read_bars_csv
    from terminal.data.csv_import import PROVENANCE
    from terminal.store import StoreError

    try:  # every argument and the whole file are checked before the store is opened
        explicit = _instrument_from_args(args)
        bar_size = BarSize.parse(args.bar_size) if args.bar_size else None
        frame = read_bars_csv(args.file, timezone=args.tz)
        bar_size = bar_size or infer_bar_size(frame)
        store = _open_store(settings)
        instrument = store.instruments.get(explicit.key) or explicit
        count = _write_frame(store, instrument, bar_size, frame, PROVENANCE)
    except (CsvImportError, DomainError, StoreError) as exc:
        return _fail(str(exc))
    print(
        f"imported {count} {bar_size.short} bars of {instrument.symbol} "
        f"({frame.index[0]:%Y-%m-%d %H:%M} .. {frame.index[-1]:%Y-%m-%d %H:%M} UTC) into {store.url}"
    )
    return 0


def run_fetch(args: argparse.Namespace, settings: Settings) -> int:
    from terminal.cli_args import check_range
    from terminal.data.quandl_source import PROVENANCE, QuandlFetchError, fetch_dataset
    from terminal.store import StoreError

    symbol = (args.symbol or args.code.split("/")[-1]).upper()
    try:
        check_range(args.start, args.end, "--start", "--end")
        frame = fetch_dataset(
            args.code,
            api_key=settings.quandl_api_key,
            api_base=args.api_base or settings.quandl_api_base,
            start=args.start.isoformat() if args.start else None,
            end=args.end.isoformat() if args.end else None,
        )
        if frame.empty:
            return _fail(f"quandl dataset {args.code} returned no rows for that date range")
        store = _open_store(settings)
        instrument = store.instruments.get(Instrument(symbol).key) or Instrument(symbol, description=f"quandl {args.code}")
        count = _write_frame(store, instrument, BarSize.DAY_1, frame, PROVENANCE)
    except (QuandlFetchError, DomainError, StoreError) as exc:
        return _fail(str(exc))
    print(f"fetched {count} daily bars of {args.code} as {symbol} "
          f"({frame.index[0]:%Y-%m-%d} .. {frame.index[-1]:%Y-%m-%d}) into {store.url}")
    return 0


def run_bars(args: argparse.Namespace, settings: Settings) -> int:
    from terminal.store import StoreError

    try:
        bar_size = BarSize.parse(args.bar_size)
        store = _open_store(settings)
    except (DomainError, StoreError) as exc:
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


def _simulator_universe(args: argparse.Namespace, settings: Settings) -> tuple[list | None, list[str] | None, list[str]]:  # type: ignore[type-arg]
    """The --universe file's listings (None: the built-in one), the --symbols list checked against that
    universe (None: all of it), and the symbols offered."""
    from terminal.sim.contracts import Universe, UniverseError, load_universe

    listings = None
    if settings.sim_universe:
        try:
            listings = load_universe(settings.sim_universe)
        except UniverseError as exc:
            raise ValidationError(f"--universe: {exc}") from None
    universe = [item.instrument for item in Universe(None, listings).listings]
    if args.symbols is None:
        return listings, None, [i.symbol for i in universe]
    wanted = [s.strip().upper() for s in args.symbols.split(",") if s.strip()]
    unknown = [s for s in wanted if not any(s in (i.symbol, i.local_symbol) for i in universe)]
    if not wanted or unknown:
        what = f"{', '.join(unknown)} not in the simulator's universe" if unknown else "no symbol given"
        examples = ", ".join(i.symbol for i in universe[:8])
        raise ValidationError(f"--symbols: {what}; choose from its {len(universe)} symbols, e.g. {examples}")
    return listings, wanted, [item.instrument.symbol for item in Universe(wanted, listings).listings]


def run_sim(args: argparse.Namespace, settings: Settings) -> int:
    from terminal.archive import ArchiveError
    from terminal.sim.tws_server import run_server
    from terminal.store import StoreError

    replay = {}
    driver = None
    try:
        listings, symbols, offered = _simulator_universe(args, settings)
        if getattr(args, "replay_archive", None):
            from terminal.cli_archive import replay_driver_from_args

            driver = replay_driver_from_args(args, settings, listings, symbols)
        if args.replay:
            size = BarSize.parse(args.replay_bar_size)
            store = _open_store(settings)
            for symbol in args.replay:
                if symbol.upper() not in offered:
                    return _fail(f"--replay {symbol}: the simulator does not offer {symbol.upper()}; "
                                 f"replay one it offers, e.g. {', '.join(offered[:8])}")
                matches = store.instruments.find_symbol(symbol)
                frame = store.bars.load_frame(matches[0], size) if matches else None
                if frame is None or frame.empty:
                    return _fail(f"--replay {symbol}: no stored {size.short} bars; import or fetch them first")
                replay[symbol.upper()] = frame
    except (DomainError, StoreError, ValueError, ArchiveError) as exc:  # ReplayError is a ValueError
        return _fail(str(exc))
    seed = args.seed if args.seed is not None else settings.sim_seed
    if driver is not None and not args.parent_watch:
        tape = driver.tape
        print(f"replaying {', '.join(tape.symbols)} from {driver.clock.now():%Y-%m-%d %H:%M:%S} UTC to "
              f"{tape.end:%H:%M:%S} UTC ({len(tape):,} rows) at {driver.clock.speed:g}x on {args.host}:{args.port}"
              f"{'; type play' if args.replay_paused else ''}; commands: play, pause, step, speed N, jump TIME; "
              "Ctrl-C stops", flush=True)
    elif not args.parent_watch:
        print(f"starting the simulator on {args.host}:{args.port} (seed {seed}, {settings.sim_tick_rate:g} quotes/s "
              f"per instrument, {len(offered)} instruments); Ctrl-C stops it", flush=True)
    try:
        run_server(host=args.host, port=args.port, seed=seed, symbols=symbols, replay=replay or None,
                   tick_interval=1 / settings.sim_tick_rate, listings=listings, parent_watch=args.parent_watch,
                   replay_driver=driver)
    except OSError as exc:  # the address is taken, or the host is not an address of this machine
        reason = os.strerror(exc.errno) if exc.errno and exc.errno > 0 else exc.strerror or str(exc)  # < 0: resolver
        return _fail(f"simulator cannot listen on {args.host}:{args.port}: {reason}; "
                     "give another --port (0 picks a free one) or --host")
    return 0


def run_gui(args: argparse.Namespace, settings: Settings) -> int:
    from terminal.app import run_app

    if settings.monitor:  # refused before any window or socket opens
        from terminal.monitor.security import MonitorConfigError, check_bind, parse_listen

        try:
            check_bind(*parse_listen(settings.monitor), settings.monitor_token)
        except MonitorConfigError as exc:
            print(f"quant-terminal: {exc}", file=sys.stderr)
            return 2
    return run_app(settings, exit_after=getattr(args, "exit_after", None))


def run_backtest(args: argparse.Namespace, settings: Settings) -> int:
    from terminal.cli_backtest import run_backtest_command

    return run_backtest_command(args, settings)


def run_optimize(args: argparse.Namespace, settings: Settings) -> int:
    from terminal.cli_backtest import run_optimize_command

    return run_optimize_command(args, settings)


def run_monitor(args: argparse.Namespace, settings: Settings) -> int:
    from terminal.cli_monitor import run_monitor_command

    return run_monitor_command(args, settings)


def run_backfill(args: argparse.Namespace, settings: Settings) -> int:
    from terminal.cli_backfill import run_backfill_command

    return run_backfill_command(args, settings)
