"""Read-only monitor: HTTP API, live stream and web page over a terminal's session or a desk's shared store."""

from terminal.monitor.security import MonitorConfigError
from terminal.monitor.server import MonitorServer, MonitorThread
from terminal.monitor.state import MonitorState

__all__ = ["MonitorConfigError", "MonitorServer", "MonitorState", "MonitorThread"]
