"""Which engine runs a backtest or a grid: the one the user names, or with ``auto`` the fastest that can run it.

The choice is made in the terminal's (or the CLI's) own process from what the source declares
(``Declaration.vectorized``: a ``signals()`` hook found in the syntax tree), the number of
instruments and the size of the work, so no user code runs to make it; the reason is said to the user.

``auto`` picks the vectorized engine when the strategy states its rules as arrays, trades one
instrument, vectorbt is installed, and the work (bars × runs) is large enough to pay the engine's
start-up in each worker process (importing vectorbt and loading its compiled kernels: about 5 s,
the time backtrader needs for ~400k bar-runs on two cores). Otherwise backtrader: it runs every
strategy (``next`` with per-bar state, pairs and baskets).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from terminal.backtest.loader import Declaration

ENGINE_CHOICES = ("auto", "vectorized", "backtrader", "backtesting")
AUTO_MIN_BAR_RUNS = 500_000
VECTOR_INSTALL = "pip install 'quant-terminal[vector]'"


@dataclass(frozen=True)
class EngineChoice:
    engine: str
    reason: str


def vectorbt_installed() -> bool:
    return importlib.util.find_spec("vectorbt") is not None


def choose_engine(requested: str, declaration: Declaration, symbols: int, bars: int, runs: int = 1) -> EngineChoice:
    """The engine for ``runs`` runs of ``bars`` bars; ValueError when the named engine cannot run the strategy."""
    if requested not in ENGINE_CHOICES:
        raise ValueError(f"engine {requested!r} is not known; use one of {', '.join(ENGINE_CHOICES)}")
    name = declaration.class_name
    if requested == "vectorized":
        if not declaration.vectorized:
            raise ValueError(f"{name} defines no signals(), which the vectorized engine runs; use --engine "
                             "backtrader (or auto)")
        if declaration.exits:
            raise ValueError(f"{name} attaches stop or target exits to its orders, which signals() cannot state; "
                             "use --engine backtrader or backtesting")
        if symbols != 1:
            raise ValueError(f"the vectorized engine runs one instrument, not {symbols}; use --engine backtrader")
        if not vectorbt_installed():
            raise ValueError(f"the vectorized engine needs vectorbt: {VECTOR_INSTALL}")
        return EngineChoice("vectorized", "chosen")
    if requested == "backtesting":
        if symbols != 1:
            raise ValueError(f"backtesting.py runs one instrument, not {symbols}; use --engine backtrader")
        return EngineChoice("backtesting", "chosen")
    if requested == "backtrader":
        return EngineChoice("backtrader", "chosen")
    work = bars * runs
    if not declaration.vectorized:
        why = f"auto: {name} has no signals() hook (per-bar state in next())"
    elif declaration.exits:
        why = f"auto: {name} attaches stop or target exits to its orders (event engines only)"
    elif symbols != 1:
        why = f"auto: {symbols} instruments (the vectorized engine runs one)"
    elif not vectorbt_installed():
        why = f"auto: vectorbt is not installed ({VECTOR_INSTALL})"
    elif work < AUTO_MIN_BAR_RUNS:
        why = (f"auto: {work:,} bar-runs, fewer than the {AUTO_MIN_BAR_RUNS:,} that pay the vectorized engine's "
               "start-up")
    else:
        return EngineChoice("vectorized", f"auto: {name} has signals(), {work:,} bar-runs")
    return EngineChoice("backtrader", why)
