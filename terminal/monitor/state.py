"""What the monitor serves: named sections of JSON-ready data with versions, written by one feed, read by the server.

The feed (the terminal's session, or the shared store) runs on its own loop or thread and
publishes whole sections; the server runs on another loop and only reads. Sections are
replaced, never mutated, so a reader holds a consistent value without copying. Two
sections grow through the day (fills, equity): the server streams only their new rows,
so ten phones watching a busy account do not re-receive thousands of fills per update.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# Replaced as a whole at every change.
SNAPSHOT_SECTIONS = ("connection", "account", "positions", "orders", "alerts", "runs")
# Grow by rows through the day; a new epoch (a new trading day, a restart) starts them again.
APPEND_SECTIONS = ("fills", "equity")
SECTIONS = SNAPSHOT_SECTIONS + APPEND_SECTIONS
SCHEMA_VERSION = 1
# What each snapshot section holds before its feed has said anything.
EMPTY: dict[str, dict[str, Any]] = {
    "connection": {"state": "UNKNOWN", "endpoint": "", "message": "", "account": "", "broker": ""},
    "account": {},
    "positions": {"positions": []},
    "orders": {"orders": []},
    "alerts": {"alerts": [], "events": []},
    "runs": {"runs": []},
}


def clean(value: Any) -> Any:
    """JSON-safe copy: NaN and infinities become null (JSON has neither), datetimes ISO 8601 UTC."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, datetime):
        return iso(value)
    return value


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def encode(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()


@dataclass(frozen=True)
class Section:
    """One section's value: a dict (snapshot sections) or a tuple of rows (append sections)."""

    name: str
    version: int
    epoch: int
    value: Any
    updated: datetime


class MonitorState:
    """Thread-safe holder of the sections; ``watch`` tells a server loop when anything changed."""

    def __init__(self, mode: str) -> None:
        self.mode = mode  # "terminal" or "store"
        self.started = datetime.now(UTC)
        self._lock = threading.Lock()
        now = datetime.now(UTC)
        self._sections: dict[str, Section] = {
            name: Section(name, 0, 0, EMPTY.get(name, ()), now) for name in SECTIONS}
        self._encoded: dict[str, tuple[int, int, bytes]] = {}  # section → (epoch, version, body)
        self._watchers: list[tuple[asyncio.AbstractEventLoop, Callable[[], None]]] = []

    # --- the feed's side -------------------------------------------------------------------------
    def publish(self, name: str, value: dict[str, Any]) -> None:
        """Replace a snapshot section (the value must not be changed afterwards)."""
        self.publish_many({name: value})

    def append(self, name: str, rows: list[dict[str, Any]], restart: bool = False) -> None:
        """Add rows to a growing section; ``restart`` drops what it held first (a new day, a reload)."""
        if name not in APPEND_SECTIONS:
            raise ValueError(f"section {name!r} is not one of {', '.join(APPEND_SECTIONS)}")
        if not rows and not restart:
            return
        with self._lock:
            old = self._sections[name]
            held = () if restart else old.value
            epoch = old.epoch + 1 if restart else old.epoch
            self._sections[name] = Section(name, old.version + 1, epoch, (*held, *clean(rows)), datetime.now(UTC))
        self._notify()

    def publish_many(self, values: dict[str, dict[str, Any]]) -> None:
        """Several snapshot sections at once, with one wake-up of the server."""
        wrong = [name for name in values if name not in SNAPSHOT_SECTIONS]
        if wrong:
            raise ValueError(f"section {wrong[0]!r} is not one of {', '.join(SNAPSHOT_SECTIONS)}")
        now = datetime.now(UTC)
        with self._lock:
            for name, value in values.items():
                old = self._sections[name]
                self._sections[name] = Section(name, old.version + 1, old.epoch, clean(value), now)
        self._notify()

    # --- the server's side -----------------------------------------------------------------------
    def section(self, name: str) -> Section:
        with self._lock:
            return self._sections[name]

    def versions(self) -> dict[str, tuple[int, int]]:
        with self._lock:
            return {name: (s.epoch, s.version) for name, s in self._sections.items()}

    def body(self, name: str) -> bytes:
        """The section as the JSON body of its endpoint, encoded once per version."""
        section = self.section(name)
        cached = self._encoded.get(name)
        if cached is not None and cached[:2] == (section.epoch, section.version):
            return cached[2]
        value = section.value if name in SNAPSHOT_SECTIONS else {name: list(section.value)}
        body = encode({"schema": SCHEMA_VERSION, "updated": iso(section.updated), **value})
        self._encoded[name] = (section.epoch, section.version, body)
        return body

    def watch(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` on ``loop`` after every change; returns the function that stops it."""
        entry = (loop, callback)
        with self._lock:
            self._watchers.append(entry)

        def stop() -> None:
            with self._lock:
                if entry in self._watchers:
                    self._watchers.remove(entry)
        return stop

    def _notify(self) -> None:
        with self._lock:
            watchers = list(self._watchers)
        for loop, callback in watchers:
            try:
                loop.call_soon_threadsafe(callback)
            except RuntimeError:  # that loop is closed: the server stopped
                pass
