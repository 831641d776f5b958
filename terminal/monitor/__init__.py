"""Read-only monitor: HTTP API, live stream and web page over a terminal's session or a desk's shared store."""

from typing import Any

from terminal.monitor.security import MonitorConfigError
from terminal.monitor.state import MonitorState

__all__ = ["MonitorConfigError", "MonitorServer", "MonitorState", "MonitorThread"]


def __getattr__(name: str) -> Any:
    """The server (aiohttp, 0.1 s to import) loads when asked for: a terminal without --monitor never needs it."""
    if name in ("MonitorServer", "MonitorThread"):
        from terminal.monitor import server

        return getattr(server, name)
    raise AttributeError(f"module 'terminal.monitor' has no attribute {name!r}")
