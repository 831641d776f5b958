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
