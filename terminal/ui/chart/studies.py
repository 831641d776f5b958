"""Indicator studies on a BarSeries: full computation once, then a one-bar update per live tick."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from terminal.analytics import indicators as ind
from terminal.domain import ValidationError
from terminal.ui.chart.data import HIGH, LOW, VOLUME, BarSeries

# kind -> (pane, default parameters); pane "price" overlays the candles
STUDY_KINDS: dict[str, tuple[str, dict[str, float]]] = {
    "SMA": ("price", {"period": 50}),
    "EMA": ("price", {"period": 21}),
    "Bollinger": ("price", {"period": 20, "width": 2.0}),
    "VWAP": ("price", {}),
    "RSI": ("rsi", {"period": 14}),
    "MACD": ("macd", {"fast": 12, "slow": 26, "signal": 9}),
}


@dataclass
class Study:
    """One indicator with its parameters and output lines (name -> array, same length as the series)."""

    kind: str
    params: dict[str, float] = field(default_factory=dict)
    lines: dict[str, np.ndarray] = field(default_factory=dict)
    _state: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in STUDY_KINDS:
            raise ValidationError(f"study {self.kind!r} is not known; use one of {list(STUDY_KINDS)}")
        defaults = dict(STUDY_KINDS[self.kind][1])
        unknown = set(self.params) - set(defaults)
        if unknown:
            raise ValidationError(f"{self.kind} has no parameter {sorted(unknown)}; it takes {sorted(defaults)}")
        defaults.update(self.params)
        self.params = {k: (int(v) if k != "width" else float(v)) for k, v in defaults.items()}

    @property
    def pane(self) -> str:
        return STUDY_KINDS[self.kind][0]

    @property
    def label(self) -> str:
        values = ",".join(f"{v:g}" for v in self.params.values())
        return f"{self.kind}({values})" if values else self.kind

    def compute(self, s: BarSeries) -> None:
        """Whole-history computation (on set_data, timeframe or parameter change)."""
        c, p = s.close, self.params
        self._state = {}
        if self.kind == "SMA":
            self.lines = {"sma": ind.sma(c, p["period"])}
        elif self.kind == "EMA":
            self.lines = {"ema": ind.ema(c, p["period"])}
        elif self.kind == "Bollinger":
            mid, up, lo = ind.bollinger(c, p["period"], p["width"])
            self.lines = {"upper": up, "middle": mid, "lower": lo}
        elif self.kind == "VWAP":
            self.lines = {"vwap": ind.vwap(s.column(HIGH), s.column(LOW), c, s.column(VOLUME), _sessions(s))}
            typical = (s.column(HIGH) + s.column(LOW) + c) / 3.0
            self._state = {"pv": np.cumsum(typical * s.column(VOLUME)), "v": np.cumsum(s.column(VOLUME))}
        elif self.kind == "RSI":
            st = ind.rsi_state(c, p["period"])
            self.lines = {"rsi": st.rsi}
            self._state = {"gain": st.average_gain, "loss": st.average_loss}
        else:
            r = ind.macd(c, p["fast"], p["slow"], p["signal"])
            self.lines = {"macd": r.macd, "signal": r.signal, "histogram": r.histogram}
            self._state = {"fast": r.fast_ema, "slow": r.slow_ema}

    def update_last(self, s: BarSeries, appended: bool) -> dict[str, float]:
        """Refresh the last value of every line from a tail window or the previous bar's state."""
        n = len(s)
        if appended:
            for d in (self.lines, self._state):
                for k, v in d.items():
                    d[k] = _grown(v, n)
        c, p, i = s.close, self.params, n - 1
        if self.kind == "SMA":
            self.lines["sma"][i] = ind.sma_last(c[-p["period"]:], p["period"])
        elif self.kind == "EMA":
            self.lines["ema"][i] = _ema_tail(self.lines["ema"], c, i, p["period"])
        elif self.kind == "Bollinger":
            m, u, lo = ind.bollinger_last(c[-p["period"]:], p["period"], p["width"])
            self.lines["middle"][i], self.lines["upper"][i], self.lines["lower"][i] = m, u, lo
        elif self.kind == "VWAP":
            typical = (s.column(HIGH)[i] + s.column(LOW)[i] + c[i]) / 3.0
            pv, cv = self._state["pv"], self._state["v"]
            pv[i] = (pv[i - 1] if i else 0.0) + typical * s.column(VOLUME)[i]
            cv[i] = (cv[i - 1] if i else 0.0) + s.column(VOLUME)[i]
            j = _session_start(s)
            dp, dv = pv[i] - (pv[j - 1] if j else 0.0), cv[i] - (cv[j - 1] if j else 0.0)
            self.lines["vwap"][i] = dp / dv if dv > 0 else typical
        elif self.kind == "RSI":
            period = p["period"]
            if i > period and np.isfinite(self._state["gain"][i - 1]):
                r, g, lo = ind.rsi_step(self._state["gain"][i - 1], self._state["loss"][i - 1], c[i] - c[i - 1], period)
                self.lines["rsi"][i], self._state["gain"][i], self._state["loss"][i] = r, g, lo
            elif i == period:
                self.compute(s)
        else:
            fast = _ema_tail(self._state["fast"], c, i, p["fast"])
            slow = _ema_tail(self._state["slow"], c, i, p["slow"])
            self._state["fast"][i], self._state["slow"][i] = fast, slow
            line = fast - slow
            self.lines["macd"][i] = line
            prev = self.lines["signal"][i - 1] if i else np.nan
            sig = ind.ema_step(prev, line, p["signal"]) if np.isfinite(prev) else np.nan
            self.lines["signal"][i], self.lines["histogram"][i] = sig, line - sig
        return {k: float(v[i]) for k, v in self.lines.items()}


def _ema_tail(values: np.ndarray, close: np.ndarray, i: int, period: int) -> float:
    if i >= 1 and np.isfinite(values[i - 1]):
        return ind.ema_step(float(values[i - 1]), float(close[i]), period)
    return float(ind.ema(close[: i + 1], period)[-1]) if i + 1 >= period else np.nan


def _grown(values: np.ndarray, n: int) -> np.ndarray:
    """The same values with room for n entries; amortized O(1) by keeping spare capacity in .base."""
    if values.size >= n:
        return values[:n]
    base = values.base if isinstance(values.base, np.ndarray) and values.base.ndim == 1 else values
    if base.size >= n and np.shares_memory(base, values):
        out = base[:n]
        out[-1] = np.nan
        return out
    bigger = np.full(max(n, values.size * 2), np.nan)
    bigger[: values.size] = values
    return bigger[:n]


def _sessions(s: BarSeries) -> np.ndarray | None:
    """UTC day of each bar for intraday series (VWAP resets daily); None for daily bars."""
    if s.bar_size.seconds >= 86400:
        return None
    return s.times // np.int64(86_400 * 1_000_000_000)


def _session_start(s: BarSeries) -> int:
    """Index of the first bar of the last bar's UTC day (0 for daily bars: VWAP runs from the start)."""
    if s.bar_size.seconds >= 86400:
        return 0
    last = int(s.times[-1])
    return int(np.searchsorted(s.times, last - last % (86_400 * 1_000_000_000)))
