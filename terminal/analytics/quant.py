"""Statsmodels tools for pairs and mean reversion: cointegration, hedge ratio, half-life, z-score, ADF, Johansen."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm
from statsmodels.regression.rolling import RollingOLS
from statsmodels.tsa.stattools import adfuller, coint
from statsmodels.tsa.vector_ar.vecm import coint_johansen


@dataclass(frozen=True)
class PairStats:
    """Engle-Granger test of y on x: spread = y - hedge_ratio * x - intercept."""

    y: str
    x: str
    p_value: float
    hedge_ratio: float
    intercept: float
    half_life: float  # periods; inf if the spread does not mean-revert
    zscore: float  # latest spread z-score
    observations: int


@dataclass(frozen=True)
class AdfResult:
    statistic: float
    p_value: float
    lags: int
    critical_values: dict[str, float]

    @property
    def stationary_at_5pct(self) -> bool:
        return self.p_value < 0.05


def _aligned(y: pd.Series, x: pd.Series) -> tuple[pd.Series, pd.Series]:
    frame = pd.concat([y, x], axis=1, join="inner").dropna()
    if len(frame) < 20:
        raise ValueError(f"need at least 20 overlapping observations, got {len(frame)}")
    return frame.iloc[:, 0], frame.iloc[:, 1]


def hedge_ratio(y: pd.Series, x: pd.Series) -> tuple[float, float]:
    """OLS of y on x with a constant: (slope, intercept)."""
    y, x = _aligned(y, x)
    fit = sm.OLS(y.to_numpy(), sm.add_constant(x.to_numpy())).fit()
    return float(fit.params[1]), float(fit.params[0])


def spread(y: pd.Series, x: pd.Series, ratio: float, intercept: float = 0.0) -> pd.Series:
    y, x = _aligned(y, x)
    return y - ratio * x - intercept


def half_life(series: pd.Series) -> float:
    """Half-life of mean reversion from the AR(1)/OU regression Δs_t = a + b s_{t-1}: -ln 2 / ln(1 + b)."""
    s = series.dropna().to_numpy()
    lagged, delta = s[:-1], np.diff(s)
    fit = sm.OLS(delta, sm.add_constant(lagged)).fit()
    b = float(fit.params[1])
    if b >= 0 or b <= -1:
        return math.inf if b >= 0 else 0.0
    return float(-math.log(2) / math.log(1 + b))


def zscore(series: pd.Series, window: int | None = None) -> pd.Series:
    """(s - mean) / std over the whole series, or over a rolling window."""
    if window:
        mean, std = series.rolling(window).mean(), series.rolling(window).std(ddof=1)
    else:
        mean, std = series.mean(), series.std(ddof=1)
    return (series - mean) / std


def engle_granger(y: pd.Series, x: pd.Series, y_name: str = "y", x_name: str = "x") -> PairStats:
    y, x = _aligned(y, x)
    _, p_value, _ = coint(y.to_numpy(), x.to_numpy())
    ratio, intercept = hedge_ratio(y, x)
    s = spread(y, x, ratio, intercept)
    return PairStats(y_name, x_name, float(p_value), ratio, intercept, half_life(s), float(zscore(s).iloc[-1]), len(s))


def adf(series: pd.Series) -> AdfResult:
    statistic, p_value, lags, _, critical, _ = adfuller(series.dropna().to_numpy(), autolag="AIC", result_object=False)
    return AdfResult(float(statistic), float(p_value), int(lags), {k: float(v) for k, v in critical.items()})


def rolling_hedge_ratio(y: pd.Series, x: pd.Series, window: int = 60) -> pd.Series:
    y, x = _aligned(y, x)
    fit = RollingOLS(y, sm.add_constant(x), window=window).fit()
    return fit.params.iloc[:, 1].rename("hedge_ratio")


@dataclass(frozen=True)
class JohansenResult:
    trace_statistics: list[float]
    critical_values_95: list[float]
    rank: int  # number of cointegrating relations at 95 %
    eigenvector: list[float]  # first cointegrating vector, normalised to the first series


def johansen(frame: pd.DataFrame, det_order: int = 0, lags: int = 1) -> JohansenResult:
    data = frame.dropna().to_numpy()
    result = coint_johansen(data, det_order, lags)
    trace, critical = result.lr1, result.cvt[:, 1]
    rank = int(np.sum(trace > critical))
    vector = result.evec[:, 0]
    return JohansenResult([float(v) for v in trace], [float(v) for v in critical], rank,
                          [float(v) for v in vector / vector[0]])


@dataclass(frozen=True)
class PairTests:
    """One pair's spread and its z-score, ADF on the spread and Johansen on the two series: what the
    analytics dock shows for a selected pair, computed in one call (statsmodels takes seconds on long
    minute series, so the dock runs this in a worker process)."""

    spread: pd.Series
    zscore: pd.Series
    adf: AdfResult
    johansen: JohansenResult


def pair_tests(y: pd.Series, x: pd.Series, ratio: float, intercept: float = 0.0) -> PairTests:
    s = spread(y, x, ratio, intercept)
    return PairTests(s, zscore(s), adf(s), johansen(pd.DataFrame({"y": y, "x": x})))


def scan_pairs(closes: dict[str, pd.Series], max_p_value: float = 1.0) -> pd.DataFrame:
    """Engle-Granger over every pair of the universe, best (lowest p-value) first."""
    rows = []
    for a, b in itertools.combinations(sorted(closes), 2):
        try:
            stats = engle_granger(closes[a], closes[b], a, b)
        except ValueError:
            continue
        if stats.p_value <= max_p_value:
            rows.append(stats.__dict__)
    frame = pd.DataFrame(rows, columns=list(PairStats.__dataclass_fields__))
    return frame.sort_values("p_value").reset_index(drop=True)
