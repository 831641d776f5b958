"""The built-in simulator as a child process: started and stopped with the terminal, never an orphan."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import ib_async
import pytest

from terminal.sim.process import SimulatorError, SimulatorProcess
from tests.support.trading import wait

ROOT = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie no longer does: it waits only for its parent to read its status)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_gone(pid: int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_child_simulator_streams_quotes_to_a_real_client_and_stops_in_order(loop):
    sim = SimulatorProcess(seed=3, tick_rate=20)
    loop.run_until_complete(sim.start())
    pid = sim.pid
    assert pid != os.getpid() and _alive(pid) and sim.port > 0
    ib = ib_async.IB()
    try:
        loop.run_until_complete(ib.connectAsync("127.0.0.1", sim.port, clientId=5, timeout=10))
        [contract] = loop.run_until_complete(ib.qualifyContractsAsync(ib_async.Stock("AAPL", "SMART", "USD")))
        ticker = ib.reqMktData(contract)
        seen = set()
        wait(loop, lambda: seen.add(ticker.last) or len(seen) >= 3, 10, "three different AAPL prices")
    finally:
        ib.disconnect()
    loop.run_until_complete(sim.stop())
    assert not sim.running and _wait_gone(pid, 2)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to follow the child")
def test_child_simulator_ends_when_its_terminal_is_killed_9(tmp_path):
    parent = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import asyncio, sys, time
        from terminal.sim.process import SimulatorProcess

        async def main():
            sim = SimulatorProcess(seed=1)
            await sim.start()
            print(sim.pid, flush=True)
            await asyncio.sleep(600)

        asyncio.run(main())
    """)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        assert _alive(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait(5)
        assert _wait_gone(child), f"simulator {child} outlived its killed parent"
    finally:
        parent.kill()


def test_a_bad_universe_file_stops_the_start_with_its_one_line_reason(loop, tmp_path):
    universe = tmp_path / "universe.csv"
    universe.write_text("symbol,price\nAAPL,190.5\nMSFT,-3\n")
    sim = SimulatorProcess(seed=1, universe=str(universe))
    with pytest.raises(SimulatorError) as failed:
        loop.run_until_complete(sim.start())
    message = str(failed.value)
    assert "\n" not in message and "universe.csv line 3, price" in message and "Traceback" not in message
    assert not sim.running


def test_session_starts_the_simulator_again_when_it_dies_and_reconnects(loop, sessions):
    session = sessions(0, ib="")  # no --ib: the built-in simulator, as a child process
    simulator = session.simulator
    assert isinstance(simulator, SimulatorProcess)
    first_pid, port = simulator.pid, simulator.port
    instrument = loop.run_until_complete(session.market.qualify("MSFT"))
    loop.run_until_complete(session.market.subscribe(instrument))
    wait(loop, lambda: instrument.key in session.market.quotes, 10, "a quote of MSFT")
    os.kill(first_pid, signal.SIGKILL)
    wait(loop, lambda: simulator.running and simulator.pid != first_pid, 15, "the simulator to be started again")
    assert simulator.port == port  # the broker reconnects where it was
    session.market.quotes.pop(instrument.key)
    wait(loop, lambda: instrument.key in session.market.quotes, 20, "quotes again after the reconnect")
    messages = [entry.message for entry in session.log.entries]
    assert any("was killed by signal 9; starting it again on port" in m for m in messages), messages
    loop.run_until_complete(session.stop())
    assert _wait_gone(simulator.pid, 5)
