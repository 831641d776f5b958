"""terminal.sim package."""
