"""terminal.store package."""
