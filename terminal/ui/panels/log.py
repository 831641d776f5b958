"""Log panel: time, severity, source, message of every terminal event; errors in the status bar too."""

from __future__ import annotations

from PySide6.QtWidgets import QVBoxLayout, QWidget

from terminal.services.log import LogEntry, Severity
from terminal.ui.models.records import Column, RecordTableModel
from terminal.ui.panels.common import make_table

LOG_COLUMNS: list[Column[LogEntry]] = [
    Column("Time", lambda e: e.time.astimezone().strftime("%H:%M:%S.%f")[:-3], right=False),
    Column("Level", lambda e: e.severity.name, right=False,
           tone=lambda e: -1.0 if e.severity >= Severity.ERROR else (0.0 if e.severity >= Severity.WARNING else 0.0)),
    Column("Source", lambda e: e.source, right=False),
    Column("Message", lambda e: e.message, right=False),
]


class LogPanel(QWidget):
    def __init__(self, session, theme, parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self.model = RecordTableModel(LOG_COLUMNS, lambda e: id(e), theme, newest_first=True, max_rows=2000)
        self.table = make_table(self.model)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.table)
        self.model.set_records(reversed(session.log.entries[-2000:]))
        session.log.added.connect(self.model.upsert)
