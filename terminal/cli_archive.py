"""The market-memory commands: ``record`` ticks into the archive (from a broker connection, or from the
desk bus on Kafka as a consumer group), and ``archive ls | export | import | copy | compact | verify``. Every one takes ``--archive URL`` (a path, ``nfs://HOST/EXPORT/PATH`` or
``hdfs://NAMENODE:PORT/PATH``; default: the data dir's ``archive`` folder)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from datetime import UTC, datetime

from terminal.cli_args import positive_float, until_stopped
from terminal.config import Settings


def _archive_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--archive", metavar="URL",
                        help="archive root: a path, nfs://HOST/EXPORT/PATH or hdfs://NAMENODE:PORT/PATH "
                             "(default: the data dir's archive folder)")


def add_archive_parsers(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    record = commands.add_parser("record", help="record ticks (and depth, live bars) of symbols into the archive")
    record.add_argument("--symbols", help="comma-separated symbols, e.g. AAPL,ES,EUR.USD (required unless "
                                          "--from-kafka, where the default is every instrument on the bus)")
    record.add_argument("--from-kafka", metavar="HOST:PORT",
                        help="record the desk bus (the hub's quotes, depth, bars) as a member of a Kafka consumer "
                             "group instead of connecting to the broker")
    record.add_argument("--prefix", help="with --from-kafka: the desk's topic prefix (default: the bus_prefix setting, qt.)")
    record.add_argument("--group", help="with --from-kafka: the consumer group (default <prefix>recorder); "
                                        "recorders of one group share the work and resume each other's")
    record.add_argument("--depth", action="store_true", help="also record L2 depth (10 levels)")
    record.add_argument("--no-bars", action="store_true", help="do not record the live 5-second bars")
    record.add_argument("--seconds", type=positive_float, metavar="N",
                        help="stop after N seconds (default: until Ctrl+C)")
    record.add_argument("--flush-seconds", type=positive_float, default=60.0, metavar="N",
                        help="write a batch to the archive at least every N seconds (default 60)")
    _archive_option(record)

    archive = commands.add_parser("archive", help="list, export, copy, compact or verify the Parquet archive")
    verbs = archive.add_subparsers(dest="kind", metavar="ACTION", required=True)
    ls = verbs.add_parser("ls", help="what the archive holds: per kind, symbol and day, files, rows, time range")
    ls.add_argument("--kind", dest="kind_filter", choices=["ticks", "depth", "bars"])
    ls.add_argument("--symbol")
    _archive_option(ls)
    export = verbs.add_parser("export", help="write stored bars (the local store) into the archive")
    export.add_argument("symbols", nargs="*", metavar="SYMBOL", help="default: every stored series")
    export.add_argument("--bar-size", help="only this bar size (1m, 5m, 1h, 1D…)")
    _archive_option(export)
    imp = verbs.add_parser("import", help="read bars from the archive into the local store")
    imp.add_argument("symbols", nargs="+", metavar="SYMBOL")
    imp.add_argument("--bar-size", required=True, help="bar size to import (1m, 5m, 1h, 1D…)")
    _archive_option(imp)
    copy = verbs.add_parser("copy", help="copy every file from one archive to another (each verified first)")
    copy.add_argument("source", metavar="SRC")
    copy.add_argument("target", metavar="DST")
    copy.add_argument("--kind", dest="kind_filter", choices=["ticks", "depth", "bars"])
    copy.add_argument("--symbol")
    compact = verbs.add_parser("compact", help="merge each partition's files into one (verified before removal)")
    compact.add_argument("--kind", dest="kind_filter", choices=["ticks", "depth", "bars"])
    compact.add_argument("--symbol")
    _archive_option(compact)
    verify = verbs.add_parser("verify", help="read every file back and check its rows and checksum")
    verify.add_argument("--kind", dest="kind_filter", choices=["ticks", "depth", "bars"])
    verify.add_argument("--symbol")
    _archive_option(verify)


def _fail(message: str) -> int:
    print(f"quant-terminal: {message}", file=sys.stderr)
    return 1


def open_settings_archive(settings: Settings, url: str | None):  # type: ignore[no-untyped-def]
    from terminal.archive import open_archive

    return open_archive(url or settings.resolved_archive)


# --- archive ---------------------------------------------------------------------------------------
def run_archive(args: argparse.Namespace, settings: Settings) -> int:
    from terminal.archive import ArchiveError, SchemaError
    from terminal.domain import DomainError
    from terminal.store import StoreError

    try:
        if args.kind == "copy":
            return _copy(args)
        archive = open_settings_archive(settings, args.archive)
        if args.kind == "ls":
            return _ls(archive, args)
        if args.kind == "verify":
            return _verify(archive, args)
        if args.kind == "compact":
            return _compact(archive, args)
        if args.kind == "export":
            return _export(archive, settings, args)
        if args.kind == "import":
            return _import(archive, settings, args)
    except (ArchiveError, SchemaError, StoreError, DomainError, FileNotFoundError) as exc:
        return _fail(f"archive {args.kind}: {exc}")
    raise AssertionError(args.kind)


def _ls(archive, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    partitions = [p for p in archive.partitions(args.kind_filter) if not args.symbol or p.symbol == args.symbol.upper()]
    if not partitions:
        print(f"the archive at {archive.url} holds nothing" + (" of that selection" if args.kind_filter or args.symbol
                                                                else ""))
        return 0
    print(f"{'kind':<6} {'symbol':<10} {'date':<10} {'files':>5} {'rows':>12} {'MB':>9}  first (UTC)  last (UTC)")
    for p in partitions:
        first = f"{p.first:%H:%M:%S}" if p.first else "-"
        last = f"{p.last:%H:%M:%S}" if p.last else "-"
        print(f"{p.kind:<6} {p.symbol:<10} {p.date.isoformat():<10} {len(p.files):>5} {p.rows:>12,} "
              f"{p.size / 1e6:>9.2f}  {first:<11}  {last}")
    total = sum(p.rows for p in partitions)
    print(f"{len(partitions)} partitions, {sum(len(p.files) for p in partitions)} files, {total:,} rows in {archive.url}")
    return 0


def _filtered(archive, args: argparse.Namespace):  # type: ignore[no-untyped-def]
    symbol = args.symbol.upper() if args.symbol else None
    return [f for f in archive.files(args.kind_filter) if symbol is None or f.symbol == symbol]


def _verify(archive, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    files = _filtered(archive, args)
    problems = archive.verify(files)
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"verified {len(files)} files in {archive.url}: {len(problems)} damaged")
    return 1 if problems else 0


def _compact(archive, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    merged = 0
    for partition in archive.partitions(args.kind_filter):
        if args.symbol and partition.symbol != args.symbol.upper():
            continue
        target = archive.compact(partition)
        if target is not None:
            merged += 1
            print(f"{partition.kind}/{partition.symbol}/{partition.date}: {len(partition.files)} files -> "
                  f"{target.name} ({partition.rows:,} rows)")
    print(f"compacted {merged} partitions in {archive.url}")
    return 0


def _copy(args: argparse.Namespace) -> int:
    from terminal.archive import open_archive

    source, target = open_archive(args.source), open_archive(args.target)
    files = _filtered(source, args)
    started = time.perf_counter()
    size = 0
    for file in source.copy_to(target, files):
        size += file.size
    seconds = time.perf_counter() - started
    print(f"copied {len(files)} files ({size / 1e6:.1f} MB) from {source.url} to {target.url} in {seconds:.1f} s")
    return 0


def _export(archive, settings: Settings, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    from terminal.archive.bars import frame_to_table
    from terminal.cli_commands import _open_store
    from terminal.domain import BarSize

    store = _open_store(settings)
    wanted = {s.upper() for s in args.symbols}
    size = BarSize.parse(args.bar_size) if args.bar_size else None
    exported = 0
    for key, bar_size, count, _first, _last in store.bars.summary():
        instrument = store.instruments.get(key)
        if instrument is None or (wanted and instrument.symbol not in wanted) or (size and bar_size != size):
            continue
        frame = store.bars.load_frame(instrument, bar_size)
        provenance = store.bars.provenance(instrument, bar_size)  # where the series came from goes along
        files = archive.write("bars", frame_to_table(instrument, bar_size, frame, provenance=provenance.value))
        exported += 1
        print(f"{instrument.symbol} {bar_size.short}: {count} bars -> {len(files)} files")
    if not exported:
        return _fail(f"archive export: no stored bars match {' '.join(sorted(wanted)) or 'anything'}"
                     f"{' of ' + size.short if size else ''}; see 'quant-terminal bars'")
    print(f"exported {exported} series to {archive.url}")
    return 0


def _import(archive, settings: Settings, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    from terminal.archive.bars import table_to_frame
    from terminal.cli_commands import _open_store, _write_frame
    from terminal.domain import BarSize, Instrument

    bar_size = BarSize.parse(args.bar_size)
    store = _open_store(settings)
    for symbol in (s.upper() for s in args.symbols):
        table = archive.read("bars", symbol)
        frame, key, provenance = table_to_frame(table, bar_size)
        if frame.empty:
            return _fail(f"archive import: the archive at {archive.url} has no {bar_size.short} bars of {symbol}; "
                         "see 'quant-terminal archive ls --kind bars'")
        instrument = store.instruments.get(key) if key else None
        instrument = instrument or Instrument(symbol)
        count = _write_frame(store, instrument, bar_size, frame, provenance)
        print(f"imported {count} {bar_size.short} bars of {symbol} from {archive.url}")
    return 0


# --- record ----------------------------------------------------------------------------------------
class _BadSymbol(ValueError):
    """A ``--symbols`` entry the broker (or the desk hub) does not know; the message names it."""


def run_record(args: argparse.Namespace, settings: Settings) -> int:
    from terminal.archive import ArchiveError
    from terminal.config import parse_kafka_url

    bootstrap = ""
    if args.from_kafka:
        try:
            bootstrap = parse_kafka_url(args.from_kafka)
        except ValueError as exc:
            return _fail(f"record --from-kafka: {exc}")
    elif args.symbols is None:
        return _fail("record: give --symbols (e.g. --symbols AAPL,ES), or --from-kafka HOST:PORT to record the desk bus")
    elif args.prefix is not None or args.group is not None:
        return _fail("record: --prefix and --group go with --from-kafka HOST:PORT")
    symbols = [s.strip() for s in (args.symbols or "").split(",") if s.strip()]
    if args.symbols is not None and not symbols:
        return _fail("record --symbols: give at least one symbol, e.g. --symbols AAPL,ES")
    try:
        archive = open_settings_archive(settings, args.archive)
    except ArchiveError as exc:
        return _fail(f"record: {exc}")
    if bootstrap:
        return asyncio.run(_record_bus(args, settings, archive, bootstrap, symbols))
    return asyncio.run(_record(args, settings, archive, symbols))


async def _qualified(market, symbols: list[str]) -> list:  # type: ignore[no-untyped-def,type-arg]
    """Each symbol as its qualified instrument; raises _BadSymbol for the first one that is not known."""
    from terminal.broker.base import BrokerError
    from terminal.domain import DomainError

    instruments = []
    for symbol in symbols:
        try:
            instruments.append(await market.qualify(symbol))
        except (DomainError, BrokerError) as exc:
            raise _BadSymbol(f"record --symbols: {symbol!r}: {exc}") from None
    return instruments


async def _record_bus(args: argparse.Namespace, settings: Settings, archive, bootstrap: str,  # type: ignore[no-untyped-def]
                      symbols: list[str]) -> int:
    from terminal.archive.recorder import archive_symbol
    from terminal.broker.base import BrokerError
    from terminal.bus.kafka import BusError, Topics, ensure_topics
    from terminal.bus.recorder import HubDesk, KafkaRecorder
    from terminal.services.market import MarketService

    topics = Topics(args.prefix or settings.bus_prefix)
    bus = None
    try:
        await asyncio.to_thread(ensure_topics, bootstrap, topics, timeout=10.0)
        instruments = None
        if symbols:
            async with HubDesk(bootstrap, topics) as desk:
                instruments = await _qualified(MarketService(desk), symbols)  # type: ignore[arg-type]
        bus = KafkaRecorder(bootstrap, archive, settings.resolved_data_dir / "spool", topics, args.group or "",
                            instruments, depth=args.depth, bars=not args.no_bars, batch_seconds=args.flush_seconds)
        recorder = await bus.start()
    except _BadSymbol as exc:
        return _fail(str(exc))
    except (BusError, BrokerError, OSError) as exc:
        return _fail(f"record --from-kafka: {exc}")
    what = ", ".join(archive_symbol(i) for i in instruments) if instruments else "every instrument on the bus"
    print(f"recording {what} from kafka://{bootstrap} (topics {topics.prefix}*, group {bus.group}, "
          f"{recorder.provenance}) as {recorder.recording} into {archive.url}"
          + (f" for {args.seconds:g} s" if args.seconds else "; Ctrl+C stops"), file=sys.stderr, flush=True)
    started = time.monotonic()
    await until_stopped(args.seconds)
    stats = await bus.stop()
    seconds = time.monotonic() - started
    taken = bus.stats
    lost = f"; {stats.failures} batches could not be written and wait in the spool" if stats.failures else ""
    skipped = f"; {taken.skipped:,} messages recorded before were skipped" if taken.skipped else ""
    print(f"recorded {stats.rows:,} rows ({taken.ticks:,} ticks) from {taken.messages:,} messages in {seconds:.1f} s "
          f"as {recorder.recording}: {stats.written:,} rows in {stats.files} files in {archive.url}{skipped}{lost}")
    print(f"recording {recorder.recording} ended {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC", file=sys.stderr)
    return 1 if stats.failures else 0


async def _record(args: argparse.Namespace, settings: Settings, archive, symbols: list[str]) -> int:  # type: ignore[no-untyped-def]
    from terminal.archive.recorder import archive_symbol
    from terminal.broker.base import BrokerError
    from terminal.cli_backfill import connected_broker
    from terminal.services.market import MarketService
    from terminal.services.recording import RecordingRequest, RecordingService
    from terminal.sim.process import SimulatorError

    try:
        async with connected_broker(settings, client_log_level=logging.CRITICAL) as broker:
            provenance = broker.provenance.value
            try:
                instruments = await _qualified(MarketService(broker), symbols)
            except _BadSymbol as exc:
                return _fail(str(exc))
            service = RecordingService(broker, archive, provenance, settings.resolved_data_dir / "spool",
                                       batch_seconds=args.flush_seconds)
            recorder = await service.start(RecordingRequest(tuple(instruments), depth=args.depth,
                                                            bars=not args.no_bars))
            print(f"recording {', '.join(archive_symbol(i) for i in instruments)} ({provenance}) as {recorder.recording} "
                  f"into {archive.url}" + (f" for {args.seconds:g} s" if args.seconds else "; Ctrl+C stops"),
                  file=sys.stderr, flush=True)
            started = time.monotonic()
            await until_stopped(args.seconds)
            stats = await service.stop()
    except (OSError, BrokerError, ConnectionError, TimeoutError, SimulatorError) as exc:
        return _fail(f"record: cannot connect to the broker: {exc}")
    seconds = time.monotonic() - started
    lost = f"; {stats.failures} batches could not be written and wait in the spool" if stats.failures else ""
    print(f"recorded {stats.rows:,} rows ({service.ticks_seen:,} ticks) in {seconds:.1f} s as {recorder.recording}: "
          f"{stats.written:,} rows in {stats.files} files in {archive.url}, {stats.gaps} gaps{lost}")
    print(f"recording {recorder.recording} ended {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC", file=sys.stderr)
    return 1 if stats.failures else 0


# --- replay ----------------------------------------------------------------------------------------
def replay_start(text: str | None, timezone: str) -> datetime | None:
    """``--from``: 'YYYY-MM-DD HH:MM[:SS]' in ``timezone``, or an ISO time with its offset; None: the start."""
    from zoneinfo import ZoneInfo

    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"--from {text!r} is not a time; give 'YYYY-MM-DD HH:MM' (in --tz) or an ISO time "
                         "with its offset") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(timezone))
    return moment.astimezone(UTC)


def _check_speed(speed: float) -> None:
    if not 0 < speed <= 1000:
        raise ValueError(f"--speed {speed:g}: give a speed above 0 and at most 1000 (1 = real time)")


def replay_driver_from_args(args: argparse.Namespace, settings: Settings, listings, symbols):  # type: ignore[no-untyped-def]
    """The replay of ``--replay-archive`` / ``--archive`` from ``--from`` at ``--speed``."""
    from terminal.sim.contracts import Universe
    from terminal.sim.replay import ReplayError, load_tape
    from terminal.sim.replay_driver import ReplayDriver

    _check_speed(args.replay_speed)
    start = replay_start(args.replay_from, args.replay_tz)
    archive = open_settings_archive(settings, args.replay_archive)
    wanted = getattr(args, "replay_symbols", None)
    tape = load_tape(archive, Universe(symbols, listings), [s.strip() for s in wanted.split(",")] if wanted else None,
                     start=start)
    if start is not None and start > tape.end:
        raise ReplayError(f"--from {args.replay_from}: the recording ends at {tape.end:%Y-%m-%d %H:%M:%S} UTC")
    return ReplayDriver(tape, archive, speed=args.replay_speed, start=start, wait_for_play=args.replay_paused)


def run_replay(args: argparse.Namespace, settings: Settings) -> int:
    """``quant-terminal replay``: check that there is something to replay, then open the terminal on it."""
    from terminal.app import run_app
    from terminal.archive import ArchiveError
    from terminal.services.replay import ReplayRequest
    from terminal.sim.replay import ReplayError, replayable

    if settings.ib:
        return _fail("replay: --ib is not used by a replay (it trades a fresh simulated account, never a "
                     "connected one); leave --ib out")
    url = args.replay_archive or settings.resolved_archive
    symbols = tuple(s.strip().upper() for s in (args.replay_symbols or "").split(",") if s.strip())
    try:  # from the listing only: the replay process loads the recording itself
        start = replay_start(args.replay_from, args.replay_tz)
        _check_speed(args.replay_speed)
        played = replayable(open_settings_archive(settings, url), list(symbols) or None, start)
    except (ArchiveError, ReplayError, ValueError) as exc:
        return _fail(f"replay: {exc}")
    when = f"from {start:%Y-%m-%d %H:%M} UTC" if start else "from the start of the recording"
    print(f"replaying {', '.join(played)} {when} at {args.replay_speed:g}x", file=sys.stderr)
    return run_app(settings, ReplayRequest(url, start, args.replay_speed, symbols, args.replay_paused))
