"""terminal.ui package."""
