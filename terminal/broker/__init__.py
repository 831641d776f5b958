"""terminal.broker package."""
