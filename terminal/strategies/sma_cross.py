"""Moving-average crossover (momentum): long when the fast SMA crosses above the slow one, short below.

Parameters: fast, slow (bars); size (units, 0 = size from the run's sizing rule);
long_only (no short side). Orders fill at the next bar's open. ``signals`` states the same
rule as arrays, for the vectorized engine.
"""

import numpy as np

from terminal.backtest.api import (
    Strategy,
    crossed_above,
    crossed_below,
    crosses_above,
    crosses_below,
    sma,
)


class SmaCross(Strategy):
    params = {"fast": 10, "slow": 30, "size": 0, "long_only": False}
    limits = {"fast": (1, 1000), "slow": (2, 5000), "size": (0, 1e9)}

    def init(self):
        if self.p.fast >= self.p.slow:
            raise ValueError(f"fast ({self.p.fast}) must be shorter than slow ({self.p.slow})")
        self.fast = sma(self.data.close, self.p.fast)
        self.slow = sma(self.data.close, self.p.slow)

    def next(self):
        i = self.i
        size = self.p.size or self.size_for(self.data.close[i])
        if crossed_above(self.fast, self.slow, i):
            self.close()
            self.buy(size)
        elif crossed_below(self.fast, self.slow, i):
            self.close()
            if not self.p.long_only:
                self.sell(size)

    def signals(self):
        wanted = np.full(len(self.data), np.nan)
        wanted[crosses_below(self.fast, self.slow)] = 0 if self.p.long_only else -1
        wanted[crosses_above(self.fast, self.slow)] = 1
        return wanted

    def units(self):
        return self.p.size
