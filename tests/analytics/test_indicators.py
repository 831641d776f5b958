"""Indicators equal a straightforward loop computation, and one-step updates equal a full recompute."""

from __future__ import annotations

import math

import numpy as np
import pytest

from terminal.analytics import indicators as ind
from terminal.domain import ValidationError


@pytest.fixture
def closes() -> np.ndarray:
    rng = np.random.default_rng(7)
    return 100 + np.cumsum(rng.normal(0, 1, 400))


def loop_sma(x, n):
    return [math.nan if i < n - 1 else sum(x[i - n + 1 : i + 1]) / n for i in range(len(x))]


def loop_ema(x, n):
    out, a, prev = [], 2 / (n + 1), None
    for i in range(len(x)):
        if i < n - 1:
            out.append(math.nan)
            continue
        prev = sum(x[:n]) / n if i == n - 1 else a * x[i] + (1 - a) * prev
        out.append(prev)
    return out


def loop_rsi(x, n):
    out = [math.nan] * len(x)
    gains = [max(x[i] - x[i - 1], 0) for i in range(1, len(x))]
    losses = [max(x[i - 1] - x[i], 0) for i in range(1, len(x))]
    ag, al = sum(gains[:n]) / n, sum(losses[:n]) / n
    for i in range(n, len(x)):
        if i > n:
            ag = (ag * (n - 1) + gains[i - 1]) / n
            al = (al * (n - 1) + losses[i - 1]) / n
        out[i] = 100.0 if al == 0 else 100 - 100 / (1 + ag / al)
    return out


def test_sma_equals_loop(closes):
    np.testing.assert_allclose(ind.sma(closes, 20), loop_sma(list(closes), 20), rtol=1e-10)


def test_ema_equals_loop_seeded_with_sma(closes):
    np.testing.assert_allclose(ind.ema(closes, 10), loop_ema(list(closes), 10), rtol=1e-10)


def test_bollinger_is_sma_plus_minus_population_std(closes):
    mid, up, lo = ind.bollinger(closes, 20, 2.0)
    for i in (19, 100, 399):
        w = closes[i - 19 : i + 1]
        std = math.sqrt(sum((v - w.mean()) ** 2 for v in w) / 20)
        assert mid[i] == pytest.approx(w.mean())
        assert up[i] == pytest.approx(w.mean() + 2 * std)
        assert lo[i] == pytest.approx(w.mean() - 2 * std)
    assert np.isnan(mid[18])


def test_rsi_uses_wilder_smoothing(closes):
    np.testing.assert_allclose(ind.rsi(closes, 14), loop_rsi(list(closes), 14), rtol=1e-9)


def test_macd_is_fast_minus_slow_ema_with_signal_ema(closes):
    r = ind.macd(closes, 12, 26, 9)
    line = np.array(loop_ema(list(closes), 12)) - np.array(loop_ema(list(closes), 26))
    np.testing.assert_allclose(r.macd, line, rtol=1e-10)
    sig = [math.nan] * 25 + loop_ema(list(line[25:]), 9)
    np.testing.assert_allclose(r.signal, sig, rtol=1e-9)
    np.testing.assert_allclose(r.histogram, line - np.array(sig), rtol=1e-9, atol=1e-12)


def test_vwap_resets_at_each_session():
    h, lo, c = np.array([11, 12, 13, 14.0]), np.array([9, 10, 11, 12.0]), np.array([10, 11, 12, 13.0])
    v = np.array([100, 300, 200, 200.0])
    out = ind.vwap(h, lo, c, v, session=np.array([1, 1, 2, 2]))
    tp = (h + lo + c) / 3
    assert out[1] == pytest.approx((tp[0] * 100 + tp[1] * 300) / 400)
    assert out[2] == pytest.approx(tp[2])
    assert out[3] == pytest.approx((tp[2] * 200 + tp[3] * 200) / 400)


def test_one_step_updates_equal_full_recompute(closes):
    changed = closes.copy()
    changed[-1] += 3.0
    e = ind.ema(closes, 10)
    assert ind.ema_step(e[-2], changed[-1], 10) == pytest.approx(ind.ema(changed, 10)[-1])
    s = ind.rsi_state(closes, 14)
    r, _, _ = ind.rsi_step(s.average_gain[-2], s.average_loss[-2], changed[-1] - changed[-2], 14)
    assert r == pytest.approx(ind.rsi(changed, 14)[-1])
    assert ind.sma_last(changed, 20) == pytest.approx(ind.sma(changed, 20)[-1])
    assert ind.bollinger_last(changed, 20)[1] == pytest.approx(ind.bollinger(changed, 20)[1][-1])


def test_bad_periods_are_rejected_with_the_value():
    with pytest.raises(ValidationError, match="SMA period 0"):
        ind.sma(np.ones(5), 0)
    with pytest.raises(ValidationError, match="fast period 26 must be shorter"):
        ind.macd(np.ones(50), 26, 12)
