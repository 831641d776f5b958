"""The desk's other processes for the bus benchmark (tests/bench/bus_bench.py), each this file run in a role and
driven by lines on its stdin: a quote producer beating the hub's heartbeat, a bare consumer measuring latency
live, the simulator stamping each quote it sends, and the hub.

Run by ``Child``: python tests/support/desk_processes.py --role producer|bare|sim|hub --kafka HOST:PORT ...
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np

from terminal.bus import codec
from terminal.bus.kafka import Topics
from terminal.domain import Instrument, Quote

HUB_CLIENT_ID = 10


def stock_instruments(count: int) -> list[Instrument]:
    """The simulator's first ``count`` stocks, qualified as it knows them (contract ids included)."""
    from terminal.sim.contracts import Universe

    stocks = [item.instrument for item in Universe().listings if item.instrument.sec_type.value == "STK"]
    if len(stocks) < count:
        raise SystemExit(f"the simulator's universe has {len(stocks)} stocks, fewer than {count}")
    return stocks[:count]


def settings(folder: Path, name: str, **values):  # type: ignore[no-untyped-def]
    from terminal.config import load_settings

    values = {"db_url": f"sqlite:///{folder / name}.sqlite", "data_dir": str(folder / name), "confirm_orders": False,
              "max_position": 1e9, "max_notional": 1e12, **values}
    return load_settings(config_path=folder / "none.toml", environ={"QT_NO_KEYRING": "1"}, overrides=values)


class Child:
    """This script in another role, driven by lines on its stdin, answering on its stdout."""

    def __init__(self, *args: str) -> None:
        self.role = args[1]
        self.process = subprocess.Popen([sys.executable, __file__, *args], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, bufsize=1)

    async def read(self, timeout: float = 120.0) -> list[str]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(self.process.stdout.readline), timeout)
        if not line:
            raise SystemExit(f"the {self.role} process ended (exit code {self.process.wait()})")
        return line.split()

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    async def close(self) -> None:
        self.send("stop")
        await asyncio.to_thread(self.process.wait, 60)


HEAD = b'{"v":%d,"type":"quote","sent":' % codec.SCHEMA_VERSION


def quote_templates(instruments: list[Instrument], variants: int) -> list[tuple[bytes, bytes]]:
    """(key, the message after its ``sent`` value) for ``variants`` quotes of each instrument, interleaved."""
    rng = np.random.default_rng(4)
    templates = []
    for _ in range(variants):
        for n, instrument in enumerate(instruments):
            last = round(50 + n % 300 + float(rng.normal(0, 1)), 2)
            quote = Quote(instrument.symbol, last - 0.01, last + 0.01, last, 300.0, 200.0, 100.0, 1e6 + n, 50.0 + n,
                          last + 1, last - 1, codec.parse_time("2026-11-24T15:30:00+00:00"))
            body = codec.dumps(codec.quote_message(instrument, quote))
            assert body.startswith(HEAD)
            templates.append((instrument.key.encode(), body[body.index(b',"key"'):]))
    return templates


def producer_process(args: argparse.Namespace) -> int:
    """Quote messages at the rate asked (``run RATE SECONDS``, RATE 0: as fast as it can) and the hub's heartbeat."""
    from confluent_kafka import Producer

    topics = Topics(args.prefix)
    producer = Producer({"bootstrap.servers": args.kafka, "enable.idempotence": True, "acks": "all",
                         "linger.ms": 1, "queue.buffering.max.messages": 1_000_000})  # the hub's settings
    templates = quote_templates(stock_instruments(args.instruments), 16)
    stopped = threading.Event()

    def beat() -> None:
        while not stopped.is_set():
            producer.produce(topics.connection, codec.dumps(codec.envelope(
                "connection", hub="bench-producer", state="connected", broker="bench producer", message="",
                provenance="simulator", account="", client_id=0, kill_switch=False, time=codec.iso(datetime.now(UTC)))), b"bench")
            producer.poll(0)
            stopped.wait(0.25)

    threading.Thread(target=beat, daemon=True).start()
    print("READY", flush=True)
    produce, poll, quotes = producer.produce, producer.poll, topics.quotes
    for line in sys.stdin:
        command = line.split()
        if not command or command[0] == "stop":
            break
        rate, seconds = float(command[1]), float(command[2])
        produced, index, t0 = 0, 0, time.perf_counter()
        while (elapsed := time.perf_counter() - t0) < seconds:
            due = min(5000, (int(elapsed * rate) if rate else produced + 1000) - produced)
            if due <= 0:
                time.sleep(0.0005)
                continue
            stamp = b"%.6f" % time.time()
            for _ in range(due):
                key, tail = templates[index % len(templates)]
                try:
                    produce(quotes, HEAD + stamp + tail, key)
                except BufferError:
                    poll(0.01)
                    continue
                index += 1
                produced += 1
            poll(0)
        elapsed = time.perf_counter() - t0
        producer.flush(60)
        print(f"ran {produced} {elapsed:.3f}", flush=True)
    stopped.set()
    producer.flush(30)
    return 0


def bare_process(args: argparse.Namespace) -> int:
    """Baseline for latency: a bare confluent-kafka consumer, live on the quotes topic, no loop and no decoding but of
    ``sent``; ``mark`` starts a window, ``report`` prints 'n p50 p99 max' of sent -> consumed in ms."""
    from confluent_kafka import OFFSET_END, Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": args.kafka, "group.id": f"bare-{uuid.uuid4().hex[:6]}",
                         "enable.auto.commit": False, "enable.partition.eof": False, "fetch.wait.max.ms": 10})
    consumer.assign([TopicPartition(Topics(args.prefix).quotes, 0, OFFSET_END)])
    latencies: list[float] = []
    recording = threading.Event()

    def commands() -> None:
        for line in sys.stdin:
            if line.startswith("mark"):
                latencies.clear()
                recording.set()
            elif line.startswith("report"):
                recording.clear()
                values = list(latencies)
                p50, p99_ = np.percentile(values, [50, 99]) if values else (math.nan, math.nan)
                print(f"{len(values)} {p50:.3f} {p99_:.3f} {max(values, default=math.nan):.3f}", flush=True)
            else:
                break
        os._exit(0)

    threading.Thread(target=commands, daemon=True).start()
    print("READY", flush=True)
    start = len(HEAD)
    while True:
        first = consumer.poll(0.05)  # the first message as it comes, then what else has arrived
        if first is None:
            continue
        now = time.time()
        if recording.is_set():
            for message in [first, *consumer.consume(999, 0)]:
                value = message.value()
                if message.error() is None and value and value.startswith(HEAD):
                    latencies.append((now - float(value[start:value.index(b",", start)])) * 1000)
        else:
            consumer.consume(999, 0)


async def sim_process(args: argparse.Namespace) -> int:
    """The simulator alone (as TWS is a process of its own); each quote it sends is stamped (contract, volume) -> time."""
    from terminal.sim.tws_server import SimServer

    sim = SimServer(port=0, seed=5, tick_interval=args.tick_interval)
    stamps: dict[tuple[int, float], float] = {}
    send_quote = sim._send_quote

    def stamped(session, req_id, book, full=False, close=math.nan):  # type: ignore[no-untyped-def]
        stock = sim.market.state(book.contract_id).listing.instrument.sec_type.value == "STK"
        stamps.setdefault((book.contract_id, round(book.volume / (100 if stock else 1), 2)), time.time())
        send_quote(session, req_id, book, full, close)

    sim._send_quote = stamped  # type: ignore[method-assign]
    await sim.start()
    print(f"READY {sim.port}", flush=True)
    while (line := await asyncio.to_thread(sys.stdin.readline)) and not line.startswith("stop"):
        pass
    Path(args.folder, "stamps.json").write_text(json.dumps([[c, v, t] for (c, v), t in stamps.items()]))
    await sim.stop()
    return 0


async def hub_process(args: argparse.Namespace) -> int:
    """The desk hub (a TradingSession on IBBroker to the simulator, Kafka both sides), as ``quant-terminal hub``."""
    from terminal.broker.ib import IBBroker
    from terminal.bus.hub import DeskLimits, Hub
    from terminal.services.session import TradingSession
    from terminal.store import Store

    folder = Path(args.folder)
    broker = IBBroker(reconnect_initial=0.2, reconnect_max=0.5)
    broker.ib.client.MaxRequests = 0
    session = TradingSession(settings(folder, "hub", ib=f"127.0.0.1:{args.sim_port}:{HUB_CLIENT_ID}"),
                             Store.open(f"sqlite:///{folder / 'hub'}.sqlite"), broker)
    hub = Hub(session, args.kafka, Topics(args.prefix), hub_id="bench-hub", limits=DeskLimits(1e12), grace=1.0)
    await hub.start()
    print("READY", flush=True)
    while (line := await asyncio.to_thread(sys.stdin.readline)) and not line.startswith("stop"):
        pass
    await hub.stop()
    session.store.close()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", required=True, choices=("producer", "bare", "sim", "hub"))
    parser.add_argument("--kafka", default="")
    parser.add_argument("--prefix", default="")
    parser.add_argument("--folder", default="")
    parser.add_argument("--instruments", type=int, default=500)
    parser.add_argument("--tick-interval", type=float, default=0.05)
    parser.add_argument("--sim-port", type=int, default=0)
    args = parser.parse_args()
    if args.role == "producer":
        return producer_process(args)
    if args.role == "bare":
        return bare_process(args)
    return asyncio.run((sim_process if args.role == "sim" else hub_process)(args))


if __name__ == "__main__":
    raise SystemExit(main())
