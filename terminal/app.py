"""GUI start-up: Qt application, qasync loop, simulator, TWS or desk-feed connection, main window."""

from __future__ import annotations

from typing import TYPE_CHECKING

from terminal.config import Settings

if TYPE_CHECKING:
    from terminal.broker.base import Broker


def make_broker(settings: Settings) -> Broker:
    """The broker ``settings`` connect with: the desk bus's ``KafkaBroker`` with ``--feed`` (the hub holds the
    broker connection), else ``IBBroker`` (TWS, IB Gateway, the built-in simulator, a replay). The session
    builds its brokers here when it switches between the two kinds."""
    if settings.feed:
        from terminal.bus.feed import KafkaBroker
        from terminal.bus.kafka import Topics

        return KafkaBroker(Topics(settings.bus_prefix), trader=settings.trader, role=settings.desk_role,
                           order_ttl=settings.order_ttl)
    from terminal.broker.ib import IBBroker

    return IBBroker()


def run_app(settings: Settings, replay=None, exit_after: float | None = None) -> int:  # type: ignore[no-untyped-def]
    from terminal.ui.main import run

    return run(settings, replay, exit_after)
