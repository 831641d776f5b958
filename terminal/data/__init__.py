"""terminal.data package."""
