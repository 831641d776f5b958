"""terminal.strategies package."""
