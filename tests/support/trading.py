"""Trading fixtures (a plugin of tests/conftest.py): the simulator on a loopback port, real IB client, sessions on a temp store."""

from __future__ import annotations

import asyncio

import pytest

from terminal.config import load_settings
from terminal.sim.tws_server import SimServer


@pytest.fixture
def loop():
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield loop
    cancel_leftover_tasks(loop)
    loop.close()
    asyncio.set_event_loop(None)


def cancel_leftover_tasks(loop) -> None:
    """Cancel the tasks a test left behind on ``loop`` and let them finish."""
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))


async def until(predicate, timeout: float = 10.0) -> bool:
    """Inside a running loop: wait until ``predicate()`` holds, at most ``timeout`` seconds; whether it held."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


def wait(loop, predicate, timeout: float = 8.0, what: str = "condition") -> None:
    """Run the loop until ``predicate()`` holds; fail naming ``what`` after ``timeout`` seconds."""
    if not loop.run_until_complete(until(predicate, timeout)):
        raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


@pytest.fixture
def sims(loop):
    """``sims(port=0, **options)`` starts a simulator (port 0: a free one); all are stopped after the test."""
    started: list[SimServer] = []

    def start(port: int = 0, **options) -> SimServer:
        options.setdefault("seed", 9)
        options.setdefault("tick_interval", 0.05)
        server = SimServer(port=port, **options)
        loop.run_until_complete(server.start())
        started.append(server)
        return server

    yield start
    for server in started:
        loop.run_until_complete(server.stop())


@pytest.fixture
def sessions(loop, tmp_path):
    """``sessions(port, client_id=1, db="a", **settings)``: a started TradingSession against 127.0.0.1:port.

    Sessions with the same ``db`` share one SQLite file, as a restarted terminal does."""
    from terminal.broker.ib import IBBroker
    from terminal.services.session import TradingSession
    from terminal.store import Store

    opened: list[TradingSession] = []

    def open_(port: int, client_id: int = 1, db: str = "a", start: bool = True, broker_class=IBBroker,
              **overrides) -> TradingSession:
        values = {"db_url": f"sqlite:///{tmp_path / db}.sqlite", "ib": f"127.0.0.1:{port}:{client_id}",
                  "confirm_orders": False}
        values.update(overrides)
        settings = load_settings(config_path=tmp_path / "none.toml", environ={"QT_NO_KEYRING": "1"}, overrides=values)
        session = TradingSession(settings, Store.open(settings.resolved_db_url),
                                 broker_class(reconnect_initial=0.2, reconnect_max=0.5))
        opened.append(session)
        if start:
            loop.run_until_complete(session.start())
        return session

    yield open_
    for session in opened:
        loop.run_until_complete(session.stop())
        session.store.close()


def close(loop, session) -> None:
    """Stop a session as the terminal does at exit (the fixture's own cleanup then does nothing more)."""
    loop.run_until_complete(session.stop())


def fill_order(loop, session, order, timeout: float = 8.0):
    """Place ``order`` (confirmed) through the session's order service and wait until it is Filled."""
    from terminal.domain import OrderStatus

    placed = loop.run_until_complete(session.orders.place(order, confirmed=True))
    wait(loop, lambda: session.orders.orders[placed.client_order_id].status is OrderStatus.FILLED, timeout,
         f"{placed.describe()} to fill")
    return session.orders.orders[placed.client_order_id]
