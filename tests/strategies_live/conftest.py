"""A strategy that trades every bar, so a run against the simulator shows its orders within seconds."""

from __future__ import annotations

import pytest

FLIP = '''
from terminal.backtest.api import Strategy


class Flip(Strategy):
    """Long 10 on one bar, flat on the next: an order at every 5-second bar."""

    params = {"units": 10}

    def next(self):
        if self.position == 0:
            self.buy(self.p.units)
        else:
            self.close()
'''

RAISES_LATER = '''
from terminal.backtest.api import Strategy


class Breaks(Strategy):
    params = {}

    def init(self):
        self.seen = getattr(self, "seen", 0)

    def next(self):
        self.seen += 1
        if self.seen >= 2:
            raise ZeroDivisionError("it divides by zero on its second bar")
'''


@pytest.fixture
def flip_source() -> str:
    return FLIP

LOOPS = '''
from terminal.backtest.api import Strategy


class Spins(Strategy):
    params = {}

    def next(self):
        if self.i >= 3:
            while True:
                pass
'''

BRACKETED = '''
from terminal.backtest.api import Strategy


class Bracketed(Strategy):
    """Long 10 with a stop 3 % below and a target 3 % above (inside the price band; not reached in seconds);
    closed on its next bar."""

    params = {}

    def next(self):
        price = self.data.close[self.i]
        if self.position == 0:
            self.buy(10, stop=price * 0.97, target=price * 1.03)
        else:
            self.close()
'''
