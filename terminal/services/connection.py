"""The session's connection: its status as the views show it, and how a broker of another kind is built for a switch."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from terminal.broker.base import Broker
from terminal.config import Settings
from terminal.domain import DomainError, Provenance


@dataclass(frozen=True)
class ConnectionStatus:
    """The session's connection as the views show it: state, where, why (the broker's last word)."""

    state: str  # CONNECTING, CONNECTED, DISCONNECTED, RECONNECTING
    endpoint: str
    message: str = ""
    next_retry_seconds: float = 0.0
    account: str = ""
    provenance: Provenance = Provenance.UNKNOWN  # of the broker session (SIMULATOR, PAPER, LIVE …)

    @property
    def live(self) -> bool:
        """Whether prices on screen are live: only while connected (on the desk feed: the hub's heartbeat is
        fresh and its broker connected)."""
        return self.state == "CONNECTED"

    @property
    def stale(self) -> bool:
        """Whether the prices on screen are stale: the last ones received, in every state but connected, once
        the session has asked for a connection (before that there are none)."""
        return not self.live and bool(self.endpoint)


# Builds the broker for a connection: the desk feed's (``KafkaBroker``) when ``settings.feed`` is set, else IB's.
# The wiring (the window, the CLI) provides it: the session may not import the bus, which imports the session.
BrokerFactory = Callable[[Settings], Broker]


def ib_broker(settings: Settings) -> Broker:
    """The default ``BrokerFactory``: IB's broker only (TWS, IB Gateway, the simulator, a replay)."""
    if settings.feed:
        raise DomainError(f"this session cannot join the desk feed {settings.feed}: it was built without the feed's "
                          "broker; start the terminal with --feed instead")
    from terminal.broker.ib import IBBroker

    return IBBroker()
