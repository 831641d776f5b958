"""The terminal's event log: connection events, broker errors, rejected orders, alerts — with time and severity."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum

from terminal.services.signal import Signal

_log = logging.getLogger("terminal")


class Severity(IntEnum):
    DEBUG = 10
    INFO = 20
    WARNING = 30
    ERROR = 40


@dataclass(frozen=True)
class LogEntry:
    severity: Severity
    source: str
    message: str
    time: datetime = field(default_factory=lambda: datetime.now(UTC))


class LogService:
    """Keeps the newest entries and publishes each; also forwards to the logging module."""

    def __init__(self, capacity: int = 5000) -> None:
        self.entries: list[LogEntry] = []
        self.capacity = capacity
        self.added: Signal[LogEntry] = Signal("log.added")

    def add(self, severity: Severity, source: str, message: str) -> LogEntry:
        entry = LogEntry(severity, source, message)
        self.entries.append(entry)
        if len(self.entries) > self.capacity:
            del self.entries[: len(self.entries) - self.capacity]
        _log.log(int(severity), "[%s] %s", source, message)
        self.added.emit(entry)
        return entry

    def info(self, source: str, message: str) -> LogEntry:
        return self.add(Severity.INFO, source, message)

    def warning(self, source: str, message: str) -> LogEntry:
        return self.add(Severity.WARNING, source, message)

    def error(self, source: str, message: str) -> LogEntry:
        return self.add(Severity.ERROR, source, message)
