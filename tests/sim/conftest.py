"""Simulator fixtures: a SimServer on a free loopback port, and the real IB client libraries connected to it."""

from __future__ import annotations

import asyncio
import importlib

import pytest

from terminal.sim.tws_server import SimServer


@pytest.fixture
def run():
    """Run a coroutine to completion on a fresh event loop (the IB clients need a running loop)."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield loop.run_until_complete
    loop.run_until_complete(asyncio.sleep(0))
    loop.close()
    asyncio.set_event_loop(None)


@pytest.fixture
def server(run):
    sim = SimServer(port=0, seed=5, tick_interval=0.05)
    run(sim.start())
    yield sim
    run(sim.stop())


@pytest.fixture(params=["ib_async", "ib_insync"])
def ib_lib(request):
    return importlib.import_module(request.param)


@pytest.fixture
def ib(run, server, ib_lib):
    client = ib_lib.IB()
    run(client.connectAsync("127.0.0.1", server.port, clientId=1, timeout=5))
    yield client
    client.disconnect()
