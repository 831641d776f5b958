"""terminal.services package."""
