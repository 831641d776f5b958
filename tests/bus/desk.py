"""The desk of the bus tests: a simulator, a hub (in-process, or a ``quant-terminal hub`` child process that
can be killed -9) and terminal sessions on the feed."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

from terminal.broker.ib import IBBroker
from terminal.bus.feed import KafkaBroker
from terminal.bus.hub import DeskLimits, Hub
from terminal.bus.kafka import Topics
from terminal.config import load_settings
from terminal.services.session import TradingSession
from terminal.store import Store
from tests.support.trading import wait

HUB_CLIENT_ID = 10


def settings(tmp_path: Path, db: str, **values):
    values = {"db_url": f"sqlite:///{tmp_path / db}.sqlite", "confirm_orders": False, "data_dir": str(tmp_path / db),
              **values}
    return load_settings(config_path=tmp_path / "none.toml", environ={"QT_NO_KEYRING": "1"}, overrides=values)


class Desk:
    def __init__(self, loop, tmp_path: Path, bootstrap: str, topics: Topics, sims) -> None:
        self.loop, self.tmp_path, self.bootstrap, self.topics = loop, tmp_path, bootstrap, topics
        self._sims = sims
        self.sim = None
        self.hubs: list[Hub] = []
        self.terminals: list[TradingSession] = []
        self.process: subprocess.Popen | None = None

    def run(self, coroutine, timeout: float = 60.0):
        return self.loop.run_until_complete(asyncio.wait_for(coroutine, timeout))

    def simulator(self, **options):
        if self.sim is None:
            self.sim = self._sims(**options)
        return self.sim

    def hub(self, limits: DeskLimits | None = None, grace: float = 2.0, **values) -> Hub:
        sim = self.simulator()
        session = TradingSession(settings(self.tmp_path, "hub", ib=f"127.0.0.1:{sim.port}:{HUB_CLIENT_ID}", **values),
                                 Store.open(f"sqlite:///{self.tmp_path / 'hub'}.sqlite"),
                                 IBBroker(reconnect_initial=0.2, reconnect_max=0.5))
        hub = Hub(session, self.bootstrap, self.topics, hub_id=f"hub{len(self.hubs)}", limits=limits, grace=grace)
        self.run(hub.start())
        self.hubs.append(hub)
        return hub

    def stop_hub(self, hub: Hub) -> None:
        self.run(hub.stop())
        hub.session.store.close()
        self.hubs.remove(hub)

    def hub_process(self, *extra: str) -> subprocess.Popen:
        """``quant-terminal hub`` as a child process on the same simulator and hub store."""
        sim = self.simulator()
        command = [sys.executable, "-m", "terminal", "--db", f"sqlite:///{self.tmp_path / 'hub'}.sqlite",
                   "--data-dir", str(self.tmp_path / "hub"), "--ib", f"127.0.0.1:{sim.port}:{HUB_CLIENT_ID}",
                   "hub", "--kafka", self.bootstrap, "--prefix", self.topics.prefix, "--grace", "2", *extra]
        env = {**os.environ, "QT_NO_KEYRING": "1", "QT_CONFIRM_ORDERS": "false"}
        self.process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.output = []
        reader = threading.Thread(target=self._read, args=(self.process, self.output), daemon=True)
        reader.start()
        # the simulator runs on this loop: keep it turning while the hub starts
        wait(self.loop, lambda: any(" ready: " in line for line in self.output) or self.process.poll() is not None,
             60, "the hub process to start")
        assert self.process.poll() is None, "".join(self.output)
        return self.process

    @staticmethod
    def _read(process: subprocess.Popen, lines: list[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)

    def kill_hub_process(self) -> str:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None
        return "".join(self.output)

    def terminal(self, trader: str, role: str = "trader", db: str = "", ttl: float = 10.0,
                 answer_timeout: float = 10.0) -> TradingSession:
        name = db or f"term-{trader}"
        broker = KafkaBroker(self.topics, trader=trader, terminal=name, role=role, order_ttl=ttl,
                             answer_timeout=answer_timeout)
        session = TradingSession(settings(self.tmp_path, name, feed=f"kafka://{self.bootstrap}", trader=trader,
                                          desk_role=role), Store.open(f"sqlite:///{self.tmp_path / name}.sqlite"), broker)
        self.run(session.start())
        self.terminals.append(session)
        return session

    def stop_terminal(self, session: TradingSession) -> None:
        self.run(session.stop())
        session.store.close()
        self.terminals.remove(session)

    def at_simulator(self) -> Counter:
        """How many orders the simulator received under each client order id (orderRef)."""
        assert self.sim is not None
        return Counter(w.order.client_order_id for w in self.sim.engine.orders.values())

    def close(self) -> None:
        for session in list(self.terminals):
            self.stop_terminal(session)
        for hub in list(self.hubs):
            self.stop_hub(hub)
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
