"""Statistics equal straightforward independent computations."""

import math

import numpy as np
import pandas as pd
import pytest

from terminal.analytics import stats


@pytest.fixture
def equity():
    rng = np.random.default_rng(3)
    values = 100_000 * np.cumprod(1 + rng.normal(0.0004, 0.01, 500))
    return pd.Series(values, index=pd.bdate_range("2020-01-01", periods=500, tz="UTC"))


def _loop_returns(values):
    return [values[i] / values[i - 1] - 1 for i in range(1, len(values))]


def test_sharpe_and_volatility_match_a_loop(equity):
    r = _loop_returns(list(equity))
    mean = sum(r) / len(r)
    sd = math.sqrt(sum((x - mean) ** 2 for x in r) / (len(r) - 1))
    assert stats.sharpe(equity) == pytest.approx(mean / sd * math.sqrt(252))
    assert stats.volatility(equity) == pytest.approx(sd * math.sqrt(252))


def test_sortino_uses_downside_deviation_over_all_periods(equity):
    r = _loop_returns(list(equity))
    downside = math.sqrt(sum(min(x, 0) ** 2 for x in r) / len(r))
    assert stats.sortino(equity) == pytest.approx(sum(r) / len(r) / downside * math.sqrt(252))


def test_max_drawdown_and_duration_by_hand():
    curve = pd.Series([100, 120, 90, 95, 130, 117, 125, 140.0])
    assert stats.max_drawdown(curve) == pytest.approx(90 / 120 - 1)
    assert stats.max_drawdown_duration(curve) == 2  # 90, 95 below 120; 117, 125 below 130
    assert stats.calmar(curve, periods_per_year=7) == pytest.approx(
        ((140 / 100) ** (7 / 7) - 1) / (1 - 90 / 120))


def test_longest_drawdown_in_days_runs_from_the_peak_to_the_recovery_by_hand():
    days = pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-05", "2024-01-09", "2024-01-10", "2024-01-20",
                           "2024-02-10", "2024-02-11"], utc=True)
    curve = pd.Series([100, 120, 90, 95, 130, 117, 125, 140.0], index=days)
    # peak 120 on 2 Jan, back above on 10 Jan: 8 days; peak 130 on 10 Jan, back above on 11 Feb: 32 days
    assert stats.max_drawdown_days(curve) == pytest.approx(32.0)
    never_recovers = pd.Series([100, 120, 90, 95.0], index=days[:4])
    assert stats.max_drawdown_days(never_recovers) == pytest.approx(7.0)  # 2 Jan to the last bar, 9 Jan
    assert stats.max_drawdown_days(pd.Series([1.0, 2, 3], index=days[:3])) == 0.0


def test_annualised_return_is_geometric():
    curve = pd.Series([100.0] + [0.0] * 251 + [121.0]).replace(0.0, 110.0)
    assert stats.annualised_return(curve, periods_per_year=126) == pytest.approx(1.21 ** (126 / 252) - 1)


def test_trade_statistics_by_hand():
    t = stats.trade_statistics([100, -50, 200, -25, 0])
    assert t["trades"] == 5 and t["win_rate"] == pytest.approx(0.4)
    assert t["profit_factor"] == pytest.approx(300 / 75)
    assert t["expectancy"] == pytest.approx(45)
    assert (t["average_win"], t["average_loss"]) == (pytest.approx(150), pytest.approx(-37.5))
    pnl = np.array([100, -50, 200, -25, 0.0])
    assert t["sqn"] == pytest.approx(math.sqrt(5) * pnl.mean() / pnl.std(ddof=1))


def test_monthly_returns_compound_to_the_total(equity):
    table = stats.monthly_returns(equity)
    compounded = np.prod(1 + table.stack().dropna().to_numpy()) - 1
    assert compounded == pytest.approx(stats.total_return(equity))


def test_compute_statistics_has_every_key(equity):
    result = stats.compute_statistics(equity, [1.0, -1.0, 2.0], exposure=0.5, benchmark=equity)
    for key in ("total_return", "annualised_return", "volatility", "sharpe", "sortino", "calmar", "max_drawdown",
                "max_drawdown_duration", "win_rate", "profit_factor", "expectancy", "average_win", "average_loss",
                "trades", "exposure", "sqn", "benchmark_return"):
        assert key in result


def test_statistic_names_list_every_key_compute_statistics_gives():
    import pandas as pd

    from terminal.analytics.stats import STATISTIC_NAMES, compute_statistics

    equity = pd.Series([100.0, 101, 99, 103], index=pd.date_range("2024-01-01", periods=4, tz="UTC"))
    assert set(compute_statistics(equity, [1.0, -2.0], 0.5, benchmark=equity)) == set(STATISTIC_NAMES)
