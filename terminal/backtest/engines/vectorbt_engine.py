"""The Strategy API's vectorized hook on vectorbt: a whole grid of parameter sets in one simulation.

Why vectorbt: it simulates many columns of orders in one compiled (numba) loop, keeps fills,
fees and positions as records we can read back as trades, and lets the order size be a
target (``TargetAmount``/``TargetPercent``) valued at a price we choose — which is what our
sizing rule needs. backtesting.py and backtrader run one parameter set per call.

The same documented rules as the event engines (``runner.COMPARABILITY``):

- a decision after bar i's close fills at bar i+1's open; a decision on the last bar never fills;
- a position is sized when it is opened or reversed: fixed units (the strategy's ``units`` or the
  run's sizing rule), or ``floor(equity × percent / close)`` with equity and close of the decision
  bar — vectorbt values the account at ``val_price`` = the previous close, and rounds to whole units;
- commission is a rate on the traded value; slippage moves the fill price against the order and is
  capped at the fill bar's high (buys) or low (sells), as backtrader's ``set_slippage_perc`` does;
- equity is cash plus positions marked at each close; a position still open at the end is a trade
  marked to the last close and flagged ``open``.

One difference remains, and is reported: the decisions are taken before the simulation, so they
cannot see a refused fill. When the cash cannot pay an order at the open, vectorbt cuts it to what
the cash pays, where backtrader refuses it (order status Margin) and the strategy may decide again on
a later bar. Measured on GOOG daily with 95 % sizing: 2 orders of 120 (sma_cross, ts_momentum); none
at 50 %. The run's notes say how many orders that touched.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from terminal.backtest.api import Data, Sizing, Strategy, indicator_cache, is_vectorized
from terminal.backtest.engines.common import EngineOutput, data_from_frame, trade_record

# Columns simulated together: bounds memory (a few float arrays of bars × columns) for any grid size.
CHUNK_COLUMNS = 64


class _NoBroker:
    """``signals`` decides from arrays; a strategy that asks the broker there gets a clear error."""

    def _refuse(self, *_args: Any) -> float:
        raise RuntimeError("signals() must not place orders or read the position; it returns the wanted positions")

    buy = sell = position = equity = _refuse


@dataclass
class Plan:
    """One parameter set's orders: the new position on each fill bar (NaN elsewhere) and its sizing."""

    params: dict[str, Any]
    orders: np.ndarray | None  # None when the strategy failed for these parameters
    units: float
    error: str = ""


def plan(strategy_cls: type[Strategy], datas: dict[str, Data], params: dict[str, Any], sizing: Sizing) -> Plan:
    """Run the strategy's ``init`` and ``signals`` for one parameter set (user code: in a worker only)."""
    from terminal.backtest.engines.kernels import orders_from_wanted

    strategy = strategy_cls(datas, params, _NoBroker(), sizing)  # type: ignore[arg-type]
    strategy.init()
    wanted = np.asarray(strategy.signals(), dtype=float)
    length = len(strategy.data)
    if wanted.shape != (length,):
        raise ValueError(f"signals() returned shape {wanted.shape}; it must return one value per bar ({length})")
    bad = ~np.isnan(wanted) & ~np.isin(wanted, (-1.0, 0.0, 1.0))
    if bad.any():
        first = int(np.argmax(bad))
        raise ValueError(f"signals()[{first}] is {wanted[first]!r}; use +1 (long), -1 (short), 0 (flat) or NaN")
    units = float(strategy.units() or sizing.units or 0.0)
    return Plan(params, orders_from_wanted(wanted), units)


def simulate(data: Data, plans: Sequence[Plan], cash: float, commission: float, slippage: float,
             sizing: Sizing) -> Any:
    """One vectorbt simulation of the plans' orders, a column each; returns the Portfolio."""
    import vectorbt as vbt
    from vectorbt.portfolio.enums import SizeType

    length = len(data)
    percent = sizing.percent if sizing.percent > 0 else 0.95
    size = np.column_stack([p.orders for p in plans])
    fixed = np.array([p.units > 0 for p in plans])
    size = size * np.where(fixed, [p.units for p in plans], percent)
    size_type = np.where(fixed, SizeType.TargetAmount, SizeType.TargetPercent)
    previous_close = np.empty(length)
    previous_close[0] = data.open[0]
    previous_close[1:] = data.close[:-1]
    price: np.ndarray = data.open[:, None]
    if slippage:
        # Direction of each order: towards the new position from the one before it (filled forward).
        held = pd.DataFrame(size).ffill().fillna(0.0).to_numpy()
        before = np.vstack([np.zeros((1, len(plans))), held[:-1]])
        buying = held > before
        price = np.where(buying, np.minimum(data.open[:, None] * (1 + slippage), data.high[:, None]),
                         np.maximum(data.open[:, None] * (1 - slippage), data.low[:, None]))
    return vbt.Portfolio.from_orders(
        close=data.close[:, None], size=size, size_type=size_type[None, :], price=price,
        val_price=previous_close[:, None], fees=commission, size_granularity=1.0, init_cash=cash,
        ffill_val_price=True, update_value=False, log=True)


def _round_trips(portfolio: Any, data: Data) -> dict[str, np.ndarray]:
    """vectorbt's entry trades as signed arrays; a trade still open is marked to the last close."""
    records = portfolio.entry_trades.values
    still_open = records["status"] == 0
    size = records["size"] * np.where(records["direction"] == 0, 1.0, -1.0)
    exit_bar = np.where(still_open, len(data) - 1, records["exit_idx"])
    exit_price = np.where(still_open, data.close[-1], records["exit_price"])
    return {"col": records["col"], "size": size, "entry_bar": records["entry_idx"],
            "entry_price": records["entry_price"], "exit_bar": exit_bar, "exit_price": exit_price,
            "open": still_open, "pnl": size * (exit_price - records["entry_price"])}


def _trades(trips: dict[str, np.ndarray], data: Data, col: int) -> list[dict]:
    """One column's round trips in the trade dict every engine reports."""
    out = []
    for k in np.flatnonzero(trips["col"] == col):
        trade = trade_record(data.symbol, data.time, float(trips["size"][k]), int(trips["entry_bar"][k]),
                             float(trips["entry_price"][k]), int(trips["exit_bar"][k]), float(trips["exit_price"][k]))
        if trips["open"][k]:
            trade["open"] = True
        out.append(trade)
    return out


def _cut_orders(portfolio: Any, columns: int) -> np.ndarray:
    """Per column: orders that left a position other than the one asked for (the cash could not pay them)."""
    from vectorbt.portfolio.enums import SizeType

    logs = portfolio.logs.values
    percent = logs["req_size_type"] == SizeType.TargetPercent
    with np.errstate(divide="ignore", invalid="ignore"):
        asked = np.where(percent, np.trunc(logs["req_size"] * logs["value"] / logs["val_price"]), logs["req_size"])
    short = np.abs(logs["new_position"] - asked) >= 1
    return np.bincount(logs["col"][short], minlength=columns)


def one_frame(frames: dict[str, pd.DataFrame]) -> tuple[str, pd.DataFrame]:
    if len(frames) != 1:
        raise ValueError("the vectorized engine runs one instrument; run pairs and baskets on backtrader")
    [(symbol, frame)] = frames.items()
    return symbol, frame


def check_vectorized(strategy_cls: type[Strategy]) -> None:
    if not is_vectorized(strategy_cls):
        raise ValueError(f"{strategy_cls.__name__} defines no signals(); the vectorized engine needs them "
                         "(use --engine backtrader or auto)")


def run_vectorized(strategy_cls: type[Strategy], frames: dict[str, pd.DataFrame], params: dict, cash: float,
                   commission: float = 0.0, slippage: float = 0.0, sizing: Sizing | None = None,
                   progress: Callable[[float], None] | None = None) -> EngineOutput:
    """One run, with the same result shape as the event engines."""
    sizing = sizing or Sizing(percent=0.95)
    check_vectorized(strategy_cls)
    symbol, frame = one_frame(frames)
    data = data_from_frame(symbol, frame)
    one = plan(strategy_cls, {symbol: data}, params, sizing)
    if progress is not None:
        progress(0.3)
    portfolio = simulate(data, [one], cash, commission, slippage, sizing)
    equity = pd.Series(portfolio.value().to_numpy()[:, 0], index=frame.index)
    exposure = float((portfolio.assets().to_numpy()[:, 0] != 0).mean())
    cut = int(_cut_orders(portfolio, 1)[0])
    notes = [f"{cut} order(s) were cut to the cash at the open (vectorbt does not lend; backtrader refuses "
             "such an order)"] if cut else []
    return EngineOutput(equity, _trades(_round_trips(portfolio, data), data, 0), exposure, notes)


def run_grid(strategy_cls: type[Strategy], frames: dict[str, pd.DataFrame], param_sets: Sequence[dict],
             cash: float, commission: float, slippage: float, sizing: Sizing, periods_per_year: float,
             guard: Callable[[dict, Callable[[], Plan]], Plan] | None = None) -> Iterator[list[dict[str, Any]]]:
    """Rows of statistics (parameters, statistics, ``error``), a chunk of columns at a time. Indicators are
    computed once per distinct window across the grid. ``guard`` wraps each parameter set's user code (the
    optimizer's per-run time limit)."""
    from terminal.analytics.stats import matrix_statistics

    check_vectorized(strategy_cls)
    symbol, frame = one_frame(frames)
    data = data_from_frame(symbol, frame)
    datas = {symbol: data}
    benchmark = float(data.close[-1] / data.close[0] - 1) if len(data) > 1 else math.nan
    with indicator_cache():
        for start in range(0, len(param_sets), CHUNK_COLUMNS):
            plans = []
            for params in param_sets[start:start + CHUNK_COLUMNS]:
                def build(params: dict = params) -> Plan:
                    return plan(strategy_cls, datas, params, sizing)
                try:
                    plans.append(guard(params, build) if guard is not None else build())
                except Exception as exc:  # the strategy failed for these parameters: an error row, the grid goes on
                    plans.append(Plan(params, None, 0.0, f"{type(exc).__name__}: {exc}"))
            ok = [p for p in plans if p.orders is not None]
            stats: list[dict[str, float]] = []
            if ok:
                portfolio = simulate(data, ok, cash, commission, slippage, sizing)
                trips = _round_trips(portfolio, data)  # P&L per column from arrays: no trade dicts in the grid
                value = portfolio.value()
                stats = matrix_statistics(value.to_numpy(),
                                          [trips["pnl"][trips["col"] == k] for k in range(len(ok))],
                                          (portfolio.assets().to_numpy() != 0).mean(axis=0), periods_per_year,
                                          data.time)
                for row in stats:
                    row["benchmark_return"] = benchmark
            done = iter(stats)
            yield [{**p.params, **next(done), "error": ""} if p.orders is not None else {**p.params, "error": p.error}
                   for p in plans]


def warm_up() -> None:
    """Import vectorbt and run a three-bar simulation with the argument types a grid uses: numba compiles (or
    loads from its on-disk cache) the kernels now, once per process, instead of in the first run."""
    from terminal.backtest.engines.kernels import orders_from_wanted

    bars = np.array([100.0, 101.0, 102.0])
    data = Data("WARM", np.arange(3, dtype=np.int64), bars, bars + 1, bars - 1, bars, np.ones(3))
    plans = [Plan({}, orders_from_wanted(np.array([1.0, np.nan, 0.0])), 0.0),
             Plan({}, orders_from_wanted(np.array([-1.0, np.nan, np.nan])), 1.0)]
    portfolio = simulate(data, plans, 1e4, 0.001, 0.001, Sizing(percent=0.95))
    _round_trips(portfolio, data)
    _cut_orders(portfolio, len(plans))
    portfolio.value()
    portfolio.assets()
