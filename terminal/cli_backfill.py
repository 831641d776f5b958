"""``quant-terminal backfill``: fetch the bars missing from the store (the history manager, headless), or
print what is stored with ``--status``. Also the connection and progress line that ``backtest`` and
``optimize`` use when the bars they need are missing.

Without ``--ib`` it fetches from the built-in simulator, started as a child process as the terminal
starts it; with ``--ib HOST:PORT[:CLIENT_ID]`` from TWS / IB Gateway.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime
from typing import Any, TextIO

from terminal.cli_args import InputError, iso_date
from terminal.config import Settings
from terminal.domain import BarSize, DomainError, SecType


def add_backfill_parser(commands: argparse._SubParsersAction) -> None:
    fill = commands.add_parser(
        "backfill", help="download the bars missing from the store (gaps against the exchange calendar), "
                         "or show what is stored (--status)")
    fill.add_argument("symbols", nargs="*", metavar="SYMBOL")
    fill.add_argument("--bar-size", help="5s, 1m, 5m, 15m, 1h, 1D (default 1D; with --status: every stored size)")
    fill.add_argument("--from", dest="start", type=iso_date, help="first trading day (YYYY-MM-DD)")
    fill.add_argument("--to", dest="end", type=iso_date, help="last trading day (YYYY-MM-DD, default today)")
    fill.add_argument("--sec-type", choices=[s.value for s in SecType],
                      help="kind of instrument when a symbol names several (ES: a stock and a future)")
    fill.add_argument("--status", action="store_true",
                      help="print coverage and gaps of the stored series (of the SYMBOLs given) and exit")


def run_backfill_command(args: argparse.Namespace, settings: Settings) -> int:
    try:
        bar_size = BarSize.parse(args.bar_size) if args.bar_size else None
        if args.status:
            return asyncio.run(_status(args.symbols, bar_size, settings))
        if not args.symbols:
            raise InputError("give at least one SYMBOL to backfill (or --status to see what is stored)")
        if args.start is None:
            raise InputError("--from is missing: give the first trading day to backfill, e.g. --from 2026-11-02")
        end = args.end or datetime.now(UTC).date()
        if args.start > end:
            raise InputError(f"--from {args.start} is after --to {end}; the range is reversed: "
                             "give --from on or before --to")
    except DomainError as exc:
        return _failed(str(exc))
    return asyncio.run(_backfill(args.symbols, bar_size or BarSize.DAY_1, args.start, end, args.sec_type, settings))


def _failed(message: str) -> int:
    print(f"quant-terminal: {message}", file=sys.stderr)
    return 1


# --- connection and progress, shared with backtest / optimize ----------------------------------------
@contextlib.asynccontextmanager
async def connected_broker(settings: Settings, client_log_level: int = logging.WARNING) -> AsyncIterator[Any]:
    """An IBBroker connected to --ib, else to a built-in simulator child process; both closed after.

    ``client_log_level``: what the IB client may log below DEBUG (it logs every connect and farm message
    at INFO; a command that reports the client's errors itself, in one line, passes CRITICAL)."""
    from terminal.broker.ib import IBBroker
    from terminal.sim.process import SimulatorProcess

    if settings.log_level != "DEBUG":
        for name in ("ib_async", "ib_insync"):
            logging.getLogger(name).setLevel(client_log_level)
    simulator = None
    endpoint = settings.ib_endpoint()
    if endpoint is None:
        simulator = SimulatorProcess(settings.sim_seed, 0, tick_rate=settings.sim_tick_rate,
                                     universe=settings.sim_universe)
        await simulator.start()
        endpoint = ("127.0.0.1", simulator.port, settings.client_id)
    broker = IBBroker()
    try:
        await broker.connect(*endpoint)
        yield broker
    finally:
        await broker.disconnect()
        if simulator is not None:
            await simulator.stop()


class ProgressLine:
    """Backfill progress on stderr: one line redrawn in place on a terminal, plain lines otherwise."""

    WIDTH = 24

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._open = False

    def __call__(self, progress: Any) -> None:
        filled = int(self.WIDTH * progress.fraction)
        text = (f"{progress.instrument.display_name} {progress.bar_size.short} "
                f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {100 * progress.fraction:3.0f}% "
                f"{progress.requests_done}/{progress.requests} requests, {progress.bars:,} bars")
        if self.tty:
            print(f"\r{text}\x1b[K", end="", file=self.stream, flush=True)
            self._open = True
        elif progress.requests_done or not progress.requests:
            print(text, file=self.stream, flush=True)

    def close(self) -> None:
        if self._open:
            print(file=self.stream, flush=True)
            self._open = False


async def fill_missing(service: Any, symbols: Sequence[str], bar_size: BarSize, first_day: date, last_day: date,
                       sec_type: str | None = None, out: TextIO | None = None) -> list[Any]:
    """Backfill each symbol over first_day..last_day with a progress line; the results, in order."""
    from terminal.services.missing_data import fill_days

    out = out or sys.stdout
    results = []
    for symbol in symbols:
        line = ProgressLine()
        try:
            instrument, result = await fill_days(service, symbol, bar_size, first_day, last_day, progress=line,
                                                 sec_type=SecType(sec_type) if sec_type else None)
        finally:
            line.close()
        if result is None:
            print(f"{instrument.display_name}: no trading session from {first_day} to {last_day}; nothing to fetch",
                  file=out)
            continue
        after = result.after
        print(f"{instrument.display_name} {bar_size.short}: fetched {result.bars:,} bars in {result.requests} "
              f"requests; {after.present:,} of {after.expected:,} expected bars stored ({after.percent:.1f}%), "
              f"{len(after.gaps)} gaps left", file=out)
        results.append(result)
    return results


# --- the commands ---------------------------------------------------------------------------------
async def _backfill(symbols: Sequence[str], bar_size: BarSize, first_day: date, last_day: date,
                    sec_type: str | None, settings: Settings) -> int:
    from terminal.broker.base import BrokerError
    from terminal.cli_commands import _open_store
    from terminal.services.backfill import BackfillService
    from terminal.sim.process import SimulatorError
    from terminal.store import StoreError

    try:
        store = _open_store(settings)
    except StoreError as exc:
        return _failed(str(exc))
    try:
        async with connected_broker(settings) as broker:
            await fill_missing(BackfillService(broker, store), symbols, bar_size, first_day, last_day, sec_type)
    except (BrokerError, DomainError, StoreError, SimulatorError) as exc:
        return _failed(str(exc))
    finally:
        store.close()
    return 0


async def _status(symbols: Sequence[str], bar_size: BarSize | None, settings: Settings) -> int:
    from terminal.cli_commands import _open_store
    from terminal.services.backfill import BackfillService

    store = _open_store(settings)
    try:
        service = BackfillService(None, store)
        wanted = [s.strip().upper() for s in symbols]
        for symbol in wanted:
            if await service.stored_instrument(symbol) is None:
                return _failed(f"no stored instrument {symbol}; 'quant-terminal backfill --status' lists what is stored")
        found = [c for c in await service.status(wanted) if bar_size is None or c.bar_size is bar_size]
    finally:
        store.close()
    if not found:
        what = f" of {', '.join(wanted)}" if wanted else ""
        size = f" {bar_size.short}" if bar_size else ""
        print(f"no{size} bars stored{what}; fetch some with 'quant-terminal backfill SYMBOL --from YYYY-MM-DD'")
        return 0
    print(f"{'symbol':<10} {'size':>4} {'calendar':<8} {'first (UTC)':<16} {'last (UTC)':<16} {'bars':>9} "
          f"{'coverage':>8} {'gaps':>5}")
    for c in found:
        fmt = "%Y-%m-%d" if c.bar_size is BarSize.DAY_1 else "%Y-%m-%d %H:%M"
        calendar = c.calendar + ("+ext" if c.extended_hours else "")
        first, last = f"{c.first:{fmt}}", f"{c.last:{fmt}}"
        print(f"{c.instrument.display_name:<10} {c.bar_size.short:>4} {calendar:<8} {first:<16} {last:<16} "
              f"{c.bars:>9,} {c.percent:>7.1f}% {len(c.gaps):>5}")
        for gap in c.gaps[:5]:
            print(f"    gap {gap.describe()}")
        if len(c.gaps) > 5:
            print(f"    … {len(c.gaps) - 5} more gaps, {sum(g.bars for g in c.gaps[5:]):,} bars")
    return 0

