"""Dock panels of the terminal window; each assembles views and sends intents to services."""
