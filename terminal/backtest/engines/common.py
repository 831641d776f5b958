"""What every engine adapter returns, and arrays built from bar frames."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from terminal.backtest.api import Data


@dataclass
class EngineOutput:
    equity: pd.Series
    trades: list[dict]  # symbol, size, entry_time, entry_price, exit_time, exit_price, pnl, entry_bar, exit_bar
    exposure: float
    notes: list[str] = field(default_factory=list)
    trace: dict | None = None  # orders, fills and indicators per bar, when a step-through asked (backtrader)


def data_from_frame(symbol: str, frame: pd.DataFrame) -> Data:
    return Data(symbol, frame.index.as_unit("ns").asi8.copy(), *(frame[c].to_numpy(dtype=float) for c in
                                                   ("open", "high", "low", "close", "volume")))


def trade_record(symbol: str, times: np.ndarray, size: float, entry_bar: int, entry_price: float, exit_bar: int,
                 exit_price: float) -> dict:
    """One round trip as every engine reports it (P&L before commission)."""
    return {"symbol": symbol, "size": size, "entry_bar": entry_bar, "exit_bar": exit_bar,
            "entry_time": pd.Timestamp(times[entry_bar], tz="UTC").isoformat(),
            "exit_time": pd.Timestamp(times[exit_bar], tz="UTC").isoformat(),
            "entry_price": entry_price, "exit_price": exit_price, "pnl": size * (exit_price - entry_price)}


class FifoTrades:
    """Round-trip trades from fills, first in first out, per symbol (partial closes split trades)."""

    def __init__(self, times: dict[str, np.ndarray]) -> None:
        self.open: dict[str, list[list]] = {}
        self.closed: list[dict] = []
        self._times = times

    def fill(self, symbol: str, bar: int, size: float, price: float, commission: float = 0.0, reason: str = "",
             stop: float | None = None, target: float | None = None) -> None:
        """``reason``: "stop" or "target" when an attached exit filled; ``stop``/``target``: the exits an entry
        carried (a trade records them, and how it ended)."""
        lots = self.open.setdefault(symbol, [])
        remaining = size
        while remaining and lots and (lots[0][0] > 0) != (remaining > 0):
            lot = lots[0]
            qty = min(abs(remaining), abs(lot[0]))
            sign = 1 if lot[0] > 0 else -1
            trade = self._trade(symbol, sign * qty, lot[1], lot[2], bar, price)
            if lot[3] is not None or lot[4] is not None:
                trade.update(stop=lot[3], target=lot[4], exit_reason=reason or "order")
            self.closed.append(trade)
            lot[0] -= sign * qty
            remaining += sign * qty
            if abs(lot[0]) < 1e-12:
                lots.pop(0)
        if abs(remaining) > 1e-12:
            lots.append([remaining, bar, price, stop, target])

    def _trade(self, symbol: str, size: float, entry_bar: int, entry_price: float, exit_bar: int,
               exit_price: float) -> dict:
        return trade_record(symbol, self._times[symbol], size, entry_bar, entry_price, exit_bar, exit_price)

    def close_all(self, last_bar: dict[str, int], last_price: dict[str, float]) -> None:
        """Positions still open at the end become trades marked to the last close, flagged ``open``."""
        for symbol, lots in self.open.items():
            for size, bar, price, stop, target in lots:
                trade = self._trade(symbol, size, bar, price, last_bar[symbol], last_price[symbol])
                trade["open"] = True
                if stop is not None or target is not None:
                    trade.update(stop=stop, target=target, exit_reason="open")
                self.closed.append(trade)
        self.open.clear()
