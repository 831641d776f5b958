"""Command line: ``quant-terminal`` starts the GUI; sub-commands run the simulator and headless tools."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from terminal.config import ConfigError, Settings, load_settings

EXIT_USAGE = 2
EXIT_FAILED = 1


def _global_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("settings (also in config.toml or QT_* environment variables)")
    group.add_argument("--config", type=Path, help="TOML config file (default: the platform config dir)")
    group.add_argument("--db", dest="db_url", help="database URL: sqlite:///PATH or mysql+pymysql://USER:PASS@HOST/DB")
    group.add_argument("--data-dir", help="folder for the SQLite file and archives")
    group.add_argument("--ib", help="connect to TWS / IB Gateway at HOST:PORT[:CLIENT_ID] instead of the simulator")
    group.add_argument("--client-id", type=int, help="IB API client id")
    group.add_argument("--theme", choices=["dark", "light"])
    group.add_argument("--sim-seed", type=int, help="seed of the built-in simulator's prices")
    group.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="quant-terminal",
        description="QuantTerminal: trading terminal for Interactive Brokers with a built-in exchange simulator.",
    )
    _global_options(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    commands.add_parser("gui", help="start the terminal window (the default)")

    sim = commands.add_parser("sim", help="run the exchange simulator as a TWS-protocol server")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=7497)
    sim.add_argument("--seed", type=int)
    sim.add_argument("--symbols", help="comma-separated symbols to offer (default: the whole universe)")
    sim.add_argument("--replay", action="append", default=[], metavar="SYMBOL",
                     help="replay this symbol's stored bars instead of a random path (repeatable)")
    sim.add_argument("--replay-bar-size", default="1D", help="bar size of the replayed bars (default 1D)")

    imp = commands.add_parser("import", help="import bars from a file")
    imp_kind = imp.add_subparsers(dest="kind", metavar="KIND", required=True)
    csv = imp_kind.add_parser("csv", help="OHLCV CSV with a header (Date, Open, High, Low, Close[, Volume])")
    csv.add_argument("file", type=Path)
    _instrument_options(csv)
    csv.add_argument("--bar-size", help="1m, 5m, 15m, 1h, 1D (default: inferred from the timestamps)")
    csv.add_argument("--tz", default="UTC", help="time zone of naive timestamps (default UTC)")

    fetch = commands.add_parser("fetch", help="download history from a data source into the store")
    fetch_kind = fetch.add_subparsers(dest="kind", metavar="SOURCE", required=True)
    q = fetch_kind.add_parser("quandl", help="Nasdaq Data Link (quandl) dataset, e.g. WIKI/AAPL")
    q.add_argument("code")
    q.add_argument("--symbol", help="store under this symbol (default: the dataset code after '/')")
    q.add_argument("--start")
    q.add_argument("--end")
    q.add_argument("--api-base", help="API base URL (default https://data.nasdaq.com/api/v3)")

    bars = commands.add_parser("bars", help="print stored bars of a symbol (or a summary of everything)")
    bars.add_argument("symbol", nargs="?")
    bars.add_argument("--bar-size", default="1D")
    bars.add_argument("--tail", type=int, default=20, help="how many of the newest bars to print")

    commands.add_parser("config", help="print the effective settings and where each came from")

    from terminal.cli_backtest import add_backtest_parser

    add_backtest_parser(commands)
    return parser


def _instrument_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--symbol", required=True)
    parser.add_argument("--sec-type", default="STK", choices=["STK", "FUT", "CASH", "IND"])
    parser.add_argument("--exchange", default="SMART")
    parser.add_argument("--currency", default="USD")
    parser.add_argument("--tick-size", type=float, default=0.01)
    parser.add_argument("--multiplier", type=float, default=1.0)


def settings_from_args(args: argparse.Namespace) -> Settings:
    overrides = {
        name: getattr(args, name, None)
        for name in ("db_url", "data_dir", "ib", "client_id", "theme", "sim_seed", "log_level")
    }
    return load_settings(config_path=args.config, overrides=overrides)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = settings_from_args(args)
    except ConfigError as exc:
        print(f"quant-terminal: {exc}", file=sys.stderr)
        return EXIT_USAGE
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    command = args.command or "gui"
    from terminal import cli_commands

    handler = {
        "gui": cli_commands.run_gui,
        "sim": cli_commands.run_sim,
        "import": cli_commands.run_import,
        "fetch": cli_commands.run_fetch,
        "bars": cli_commands.run_bars,
        "config": cli_commands.run_config,
        "backtest": cli_commands.run_backtest,
        "optimize": cli_commands.run_optimize,
    }[command]
    try:
        return handler(args, settings)
    except KeyboardInterrupt:
        return 130
