"""terminal.backtest package."""
