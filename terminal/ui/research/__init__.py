"""Quant half of the window: strategy editor, backtest runner and results, analytics."""
