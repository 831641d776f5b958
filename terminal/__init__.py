"""QuantTerminal: a desktop trading terminal for Interactive Brokers, with simulator, backtests and quant tools."""

__version__ = "0.1.0"
