"""``quant-terminal journal ls|export|stats|tag|compare|live``: the trade journal and the live strategy runs, headless
(it syncs from the store first)."""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
from pathlib import Path
from typing import Any

from terminal.config import Settings
from terminal.domain.journal import SOURCES

LS_COLUMNS = (("exit (UTC)", 16), ("source", 8), ("symbol", 8), ("side", 5), ("qty", 8), ("entry", 11),
              ("exit", 11), ("P&L", 12), ("R", 6), ("MAE", 11), ("MFE", 11), ("tags", 0))


def add_journal_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    journal = commands.add_parser("journal", help="the trade journal: round trips from fills and saved backtests")
    verbs = journal.add_subparsers(dest="kind", metavar="ACTION", required=True)
    ls = verbs.add_parser("ls", help="list round trips (newest last)")
    export = verbs.add_parser("export", help="write round trips as CSV (default) or JSON")
    for sub in (ls, export):
        sub.add_argument("--source", choices=SOURCES, help="only this source (live, paper, sim, replay, backtest)")
        sub.add_argument("--symbol", help="only this symbol")
        sub.add_argument("--run", type=int, metavar="ID", help="only the trades of this saved backtest run")
        fmt = sub.add_mutually_exclusive_group()
        fmt.add_argument("--json", action="store_true", help="a JSON list of round trips")
        fmt.add_argument("--csv", action="store_true", help="CSV with a header row")
    ls.add_argument("--limit", type=int, default=50, metavar="N", help="the newest N (default 50; 0: all)")
    export.add_argument("-o", "--output", type=Path, metavar="FILE", help="write here instead of stdout")
    stats = verbs.add_parser("stats", help="trades, win rate, P&L and average R by tag, symbol, source, hour or weekday")
    stats.add_argument("--by", choices=("tag", "symbol", "source", "hour", "weekday"), default="tag")
    stats.add_argument("--source", choices=SOURCES)
    cmp = verbs.add_parser("compare", help="the account's trades against a saved backtest run of the same period: "
                                           "matched trades with slippage per fill, missed and extra trades")
    against = cmp.add_mutually_exclusive_group(required=True)
    against.add_argument("--run", type=int, metavar="ID", help="the saved backtest run")
    against.add_argument("--live", metavar="RUN", help="a live strategy run (see 'journal live'): its strategy "
                                                       "re-run as a backtest over the bars it saw, against its trades")
    cmp.add_argument("--source", choices=("live", "paper", "sim", "replay"),
                     help="only this source's trades (default live, paper and sim)")
    cmp.add_argument("--tolerance-bars", type=float, default=1.0, metavar="N",
                     help="an actual entry within N of the run's bars of a backtest entry is the same trade (default 1)")
    cmp.add_argument("--json", action="store_true")
    live = verbs.add_parser("live", help="the strategies run live or on the simulator: status, position, P&L")
    live.add_argument("--json", action="store_true")
    tag = verbs.add_parser("tag", help="set the tags and/or notes of a round trip (by its key, see ls --json)")
    tag.add_argument("key")
    tag.add_argument("--tags", help="comma-separated; replaces the round trip's tags")
    tag.add_argument("--notes")


def run_journal(args: argparse.Namespace, settings: Settings) -> int:
    from terminal.cli_commands import _fail, _open_store
    from terminal.services.journal import JournalService
    from terminal.store import StoreError

    try:
        store = _open_store(settings)
    except StoreError as exc:
        return _fail(str(exc))
    try:
        journal = JournalService(store)
        asyncio.run(journal.sync())
        if args.kind == "tag":
            return _tag(journal, args)
        if args.kind == "stats":
            return _stats(journal, args)
        if args.kind == "compare":
            return _compare_live(store, journal, args) if args.live else _compare(journal, args)
        if args.kind == "live":
            return _live(store, args)
        trips = asyncio.run(journal.trips(args.source, args.symbol.upper() if args.symbol else None, args.run))
        if args.kind == "ls" and args.limit > 0:
            trips = trips[-args.limit:]
        fmt = "json" if args.json else "csv" if args.csv or args.kind == "export" else "table"
        out = open(args.output, "w", encoding="utf-8", newline="") if getattr(args, "output", None) else sys.stdout
        try:
            _write(trips, fmt, out)
        finally:
            if out is not sys.stdout:
                out.close()
        if out is not sys.stdout:
            print(f"wrote {len(trips)} round trips to {args.output}", file=sys.stderr)
        return 0
    except BrokenPipeError:  # a reader that went away (| head): the CLI's main ends quietly
        raise
    except OSError as exc:
        return _fail(f"journal {args.kind}: {exc.strerror or exc}: {getattr(exc, 'filename', '') or ''}".rstrip(": "))
    finally:
        store.close()


def _write(trips: list, fmt: str, out: Any) -> None:
    from terminal.services.journal import EXPORT_FIELDS, trip_json

    rows = [trip_json(t) for t in trips]
    if fmt == "json":
        json.dump(rows, out, indent=1)
        out.write("\n")
        return
    if fmt == "csv":
        writer = csv.DictWriter(out, EXPORT_FIELDS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "tags": ";".join(row["tags"])})
        return
    if not trips:
        print("no round trips in the journal yet (fills and saved backtest runs appear here)", file=out)
        return
    print(" ".join(f"{name:>{width}}" if width else name for name, width in LS_COLUMNS), file=out)
    for t in trips:
        cells = [f"{t.exit_time:%Y-%m-%d %H:%M}", t.source, t.symbol, t.side, f"{t.quantity:g}", f"{t.entry_price:.4f}",
                 f"{t.exit_price:.4f}", f"{t.pnl:,.2f}", "" if t.r_multiple is None else f"{t.r_multiple:.2f}",
                 "" if t.mae is None else f"{t.mae:,.2f}", "" if t.mfe is None else f"{t.mfe:,.2f}", ",".join(t.tags)]
        print(" ".join(f"{c:>{w}}" if w else c for c, (_, w) in zip(cells, LS_COLUMNS, strict=True)), file=out)


def _stats(journal: Any, args: argparse.Namespace) -> int:
    from terminal.services.journal import breakdown

    groups = breakdown(asyncio.run(journal.trips(args.source)), args.by)
    print(f"{args.by:<12} {'trades':>7} {'win rate':>9} {'P&L':>14} {'avg P&L':>12} {'avg R':>7}")
    for g in groups:
        r = "" if g.average_r is None else f"{g.average_r:.2f}"
        print(f"{g.group:<12} {g.trades:>7} {g.win_rate:>8.1%} {g.pnl:>14,.2f} {g.average_pnl:>12,.2f} {r:>7}")
    return 0


def _tag(journal: Any, args: argparse.Namespace) -> int:
    from terminal.cli_commands import _fail

    if args.tags is None and args.notes is None:
        return _fail("journal tag: give --tags a,b and/or --notes TEXT")
    tags = args.tags.split(",") if args.tags is not None else None
    try:
        trip = asyncio.run(journal.annotate(args.key, tags, args.notes))
    except KeyError:
        return _fail(f"journal tag: no round trip {args.key!r}; 'quant-terminal journal ls --json' shows the keys")
    print(f"{trip.key}: tags {', '.join(trip.tags) or '(none)'}; notes {trip.notes or '(none)'}")
    return 0


def _live(store: Any, args: argparse.Namespace) -> int:
    from terminal.services.strategies import fills_by_run

    runs = []
    by_run = fills_by_run(store)
    for r in store.live_runs.all():
        fills = by_run.get(r.run_id, [])
        position = sum(f.signed_quantity for f in fills)
        runs.append({"run": r.run_id, "strategy": r.strategy, "params": r.params, "symbol": r.symbol,
                     "bar_size": r.bar_size, "status": r.status, "position": position, "fills": len(fills),
                     "started": r.started, "stopped": r.stopped, "message": r.message})
    if args.json:
        json.dump(runs, sys.stdout, indent=1)
        print()
    elif not runs:
        print("no strategy has run live yet (the Strategies dock starts one)")
    for r in [] if args.json else runs:
        print(f"{r['run']:<16} {r['strategy']:<14} {r['symbol']:<8} {r['bar_size']:<8} {r['status']:<11} "
              f"position {r['position']:>8g}  {r['fills']:>4} fills  since {r['started'][:19]}  {r['message']}")
    return 0


def _compare_live(store: Any, journal: Any, args: argparse.Namespace) -> int:
    from terminal.cli_commands import _fail
    from terminal.domain import BarSize, DomainError
    from terminal.services.backtests import BacktestService
    from terminal.services.strategies import compare_live_run

    record = store.live_runs.get(args.live)
    if record is None:
        return _fail(f"journal compare: no live strategy run {args.live!r}; 'quant-terminal journal live' lists them")
    try:
        result, what, _ = asyncio.run(compare_live_run(store, BacktestService(store, journal=journal), record,
                                                       BarSize(record.bar_size)))
    except DomainError as exc:
        return _fail(f"journal compare: {exc}")
    return _print_comparison(result, what, args.json)


def _compare(journal: Any, args: argparse.Namespace) -> int:
    from terminal.cli_commands import _fail

    try:
        result, what = asyncio.run(journal.compare_with_run(args.run, args.source, args.tolerance_bars))
    except ValueError as exc:
        return _fail(f"journal compare: {exc}")
    return _print_comparison(result, what, args.json)


def _print_comparison(result: Any, what: str, as_json: bool) -> int:
    from terminal.services.journal import trip_json

    if as_json:
        json.dump({"compared": what, "slippage_cost": result.slippage_cost,
                   "matched": [{"backtest": trip_json(m.backtest), "actual": trip_json(m.actual),
                                "entry_slippage": m.entry_slippage, "exit_slippage": m.exit_slippage,
                                "slippage_cost": m.slippage_cost} for m in result.matched],
                   "missed": [trip_json(t) for t in result.missed],
                   "extra": [trip_json(t) for t in result.extra]}, sys.stdout, indent=1)
        print()
        return 0
    print(what)
    print(f"{len(result.matched)} matched · {len(result.missed)} missed · {len(result.extra)} extra · "
          f"slippage cost {result.slippage_cost:,.2f}")
    for m in result.matched:
        print(f"  matched {m.backtest.entry_time:%Y-%m-%d %H:%M} {m.backtest.side:<5} {m.backtest.symbol:<8} "
              f"entry {m.backtest.entry_price:.4f} → {m.actual.entry_price:.4f} ({m.entry_slippage:+.4f}), exit "
              f"{m.backtest.exit_price:.4f} → {m.actual.exit_price:.4f} ({m.exit_slippage:+.4f}), cost "
              f"{m.slippage_cost:,.2f}")
    for t in result.missed:
        print(f"  missed  {t.entry_time:%Y-%m-%d %H:%M} {t.side:<5} {t.symbol:<8} backtest P&L {t.pnl:,.2f}")
    for t in result.extra:
        print(f"  extra   {t.entry_time:%Y-%m-%d %H:%M} {t.side:<5} {t.symbol:<8} {t.source} P&L {t.pnl:,.2f}")
    return 0
