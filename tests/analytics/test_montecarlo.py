"""Monte Carlo of trades against a plain loop over the same draws."""

from __future__ import annotations

import numpy as np
import pytest

from terminal.analytics.montecarlo import bootstrap


def test_paths_percentiles_and_ruin_against_a_plain_loop():
    rng = np.random.default_rng(1)
    pnls = list(rng.normal(0.005, 0.09, 40))  # trade returns
    mc = bootstrap(pnls, 10_000.0, paths=500, ruin=0.7, seed=3)
    draws = np.random.default_rng(3).choice(np.asarray(pnls), size=(500, 40), replace=True)
    finals, drawdowns, ruined = [], [], 0
    for row in draws:
        equity, peak, worst, hit = 10_000.0, 10_000.0, 0.0, False
        for p in row:
            equity *= 1 + p
            peak = max(peak, equity)
            worst = min(worst, equity / peak - 1)
            hit = hit or equity <= 7_000.0
        finals.append(equity)
        drawdowns.append(worst)
        ruined += hit
    assert mc.paths.shape == (500, 41) and mc.paths[:, 0].tolist() == [10_000.0] * 500
    assert mc.final_percentiles[50] == pytest.approx(np.percentile(finals, 50))
    assert mc.drawdown_percentiles[95] == pytest.approx(np.percentile(drawdowns, 5))
    assert mc.risk_of_ruin == pytest.approx(ruined / 500)
    assert min(mc.drawdown_percentiles.values()) >= -1.0


def test_trade_returns_are_pnl_over_the_equity_at_entry():
    from terminal.analytics.montecarlo import trade_returns

    equity = [["2024-01-01T00:00:00+00:00", 1000.0], ["2024-01-02T00:00:00+00:00", 1100.0],
              ["2024-01-03T00:00:00+00:00", 1200.0]]
    trades = [{"entry_time": "2024-01-02T00:00:00+00:00", "pnl": 110.0},
              {"entry_time": "2024-01-02T12:00:00+00:00", "pnl": -55.0}]
    assert trade_returns(trades, equity).tolist() == pytest.approx([0.1, -0.05])


def test_no_trades_or_no_cash_is_a_clear_error():
    with pytest.raises(ValueError, match="at least one trade"):
        bootstrap([], 1000.0)
    with pytest.raises(ValueError, match="positive starting cash"):
        bootstrap([1.0], 0.0)
