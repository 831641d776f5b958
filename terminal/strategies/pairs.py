"""Pairs trading on a cointegrated pair: spread = y - beta * x, beta by OLS over a trailing window;
enter when the spread's z-score leaves ±entry_z (short the rich leg, long the cheap one, beta-weighted),
exit when it returns inside ±exit_z. Runs on backtrader (two data feeds: y first, then x).

Parameters: lookback (bars for beta and the z-score), entry_z, exit_z, units (y units per trade).
"""

import numpy as np

from terminal.backtest.api import Strategy


class PairsTrading(Strategy):
    params = {"lookback": 60, "entry_z": 2.0, "exit_z": 0.5, "units": 100}
    limits = {"lookback": (5, 5000), "entry_z": (0.1, 10.0), "exit_z": (0.0, 10.0), "units": (1, 1e9)}

    def init(self):
        if len(self.datas) != 2:
            raise ValueError("pairs trading needs two symbols: --symbol Y --symbol X")
        self.y_name, self.x_name = list(self.datas)
        y, x = self.datas[self.y_name].close, self.datas[self.x_name].close
        n, window = len(y), self.p.lookback
        self.beta = np.full(n, np.nan)
        self.z = np.full(n, np.nan)
        for i in range(window, n):  # trailing OLS: only data up to bar i
            ys, xs = y[i - window + 1 : i + 1], x[i - window + 1 : i + 1]
            slope, intercept = np.polyfit(xs, ys, 1)
            spread = ys - slope * xs - intercept
            sd = spread.std()
            self.beta[i] = slope
            self.z[i] = spread[-1] / sd if sd > 0 else np.nan

    def next(self):
        i = self.i
        z, beta = self.z[i], self.beta[i]
        if np.isnan(z):
            return
        held = self.position_of(self.y_name)
        hedge = max(1, round(self.p.units * beta))
        if held == 0:
            if z > self.p.entry_z:  # spread rich: short y, long x
                self.sell(self.p.units, self.y_name)
                self.buy(hedge, self.x_name)
            elif z < -self.p.entry_z:
                self.buy(self.p.units, self.y_name)
                self.sell(hedge, self.x_name)
        elif (held > 0 and z > -self.p.exit_z) or (held < 0 and z < self.p.exit_z):
            self.close(self.y_name)
            self.close(self.x_name)
