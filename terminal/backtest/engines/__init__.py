"""Engine adapters: the same Strategy on backtrader and on backtesting.py."""
