"""GUI start-up: Qt application, qasync loop, simulator or TWS connection, main window."""

from __future__ import annotations

from terminal.config import Settings


def run_app(settings: Settings, replay=None) -> int:  # type: ignore[no-untyped-def]
    from terminal.ui.main import run

    return run(settings, replay)
