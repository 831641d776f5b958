"""Mean reversion on Bollinger bands / z-score: buy when price is ``entry_z`` deviations below its mean,
sell short when above, exit when the z-score comes back inside ``exit_z``.

Parameters: period (bars of the moving mean and deviation), entry_z, exit_z, size
(units, 0 = from the run's sizing rule), long_only. ``signals`` is the same rule as arrays,
for the vectorized engine.
"""

import numpy as np

from terminal.backtest.api import Strategy, band_positions, rolling_std, sma


class BollingerReversion(Strategy):
    params = {"period": 20, "entry_z": 2.0, "exit_z": 0.5, "size": 0, "long_only": False}
    limits = {"period": (2, 5000), "entry_z": (0.1, 10.0), "exit_z": (0.0, 10.0), "size": (0, 1e9)}

    def init(self):
        close = self.data.close
        mean = sma(close, self.p.period)
        std = rolling_std(close, self.p.period)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.z = (close - mean) / std

    def next(self):
        z = self.z[self.i]
        if np.isnan(z):
            return
        held = self.position
        size = self.p.size or self.size_for(self.data.close[self.i])
        if held == 0:
            if z < -self.p.entry_z:
                self.buy(size)
            elif z > self.p.entry_z and not self.p.long_only:
                self.sell(size)
        elif (held > 0 and z > -self.p.exit_z) or (held < 0 and z < self.p.exit_z):
            self.close()

    def signals(self):
        z = self.z
        with np.errstate(invalid="ignore"):
            held = band_positions(z < -self.p.entry_z, z > -self.p.exit_z,
                                  (z > self.p.entry_z) & (not self.p.long_only), z < self.p.exit_z)
        return held

    def units(self):
        return self.p.size
