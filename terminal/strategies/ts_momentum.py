"""Time-series momentum: hold long (or short) while the return over the lookback is positive (negative).

Parameters: lookback (bars), threshold (minimum absolute lookback return to hold a
position), size (units, 0 = from the run's sizing rule), long_only. Re-evaluated
every ``rebalance`` bars; orders fill at the next bar's open. ``signals`` is the same rule
as arrays, for the vectorized engine.
"""

import numpy as np

from terminal.backtest.api import Strategy


class TimeSeriesMomentum(Strategy):
    params = {"lookback": 60, "threshold": 0.0, "rebalance": 5, "size": 0, "long_only": False}
    limits = {"lookback": (1, 5000), "threshold": (-1.0, 1.0), "rebalance": (1, 1000), "size": (0, 1e9)}

    def init(self):
        close = self.data.close
        self.momentum = np.full(len(close), np.nan)
        self.momentum[self.p.lookback:] = close[self.p.lookback:] / close[:-self.p.lookback] - 1

    def next(self):
        i = self.i
        if i % self.p.rebalance or np.isnan(self.momentum[i]):
            return
        signal = self.momentum[i]
        want = 1 if signal > self.p.threshold else (-1 if signal < -self.p.threshold and not self.p.long_only else 0)
        held = self.position
        if (held > 0 and want == 1) or (held < 0 and want == -1) or (held == 0 and want == 0):
            return
        self.close()
        size = self.p.size or self.size_for(self.data.close[i])
        if want == 1:
            self.buy(size)
        elif want == -1:
            self.sell(size)

    def signals(self):
        momentum = self.momentum
        short = (momentum < -self.p.threshold) & (not self.p.long_only)
        wanted = np.where(momentum > self.p.threshold, 1.0, np.where(short, -1.0, 0.0))
        wanted[np.isnan(momentum)] = np.nan
        wanted[np.arange(len(wanted)) % self.p.rebalance != 0] = np.nan
        return wanted

    def units(self):
        return self.p.size
