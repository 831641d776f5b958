"""``quant-terminal backtest``: run a stored or built-in strategy on stored bars and print the results."""

from __future__ import annotations

import argparse


def add_backtest_parser(commands: argparse._SubParsersAction) -> None:
    bt = commands.add_parser("backtest", help="backtest a strategy on stored bars")
    bt.add_argument("strategy", help="built-in template name, stored strategy name, or a .py file")
    bt.add_argument("--symbol", action="append", required=True, help="symbol (repeat for pairs)")
    bt.add_argument("--from", dest="start", help="first date (YYYY-MM-DD)")
    bt.add_argument("--to", dest="end", help="last date (YYYY-MM-DD)")
    bt.add_argument("--bar-size", default="1D")
    bt.add_argument("--param", action="append", default=[], metavar="K=V", help="strategy parameter (repeatable)")
    bt.add_argument("--engine", choices=["backtrader", "backtesting"], default="backtrader")
    bt.add_argument("--cash", type=float, default=100_000.0)
    bt.add_argument("--commission", type=float, default=0.0, help="commission as a fraction of value, e.g. 0.001")
    bt.add_argument("--time-limit", type=float, default=300.0, help="seconds before the worker is stopped")
    bt.add_argument("--json", action="store_true", help="print the result as JSON")
    bt.add_argument("--save", action="store_true", help="save the run in the store")
