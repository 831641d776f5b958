"""Quant tools on series with known properties: a constructed cointegrated pair and a random walk."""

import math

import numpy as np
import pandas as pd
import pytest

from terminal.analytics import quant


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(11)
    n, beta, phi = 2000, 1.8, 0.9  # OU spread: s_t = phi s_{t-1} + e  -> half-life ln 2 / -ln(phi)
    x = 50 + np.cumsum(rng.normal(0, 1, n))
    s = np.zeros(n)
    for t in range(1, n):
        s[t] = phi * s[t - 1] + rng.normal(0, 0.5)
    index = pd.bdate_range("2015-01-01", periods=n)
    return pd.Series(10 + beta * x + s, index=index), pd.Series(x, index=index), beta, phi


def test_cointegrated_pair_has_low_p_value_and_the_true_hedge_ratio(pair):
    y, x, beta, phi = pair
    result = quant.engle_granger(y, x, "Y", "X")
    assert result.p_value < 0.01
    assert result.hedge_ratio == pytest.approx(beta, abs=0.02)
    assert result.half_life == pytest.approx(math.log(2) / -math.log(phi), rel=0.25)


def test_random_walk_is_not_stationary_but_its_differences_are(pair):
    _, x, _, _ = pair
    assert not quant.adf(x).stationary_at_5pct
    assert quant.adf(x.diff()).stationary_at_5pct


def test_independent_walks_are_not_cointegrated():
    rng = np.random.default_rng(5)
    a = pd.Series(np.cumsum(rng.normal(0, 1, 1500)))
    b = pd.Series(np.cumsum(rng.normal(0, 1, 1500)))
    assert quant.engle_granger(a, b).p_value > 0.05


def test_rolling_hedge_ratio_is_near_the_true_ratio(pair):
    y, x, beta, _ = pair
    rolling = quant.rolling_hedge_ratio(y, x, window=250).dropna()
    assert rolling.median() == pytest.approx(beta, abs=0.05)


def test_johansen_rejects_no_cointegration_and_recovers_the_vector(pair):
    y, x, beta, _ = pair
    result = quant.johansen(pd.DataFrame({"y": y, "x": x}))
    assert result.rank >= 1 and result.trace_statistics[0] > result.critical_values_95[0]
    assert -result.eigenvector[1] == pytest.approx(beta, abs=0.05)


def test_scan_pairs_ranks_the_cointegrated_pair_first(pair):
    y, x, _, _ = pair
    rng = np.random.default_rng(8)
    noise = pd.Series(50 + np.cumsum(rng.normal(0, 1, len(x))), index=x.index)
    table = quant.scan_pairs({"Y": y, "X": x, "N": noise})
    assert {table.iloc[0]["y"], table.iloc[0]["x"]} == {"X", "Y"}
    assert list(table.columns)[:3] == ["y", "x", "p_value"]


def test_zscore_of_the_spread_has_zero_mean_and_unit_std(pair):
    y, x, _, _ = pair
    ratio, intercept = quant.hedge_ratio(y, x)
    z = quant.zscore(quant.spread(y, x, ratio, intercept))
    assert z.mean() == pytest.approx(0, abs=1e-9) and z.std(ddof=1) == pytest.approx(1)
