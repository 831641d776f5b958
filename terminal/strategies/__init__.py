"""Built-in strategy sources (momentum, mean reversion, pairs); loaded as text by terminal.backtest.loader."""
