"""GUI start-up: Qt application, qasync loop, simulator or TWS connection, main window."""

from __future__ import annotations

from terminal.config import Settings


def run_app(settings: Settings) -> int:
    from terminal.ui.main import run

    return run(settings)
