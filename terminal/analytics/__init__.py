"""terminal.analytics package."""
