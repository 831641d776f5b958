"""Command line: ``quant-terminal`` starts the GUI; sub-commands run the simulator and headless tools.

Every bad input ends in one line on stderr and a non-zero exit code: usage errors exit 2, failed
commands 1, and an unexpected exception is summed up in one line unless ``--log-level DEBUG``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path

from terminal.cli_args import (
    http_url,
    iso_date,
    log_level,
    non_negative_int,
    port_number,
    positive_float,
    positive_int,
    timezone_name,
)
from terminal.config import ConfigError, Settings, load_settings

EXIT_USAGE = 2
EXIT_FAILED = 1
EXIT_BROKEN_PIPE = 141  # what a shell reports for a writer killed by SIGPIPE
EXIT_INTERRUPTED = 130


class _VersionAction(argparse.Action):
    """``--version``: the terminal's version and its parts' (Qt, IB client, engines), read without importing them."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="print the version (and those of Qt, the IB client, backtrader) and exit")

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        from terminal.versions import version_text

        print(version_text())
        parser.exit(0)


def _window_options(parser: argparse.ArgumentParser, default: object = None) -> None:
    parser.add_argument("--exit-after", type=positive_float, metavar="SECONDS", default=default,
                        help="close the window this long after it first shows (smoke tests, start-up timing); "
                             "exits non-zero if an error was logged meanwhile")


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors on one line (argparse prints the whole usage block first)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        message = message.removeprefix("argument ")
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see '{self.prog} --help')\n")


def _global_options(parser: argparse.ArgumentParser, default: object = None) -> None:
    """The settings flags; sub-commands get them with ``default=SUPPRESS`` so that a flag given after the
    command overrides one before it, and one given only before it is kept."""
    title = ("settings (also in config.toml or QT_* environment variables)" if default is None
             else "settings (also accepted before the command)")
    group = parser.add_argument_group(title)
    options: list[tuple[str, dict]] = [
        ("--config", {"type": Path, "help": "TOML config file (default: the platform config dir)"}),
        ("--db", {"dest": "db_url",
                  "help": "database URL: sqlite:///PATH or mysql+pymysql://USER:PASS@HOST/DB"}),
        ("--data-dir", {"help": "folder for the SQLite file and archives"}),
        ("--ib", {"help": "connect to TWS / IB Gateway at HOST:PORT[:CLIENT_ID] instead of the simulator"}),
        ("--client-id", {"type": non_negative_int, "help": "IB API client id"}),
        ("--feed", {"metavar": "kafka://HOST:PORT",
                    "help": "run on the desk bus: market data and orders through the desk hub (quant-terminal hub)"}),
        ("--trader", {"help": "who sends this terminal's orders on the desk bus (default: the login name)"}),
        ("--desk-role", {"choices": ["trader", "desk"],
                         "help": "on the desk bus: trader (own orders only, the default) or desk (every order)"}),
        ("--theme", {"choices": ["dark", "light"]}),
        ("--sim-seed", {"type": non_negative_int, "help": "seed of the built-in simulator's prices"}),
        ("--tick-rate", {"dest": "sim_tick_rate", "type": positive_float, "metavar": "N",
                         "help": "simulator: quotes per second per instrument (default 4; far more for stress tests)"}),
        ("--universe", {"dest": "sim_universe", "type": Path, "metavar": "FILE",
                        "help": "simulator: CSV of instruments (symbol,price[,name,sector,primary_exchange,"
                                "volatility,con_id,pair_with]) instead of the built-in S&P 500"}),
        ("--monitor", {"metavar": "HOST:PORT",
                       "help": "serve the read-only monitor (API + web page) from the terminal at HOST:PORT; "
                               "off loopback it needs QT_MONITOR_TOKEN"}),
        ("--log-level", {"type": log_level, "metavar": "{DEBUG,INFO,WARNING,ERROR}"}),
    ]
    for flag, kwargs in options:
        if flag not in parser._option_string_actions:  # a sub-command's own option of that name wins
            group.add_argument(flag, default=default, **kwargs)


def _subparsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """Every sub-command parser below ``parser``, nested ones too (``import csv``), each once."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in {id(p): p for p in action.choices.values()}.values():
                yield sub
                yield from _subparsers(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="quant-terminal",
        description="QuantTerminal: trading terminal for Interactive Brokers with a built-in exchange simulator.",
    )
    parser.add_argument("--version", action=_VersionAction)
    _window_options(parser)
    _global_options(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    _window_options(commands.add_parser("gui", help="start the terminal window (the default)"), argparse.SUPPRESS)

    sim = commands.add_parser("sim", help="run the exchange simulator as a TWS-protocol server")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=port_number, default=7497, help="TCP port (default 7497; 0 picks a free one)")
    sim.add_argument("--seed", type=non_negative_int)
    sim.add_argument("--symbols", help="comma-separated symbols to offer (default: the whole universe)")
    sim.add_argument("--replay", action="append", default=[], metavar="SYMBOL",
                     help="replay this symbol's stored bars instead of a random path (repeatable)")
    sim.add_argument("--replay-bar-size", default="1D", help="bar size of the replayed bars (default 1D)")
    _replay_options(sim, "--replay-archive")
    sim.add_argument("--parent-watch", action="store_true",
                     help="for the terminal: print 'QT-SIM READY HOST PORT' once listening and exit when the "
                          "starting process ends (its stdin closes), even if it was killed")

    replay = commands.add_parser("replay", help="open the terminal on a replay of recorded market data")
    _replay_options(replay, "--archive")

    imp = commands.add_parser("import", help="import bars from a file")
    imp_kind = imp.add_subparsers(dest="kind", metavar="KIND", required=True)
    csv = imp_kind.add_parser("csv", help="OHLCV CSV with a header (Date, Open, High, Low, Close[, Volume])")
    csv.add_argument("file", type=Path)
    _instrument_options(csv)
    csv.add_argument("--bar-size", help="1m, 5m, 15m, 1h, 1D (default: inferred from the timestamps)")
    csv.add_argument("--tz", type=timezone_name, default="UTC",
                     help="time zone of timestamps without a UTC offset (default UTC)")

    fetch = commands.add_parser("fetch", help="download history from a data source into the store")
    fetch_kind = fetch.add_subparsers(dest="kind", metavar="SOURCE", required=True)
    q = fetch_kind.add_parser("quandl", help="Nasdaq Data Link (quandl) dataset, e.g. WIKI/AAPL")
    q.add_argument("code")
    q.add_argument("--symbol", help="store under this symbol (default: the dataset code after '/')")
    q.add_argument("--start", type=iso_date, help="first date (YYYY-MM-DD)")
    q.add_argument("--end", type=iso_date, help="last date (YYYY-MM-DD)")
    q.add_argument("--api-base", type=http_url, help="API base URL (default https://data.nasdaq.com/api/v3)")

    bars = commands.add_parser("bars", help="print stored bars of a symbol (or a summary of everything)")
    bars.add_argument("symbol", nargs="?")
    bars.add_argument("--bar-size", default="1D")
    bars.add_argument("--tail", type=positive_int, default=20, help="how many of the newest bars to print (≥ 1, default 20)")

    commands.add_parser("config", help="print the effective settings and where each came from")

    monitor = commands.add_parser(
        "monitor", help="serve the read-only monitor for a desk from the shared store, or print an nginx.conf for it")
    monitor.add_argument("--listen", default="127.0.0.1:8765", metavar="HOST:PORT",
                         help="address of the monitor (default 127.0.0.1:8765; off loopback it needs QT_MONITOR_TOKEN)")
    nginx = monitor.add_argument_group("nginx in front of monitors (with --nginx-config)")
    nginx.add_argument("--nginx-config", action="store_true", help="print a complete nginx.conf and exit")
    nginx.add_argument("--port", type=port_number, help="port nginx listens on")
    nginx.add_argument("--bind", default="127.0.0.1", help="address nginx listens on (default 127.0.0.1)")
    nginx.add_argument("--upstream", action="append", default=[], metavar="HOST:PORT",
                       help="a monitor behind nginx (repeatable: requests go to any healthy one)")
    nginx.add_argument("--htpasswd", type=Path, metavar="FILE", help="basic auth users (htpasswd -c FILE USER)")
    nginx.add_argument("--prefix", type=Path, metavar="DIR",
                       help="nginx's private folder (pid, logs, temp; default: the data dir's nginx/); the "
                            "config is also written there as nginx.conf")
    nginx.add_argument("--tls-cert", type=Path, metavar="FILE", help="TLS certificate (PEM); with --tls-key")
    nginx.add_argument("--tls-key", type=Path, metavar="FILE", help="TLS private key (PEM)")
    nginx.add_argument("--rate", type=positive_float, default=20.0,
                       help="requests per second per client before 429 (default 20)")

    from terminal.cli_archive import add_archive_parsers
    from terminal.cli_backfill import add_backfill_parser
    from terminal.cli_backtest import add_backtest_parser
    from terminal.cli_bus import add_bus_parsers
    from terminal.cli_cluster import add_cluster_parser
    from terminal.cli_journal import add_journal_parser

    add_backtest_parser(commands)
    add_cluster_parser(commands)
    add_backfill_parser(commands)
    add_archive_parsers(commands)
    add_bus_parsers(commands)
    add_journal_parser(commands)
    for sub in _subparsers(parser):
        _global_options(sub, default=argparse.SUPPRESS)
    return parser


def _replay_options(parser: argparse.ArgumentParser, archive_flag: str) -> None:
    group = parser.add_argument_group("market replay")
    group.add_argument(archive_flag, dest="replay_archive", metavar="URL",
                       help="replay this archive's recorded ticks (a path, nfs://… or hdfs://…)"
                            + ("" if archive_flag == "--replay-archive" else "; default: the data dir's archive"))
    group.add_argument("--from", dest="replay_from", metavar="'YYYY-MM-DD HH:MM'",
                       help="start here (default: the start of the recording); in --tz")
    group.add_argument("--tz", dest="replay_tz", type=timezone_name, default="America/New_York",
                       help="time zone of --from (default America/New_York)")
    group.add_argument("--speed", dest="replay_speed", type=positive_float, default=1.0,
                       help="replay speed, 1 = real time (default 1; up to 1000)")
    group.add_argument("--paused", dest="replay_paused", action="store_true",
                       help="wait for Play instead of starting with the first market-data subscription")
    if archive_flag != "--replay-archive":
        group.add_argument("--symbols", dest="replay_symbols", help="comma-separated symbols (default: all recorded)")


def _instrument_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--symbol", required=True)
    parser.add_argument("--sec-type", default="STK", choices=["STK", "FUT", "CASH", "IND"])
    parser.add_argument("--exchange", default="SMART")
    parser.add_argument("--currency", default="USD")
    parser.add_argument("--tick-size", type=positive_float, default=0.01)
    parser.add_argument("--multiplier", type=positive_float, default=1.0)


def settings_from_args(args: argparse.Namespace) -> Settings:
    overrides = {
        name: getattr(args, name, None)
        for name in ("db_url", "data_dir", "ib", "client_id", "theme", "sim_seed", "sim_tick_rate", "sim_universe",
                     "monitor", "log_level", "feed", "trader", "desk_role")
    }
    if args.config is not None and not args.config.exists():  # load_settings reads a missing file as none
        raise ConfigError(f"--config {args.config}: no such file; give an existing TOML file")
    return load_settings(config_path=args.config, overrides=overrides)


def _command_name(args: argparse.Namespace) -> str:
    return " ".join(filter(None, (args.command or "gui", getattr(args, "kind", None))))


def _handler(command: str):  # type: ignore[no-untyped-def]
    from terminal import cli_archive, cli_bus, cli_cluster, cli_commands, cli_journal

    return {
        "cluster": lambda args, _settings: cli_cluster.run_cluster(args),
        "hub": cli_bus.run_hub,
        "order": cli_bus.run_order,
        "record": cli_archive.run_record,
        "replay": cli_archive.run_replay,
        "archive": cli_archive.run_archive,
        "gui": cli_commands.run_gui,
        "sim": cli_commands.run_sim,
        "import": cli_commands.run_import,
        "fetch": cli_commands.run_fetch,
        "bars": cli_commands.run_bars,
        "config": cli_commands.run_config,
        "monitor": cli_commands.run_monitor,
        "backtest": cli_commands.run_backtest,
        "optimize": cli_commands.run_optimize,
        "backfill": cli_commands.run_backfill,
        "journal": cli_journal.run_journal,
    }[command]


def _report_unexpected(args: argparse.Namespace, exc: Exception, debug: bool) -> int:
    text = str(exc).strip()
    line = f"quant-terminal: {_command_name(args)} failed: {type(exc).__name__}: {text.splitlines()[0] if text else '-'}"
    if debug:
        traceback.print_exc(file=sys.stderr)
        print(line, file=sys.stderr)
    else:
        print(f"{line} (run with --log-level DEBUG for the traceback)", file=sys.stderr)
    return EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    try:
        code = _parse_and_run(argv)
        sys.stdout.flush()  # a reader that went away (| head) shows here, not at interpreter exit
        return code
    except BrokenPipeError:
        # Python's recipe: point stdout at devnull so that the flush at exit cannot fail again.
        with contextlib.suppress(OSError, ValueError):  # no file descriptor when stdout is captured
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _parse_and_run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    debug = (args.log_level or os.environ.get("QT_LOG_LEVEL", "")).upper() == "DEBUG"
    try:
        settings = settings_from_args(args)
        debug = settings.log_level == "DEBUG"
        logging.basicConfig(
            level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
        )
        return _handler(args.command or "gui")(args, settings)
    except ConfigError as exc:
        print(f"quant-terminal: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        raise
    except Exception as exc:  # the safety net: a bug or an unforeseen input still ends in one line
        return _report_unexpected(args, exc, debug)
