"""Desk bus benchmark: quotes from Kafka into a terminal's models, simulator -> hub -> Kafka -> terminal latency,
and the order round trip through the hub, each against a baseline measured in the same run.

1. Throughput. A producer process writes quote messages (``codec.quote_message``'s JSON, with a fresh ``sent``)
   for 500 instruments into <prefix>quotes at fixed offered rates, then as fast as it can, and beats the hub's
   heartbeat so the terminal's feed is up. One terminal consumes them: ``KafkaBroker``, a ``TradingSession``'s
   MarketService, and a ``WatchlistModel`` fed from ``market.quote_updated`` in a shown table view, on a qasync
   Qt loop (offscreen). Printed per rate: quotes/s into the model, the lateness of a 10 ms QTimer (p50/p99/max),
   sent -> model latency, the loop thread's CPU and the loop's time per quote in ``_on_market``. Baseline: a bare
   confluent-kafka consumer reading the same messages from the topic (msgs/s); then each stage of the terminal's
   path timed alone on those messages, and a cProfile of the loop at 20,000/s splitting ``_on_market`` by stage.
2. Latency. The simulator (``SimServer``, standing for TWS) and the hub (``Hub`` on a TradingSession over IBBroker,
   as ``quant-terminal hub``) each run in a process of their own; 250 instruments x 20 quotes/s = 5,000 quotes/s.
   p50/p99 from the quote leaving the hub (its ``sent``) to the terminal's model, and from the simulator's tick
   (matched by contract and cumulative volume) to the model, with the stages between. Baseline: a terminal
   session on IBBroker straight to the same simulator.
3. Orders. 50 marketable orders from the terminal (``session.orders.place``) until it sees each Filled, through
   the hub vs direct. ib_async's 45 requests/s client throttle is off at the hub and the direct session alike.

Run: QT_QPA_PLATFORM=offscreen python tests/bench/bus_bench.py [--kafka HOST:PORT] [--parts 1,2,3] [--profile]
Without --kafka it starts a private broker (tests/support/kafka.py). Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import math
import os
import pstats
import sys
import tempfile
import time
import uuid
from collections import Counter, deque
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402

from terminal.bus import codec  # noqa: E402
from terminal.bus.kafka import Record, Topics, ensure_topics  # noqa: E402
from terminal.domain import Instrument, Order, OrderSide, OrderStatus, OrderType  # noqa: E402
from tests.support.desk_processes import Child, settings, stock_instruments  # noqa: E402

DIRECT_CLIENT_ID = 21


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def spread(values: list[float]) -> str:
    """'p50 x p99 y max z ms' of values in ms."""
    if not values:
        return "no samples"
    p50, p99 = np.percentile(values, [50, 99])
    return f"p50 {p50:.1f} p99 {p99:.1f} max {max(values):.0f} ms"


def bare_line(figures: list[str]) -> str:
    count, p50, p99_, most = figures
    return f"p50 {float(p50):.1f} p99 {float(p99_):.1f} max {float(most):.0f} ms ({int(count):,} messages)"


def p99(values: list[float]) -> float:
    return float(np.percentile(values, 99)) if values else math.nan


# --- the terminal's side ---------------------------------------------------------------------------------------------
class Watch:
    """A terminal's watchlist (model + shown view) fed from market.quote_updated, and what the bench observes:
    first arrival at the model of each (contract, volume), with the quote's time and, on the feed, its sent."""

    def __init__(self, session, instruments: list[Instrument], broker=None, share=None) -> None:  # type: ignore[no-untyped-def]
        from PySide6.QtWidgets import QTableView

        from terminal.ui.models.watchlist import WatchlistModel

        self.model = WatchlistModel()
        self.model.set_instruments(instruments)
        self.view = QTableView()
        self.view.setModel(self.model)
        self.view.resize(1000, 900)
        self.view.show()
        self.recording = False
        self.track_ticks = True  # part 2: first arrival of each (contract, volume); part 1 needs sent only
        self.arrivals: dict[tuple[int, float], list[float]] = {}  # -> [arrival, quote time, sent]
        self.sent_to_model: list[float] = []
        self.hops: list[tuple[float, float, float, float]] = []  # ms: sent -> produced -> thread -> loop -> model
        self._share = share
        self._last: list[float] | None = None
        session.market.quote_updated.connect(self._on_quote)
        if broker is not None:
            broker.latency_probe = self._on_probe

    def _on_quote(self, item) -> None:  # type: ignore[no-untyped-def]
        instrument, quote = item
        self.model.update_quote(instrument.key, quote)
        if self.recording and self.track_ticks:
            key = (instrument.contract_id, round(quote.volume, 2))
            if key not in self.arrivals:
                self._last = self.arrivals[key] = [time.time(), quote.time.timestamp() if quote.time else math.nan,
                                                   math.nan]

    def _on_probe(self, key: str, sent: float) -> None:  # after the QuoteEvent went through the session to the model
        now = time.time()
        trail = self._share.trail(key) if self._share is not None else None
        if self.recording:
            self.sent_to_model.append((now - sent) * 1000)
            if trail is not None:
                produced, received, looped = trail
                self.hops.append(((produced - sent) * 1000, (received - produced) * 1000, (looped - received) * 1000,
                                  (now - looped) * 1000))
            if self._last is not None:
                self._last[2] = sent
                self._last = None

    def hop_lines(self, producer: str) -> list[str]:
        """sent -> model split by stage, one line each."""
        if not self.hops:
            return []
        names = (f"sent -> produce() at the {producer} (Kafka's timestamp, 1 ms steps)",
                 "produce() -> the terminal's consumer thread (linger, broker, fetch)",
                 "consumer thread -> loop (hand-off: GIL, qasync, batches ahead)",
                 "loop -> model (this batch's quotes before it, the session, the model)")
        return [f"{name}: {spread([hop[n] for hop in self.hops])}" for n, name in enumerate(names)]

    def close(self) -> None:
        self.view.close()


class LoopShare:
    """Wraps a KafkaBroker's ``_on_market`` and ``_accept`` (before connect): the loop's time in it, the records and
    calls given, and for each record when it was produced (its Kafka timestamp), reached the consumer thread and
    reached the loop, for ``Watch`` to split each quote's sent -> model time by stage."""

    def __init__(self, broker) -> None:  # type: ignore[no-untyped-def]
        self.seconds, self.records = 0.0, 0
        self.calls: list[tuple[int, float]] = []  # (records, ms) of each call since the last clear
        self._received: deque[float] = deque()  # consumer thread's time of each accepted record, in order
        self._trail: deque[tuple[bytes | None, float, float, float]] = deque()  # (key, produced, received, looped)
        handler, accept = broker._on_market, broker._accept

        def timed_accept(topic: str, key: bytes | None) -> bool:
            wanted = accept(topic, key)
            if wanted:
                self._received.append(time.time())
            return wanted

        def timed(records: list[Record]) -> None:
            t0, now = time.perf_counter(), time.time()
            for record in records:
                received = self._received.popleft() if self._received else math.nan
                self._trail.append((record.key, record.timestamp_ms / 1000, received, now))
            handler(records)
            taken = time.perf_counter() - t0
            self.seconds += taken
            self.records += len(records)
            self.calls.append((len(records), taken * 1000))

        broker._on_market, broker._accept = timed, timed_accept

    def trail(self, key: str) -> tuple[float, float, float] | None:
        """(produced, received, looped) of the quote of ``key`` the loop is handling now (records before it that
        made no quote are passed over)."""
        wanted = key.encode()
        while self._trail:
            record_key, produced, received, looped = self._trail.popleft()
            if record_key == wanted:
                return produced, received, looped
        return None

    def describe(self) -> str:
        if not self.calls:
            return "no calls"
        sizes, times = [n for n, _ in self.calls], [ms for _, ms in self.calls]
        return (f"{len(self.calls)} calls, records per call p50 {np.median(sizes):.0f} max {max(sizes)}, "
                f"time per call p50 {np.median(times):.1f} p99 {p99(times):.1f} max {max(times):.0f} ms")


PROFILED = {("codec.py", "loads"): "JSON decode (codec.loads)", ("codec.py", "quote_from"): "Quote from the message",
            ("events.py", "publish"): "QuoteEvent publish -> session -> MarketService -> listeners",
            ("watchlist.py", "update_quote"): "  of which the watchlist model's update_quote",
            ("session.py", "_quote_side_effects"): "  of which the session's portfolio + alerts"}


def stage_profile(profiler: cProfile.Profile, quotes: int) -> list[str]:
    """Cumulative time of each stage of ``_on_market`` per quote, from a cProfile of the loop (its overhead included)."""
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    spent: Counter[str] = Counter()
    total = 0.0
    for (file, _, name), (_, _, _, cumulative, _) in stats.items():
        stage = PROFILED.get((Path(file).name, name))
        if stage:
            spent[stage] += cumulative
        if name == "_on_market" and file.endswith("feed.py"):
            total += cumulative
    inner = sum(seconds for stage, seconds in spent.items() if not stage.startswith(" "))
    spent["_on_market itself (keys, topics, probe)"] = total - inner
    per = 1e6 / max(quotes, 1)
    order = [*dict.fromkeys(PROFILED.values()), "_on_market itself (keys, topics, probe)"]
    return [f"{stage}: {spent[stage] * per:.1f} us/quote ({spent[stage] / max(total, 1e-9) * 100:.0f} %)"
            for stage in order]


def settle_heap() -> None:
    from terminal.ui.main import settle_heap as settle

    settle()


async def wait_until(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.05)


async def feed_session(folder: Path, name: str, bootstrap: str, topics: Topics):  # type: ignore[no-untyped-def]
    from terminal.bus.feed import KafkaBroker
    from terminal.services.session import TradingSession
    from terminal.store import Store

    broker = KafkaBroker(topics, trader="bench", terminal=f"{name}-{uuid.uuid4().hex[:6]}")
    share = LoopShare(broker)
    session = TradingSession(settings(folder, name, feed=f"kafka://{bootstrap}", trader="bench"),
                             Store.open(f"sqlite:///{folder / name}.sqlite"), broker)
    await session.start()
    return session, broker, share


async def stop_session(session) -> None:  # type: ignore[no-untyped-def]
    await session.stop()
    session.store.close()


# --- 1. throughput -------------------------------------------------------------------------------------------------
async def throughput(args: argparse.Namespace, bootstrap: str, folder: Path, lag) -> Topics:  # type: ignore[no-untyped-def]
    topics = Topics(f"bench{uuid.uuid4().hex[:10]}.")
    await asyncio.to_thread(ensure_topics, bootstrap, topics)
    producer = Child("--role", "producer", "--kafka", bootstrap, "--prefix", topics.prefix,
                     "--instruments", str(args.instruments))
    await producer.read()
    bare = Child("--role", "bare", "--kafka", bootstrap, "--prefix", topics.prefix)
    await bare.read()
    session, broker, share = await feed_session(folder, "feed1", bootstrap, topics)
    instruments = stock_instruments(args.instruments)
    watch = Watch(session, instruments, broker, share)
    watch.track_ticks = False
    for instrument in instruments:
        await session.market.subscribe(instrument)
    settle_heap()  # as the terminal does once its window is up
    print(f"1. {args.instruments} instruments, producer process -> Kafka -> terminal (KafkaBroker, MarketService, "
          f"WatchlistModel in a shown view, qasync); {args.step_seconds:g} s measured per rate after "
          f"{args.warmup:g} s; target >= 20,000 quotes/s with loop lag p99 <= 16 ms", flush=True)
    model, rates = watch.model, [0.0 if r == "max" else float(r) for r in args.rates.split(",")]
    steps = [(rate, False) for rate in rates[:-1]] + [(args.profile_rate, True)] * (args.profile_rate > 0) + [
        (rates[-1], False)]
    lag.lags.clear()
    await asyncio.sleep(args.warmup)
    print(f"  idle, no quotes: timer lag {spread(list(lag.lags))}", flush=True)
    for step, (rate, profiled) in enumerate(steps):
        producer.send(f"run {rate} {args.warmup + args.step_seconds + 0.5}")
        await asyncio.sleep(args.warmup)
        last_step = step == len(steps) - 1  # the highest rate: its backlog is not waited for
        profiler = cProfile.Profile() if profiled else None
        lag.lags.clear()
        watch.sent_to_model.clear()
        watch.hops.clear()
        share.calls.clear()
        bare.send("mark")
        watch.recording = True
        n0, share0, records0, cpu0, wall0 = (model.updates_received, share.seconds, share.records, time.thread_time(),
                                             time.perf_counter())
        if profiler is not None:
            profiler.enable()
        await asyncio.sleep(args.step_seconds)
        if profiler is not None:
            profiler.disable()
        elapsed = time.perf_counter() - wall0
        watch.recording = False
        bare.send("report")
        bare_figures = await bare.read()
        got, lags = (model.updates_received - n0) / elapsed, list(lag.lags)
        records, loop_seconds, loop_cpu = share.records - records0, share.seconds - share0, time.thread_time() - cpu0
        _, produced, produced_in = await producer.read()
        offered = int(produced) / float(produced_in)
        last, quiet = model.updates_received, time.monotonic()  # drain: no quote for 0.5 s
        while time.monotonic() - quiet < 0.5 and not last_step:
            await asyncio.sleep(0.1)
            if model.updates_received != last:
                last, quiet = model.updates_received, time.monotonic()
        if profiler is not None:
            print(f"  profile of the loop thread at {rate:,.0f}/s offered (cProfile, its overhead included; not a "
                  f"throughput figure): {got:,.0f} quotes/s, _on_market per quote:", flush=True)
            for line in stage_profile(profiler, records):
                print(f"    {line}")
            if args.profile:
                pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
            continue
        label = "as fast as it can" if rate == 0.0 else f"{rate:,.0f}/s"
        print(f"  offered {label:>17} (produced {offered:,.0f}/s): {got:>7,.0f} quotes/s into the model "
              f"({got / offered:.2f}x); timer lag {spread(lags)}; sent -> model {spread(watch.sent_to_model)}", flush=True)
        print(f"    loop thread CPU {loop_cpu / elapsed * 100:.0f} %; in _on_market {loop_seconds / elapsed * 100:.0f} % of "
              f"the time ({loop_seconds / max(records, 1) * 1e6:.1f} us/quote); batches: {share.describe()}", flush=True)
        for line in watch.hop_lines("producer"):
            print(f"      {line}", flush=True)
        print(f"    baseline, a bare confluent-kafka consumer process live on the same stream: sent -> consumed "
              f"{bare_line(bare_figures)}", flush=True)
    watch.close()
    await stop_session(session)
    await producer.close()
    await bare.close()
    return topics


def bare_consumer(bootstrap: str, topics: Topics, keep: int) -> tuple[int, float, float, list[bytes]]:
    """Baseline: a bare confluent-kafka consumer (the terminal's fetch settings) reads the whole quotes topic."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bare-{uuid.uuid4().hex[:6]}",
                         "enable.auto.commit": False, "enable.partition.eof": False, "fetch.wait.max.ms": 10})
    part = TopicPartition(topics.quotes, 0, OFFSET_BEGINNING)
    _, high = consumer.get_watermark_offsets(part, timeout=15)
    consumer.assign([part])
    count, size, kept, t0 = 0, 0, [], time.perf_counter()
    while count < high:
        for message in consumer.consume(5000, 1.0):
            if message.error() is None:
                value = message.value()
                count += 1
                size += len(value)
                if len(kept) < keep:
                    kept.append(value)
    elapsed = time.perf_counter() - t0
    consumer.close()
    return count, elapsed, size / max(count, 1), kept


def stage_costs(values: list[bytes], instrument: Instrument) -> dict[str, float]:
    """Each stage of the terminal's path alone, us per message, on messages from the topic."""
    key, accepted = instrument.key.encode(), frozenset({instrument.key.encode()})
    t0 = time.perf_counter()
    for value in values:  # what the consumer thread does per message besides librdkafka's fetch
        if key in accepted:
            Record("q", 0, 0, key, value, 0)
    t1 = time.perf_counter()
    messages = [codec.loads(value) for value in values]
    t2 = time.perf_counter()
    for message in messages:
        codec.quote_from(message, instrument.symbol)
    t3 = time.perf_counter()
    n = len(values) / 1e6
    return {"record": (t1 - t0) / n, "decode": (t2 - t1) / n, "quote": (t3 - t2) / n}


# --- 2. latency and 3. orders --------------------------------------------------------------------------------------
async def round_trips(session, instrument: Instrument, count: int, tag: str) -> list[float]:  # type: ignore[no-untyped-def]
    """Market orders, alternately buy and sell, place -> the session sees Filled, in ms."""
    filled: dict[str, float] = {}

    def on_order(order: Order) -> None:
        if order.status is OrderStatus.FILLED:
            filled.setdefault(order.client_order_id, time.perf_counter())

    session.orders.order_changed.connect(on_order)
    times = []
    for n in range(count):
        key = f"{tag}-{n}"
        t0 = time.perf_counter()
        await session.orders.place(Order(instrument, OrderSide.BUY if n % 2 == 0 else OrderSide.SELL, 10,
                                         OrderType.MARKET, client_order_id=key), confirmed=True)
        await wait_until(lambda key=key: key in filled, 30, f"order {key} to fill")
        times.append((filled[key] - t0) * 1000)
    session.orders.order_changed.disconnect(on_order)
    return times


async def stream(session, watch: Watch, instruments: list[Instrument], args: argparse.Namespace, lag,
                 pids: dict[str, int], share: LoopShare | None, bare: Child) -> dict:  # type: ignore[no-untyped-def]
    for instrument in instruments:
        await session.market.subscribe(instrument)
    await wait_until(lambda: all(i.key in session.market.quotes for i in instruments), 60, "a quote of every instrument")
    await asyncio.sleep(args.warmup)
    lag.lags.clear()
    watch.arrivals.clear()
    watch.sent_to_model.clear()
    watch.hops.clear()
    if share is not None:
        share.calls.clear()
    pids = {**pids, "terminal": os.getpid()}
    n0, cpu0, wall0 = watch.model.updates_received, time.thread_time(), time.perf_counter()
    cpus0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
    bare.send("mark")
    watch.recording = True
    await asyncio.sleep(args.e2e_seconds)
    watch.recording = False
    bare.send("report")
    bare_figures = await bare.read()
    elapsed = time.perf_counter() - wall0
    result = {"rate": (watch.model.updates_received - n0) / elapsed, "lags": list(lag.lags),
              "loop_cpu": (time.thread_time() - cpu0) / elapsed,
              "cpu": ", ".join(f"{name} {(cpu_seconds(pid) - cpus0[name]) / elapsed * 100:.0f} %" for name, pid in pids.items()),
              "arrivals": dict(watch.arrivals), "sent": list(watch.sent_to_model),
              "batches": share.describe() if share is not None else "", "hops": watch.hop_lines("hub"),
              "bare": bare_figures}
    for instrument in instruments:
        await session.market.unsubscribe(instrument)
    return result


def stage_lines(result: dict, stamps: dict[tuple[int, float], float], feed: bool) -> list[str]:
    sim_to_model, sim_to_read, read_to_sent, read_to_model = [], [], [], []
    for key, (arrival, quote_time, sent) in result["arrivals"].items():
        read_to_model.append((arrival - quote_time) * 1000)
        if feed and math.isfinite(sent):
            read_to_sent.append((sent - quote_time) * 1000)
        stamp = stamps.get(key)
        if stamp is not None:
            sim_to_model.append((arrival - stamp) * 1000)
            sim_to_read.append((quote_time - stamp) * 1000)
    matched = f"{len(sim_to_model):,} of {len(result['arrivals']):,} quotes matched to their tick"
    lines = [f"simulator tick -> model {spread(sim_to_model)} ({matched})",
             f"  simulator tick -> {'hub' if feed else 'terminal'}'s IB client read {spread(sim_to_read)}"]
    if feed:
        lines += [f"  hub's IB client read -> sent {spread(read_to_sent)}",
                  f"  sent -> Kafka -> terminal model {spread(result['sent'])}",
                  *[f"    {line}" for line in result["hops"]],
                  f"  baseline, a bare confluent-kafka consumer process live on the hub's stream: sent -> consumed "
                  f"{bare_line(result['bare'])}"]
    else:
        lines.append(f"  IB client read -> model {spread(read_to_model)}")
    return lines


async def desk_runs(args: argparse.Namespace, bootstrap: str, folder: Path, lag, parts: set[str],  # type: ignore[no-untyped-def]
                    kafka_pid: int) -> Topics:
    from terminal.broker.ib import IBBroker
    from terminal.services.session import TradingSession
    from terminal.store import Store

    topics = Topics(f"bench{uuid.uuid4().hex[:10]}.")
    sim = Child("--role", "sim", "--folder", str(folder), "--tick-interval", str(args.tick_interval))
    port = int((await sim.read())[1])
    hub = Child("--role", "hub", "--kafka", bootstrap, "--prefix", topics.prefix, "--folder", str(folder),
                "--sim-port", str(port))
    await hub.read()
    bare = Child("--role", "bare", "--kafka", bootstrap, "--prefix", topics.prefix)
    await bare.read()
    pids = {"simulator": sim.process.pid, "hub": hub.process.pid, **({"kafka": kafka_pid} if kafka_pid else {})}
    symbols = [i.symbol for i in stock_instruments(args.e2e_instruments)]
    results: dict[str, dict] = {}
    orders: dict[str, list[float]] = {}
    for path in ("direct", "feed"):
        if path == "direct":
            broker = IBBroker(reconnect_initial=0.2, reconnect_max=0.5)
            broker.ib.client.MaxRequests = 0
            session = TradingSession(settings(folder, "direct", ib=f"127.0.0.1:{port}:{DIRECT_CLIENT_ID}"),
                                     Store.open(f"sqlite:///{folder / 'direct'}.sqlite"), broker)
            await session.start()
            feed = share = None
        else:
            session, feed, share = await feed_session(folder, "feed2", bootstrap, topics)
        instruments = list(await asyncio.gather(*[session.market.qualify(s) for s in symbols]))
        watch = Watch(session, instruments, feed, share)
        settle_heap()
        if "3" in parts:
            aapl = await session.market.qualify("AAPL")
            await session.market.subscribe(aapl)
            await wait_until(lambda a=aapl, s=session: a.key in s.market.quotes, 30, "a quote of AAPL")
            orders[path] = await round_trips(session, aapl, args.orders, f"bench-{path}-{uuid.uuid4().hex[:6]}")
            await session.market.unsubscribe(aapl)
        if "2" in parts:
            results[path] = await stream(session, watch, instruments, args, lag, pids, share, bare)
        watch.close()
        await stop_session(session)
    await bare.close()
    await hub.close()
    await sim.close()
    stamps = {(c, v): t for c, v, t in json.loads((folder / "stamps.json").read_text())}
    if "2" in parts:
        offered = args.e2e_instruments / args.tick_interval
        print(f"2. simulator process -> hub process -> Kafka -> terminal: {args.e2e_instruments} instruments x "
              f"{1 / args.tick_interval:g} quotes/s = {offered:,.0f} quotes/s offered, {args.e2e_seconds:g} s; "
              "target p99 <= 20 ms", flush=True)
        for path, label in (("direct", "baseline, terminal on IBBroker straight to the simulator"),
                            ("feed", "terminal on the feed (KafkaBroker)")):
            r = results[path]
            print(f"  {label}: {r['rate']:,.0f} quotes/s into the model, timer lag {spread(r['lags'])}, loop thread "
                  f"CPU {r['loop_cpu'] * 100:.0f} %; processes' CPU: {r['cpu']}")
            for line in stage_lines(r, stamps, path == "feed"):
                print(f"    {line}")
            if r["batches"]:
                print(f"    batches handed to the loop: {r['batches']}")
        print(f"  ratio feed/direct, simulator tick -> model p99: "
              f"{_tick_p99(results['feed'], stamps) / _tick_p99(results['direct'], stamps):.2f}x", flush=True)
    if "3" in parts:
        print(f"3. {args.orders} market orders AAPL, terminal place -> sees Filled (SQLite write-ahead at each "
              "order service on the way):")
        print(f"  baseline, direct to the simulator: {spread(orders['direct'])}")
        print(f"  through the hub (Kafka both ways): {spread(orders['feed'])}  (p50 "
              f"{np.median(orders['feed']) / np.median(orders['direct']):.1f}x)", flush=True)
    return topics


def _tick_p99(result: dict, stamps: dict[tuple[int, float], float]) -> float:
    return p99([(a - stamps[k]) * 1000 for k, (a, _, _) in result["arrivals"].items() if k in stamps])


# --- main ----------------------------------------------------------------------------------------------------------
def delete_topics(bootstrap: str, topics: list[Topics]) -> None:
    from confluent_kafka.admin import AdminClient

    names = [name for t in topics for name in t.layout(1)]
    if names:
        for future in AdminClient({"bootstrap.servers": bootstrap}).delete_topics(names).values():
            try:
                future.result(30)
            except Exception:  # already gone, or the broker is busy: topics of a finished bench only
                pass


def run_terminal(args: argparse.Namespace, bootstrap: str, folder: Path, kafka_pid: int) -> None:
    import qasync
    from PySide6.QtWidgets import QApplication

    from tests.support.lag import TimerLag

    app = QApplication.instance() or QApplication([])
    app.setQuitOnLastWindowClosed(False)  # each part closes its watchlist view; the loop goes on
    loop = qasync.QEventLoop(app, already_running=False)
    asyncio.set_event_loop(loop)
    lag = TimerLag().start()
    parts = set(args.parts.split(","))
    made: list[Topics] = []
    try:
        if "1" in parts:
            made.append(loop.run_until_complete(throughput(args, bootstrap, folder, lag)))
            count, elapsed, size, kept = bare_consumer(bootstrap, made[-1], 200_000)
            costs = stage_costs(kept, stock_instruments(1)[0])
            print(f"  baseline, bare confluent-kafka consumer on the same {count:,} messages ({size:.0f} bytes each): "
                  f"{count / elapsed:,.0f} msgs/s ({elapsed / count * 1e6:.1f} us/msg)")
            print(f"  stages alone on {len(kept):,} of them, us/msg: consumer thread's Record + accept "
                  f"{costs['record']:.2f}, codec.loads (JSON) {costs['decode']:.2f}, codec.quote_from "
                  f"{costs['quote']:.2f}", flush=True)
        if parts & {"2", "3"}:
            made.append(loop.run_until_complete(desk_runs(args, bootstrap, folder, lag, parts, kafka_pid)))
    finally:
        lag.stop()
        delete_topics(bootstrap, made)
        loop.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kafka", default="", help="HOST:PORT of a Kafka broker; default: start a private one")
    parser.add_argument("--parts", default="1,2,3")
    parser.add_argument("--instruments", type=int, default=500, help="part 1: instruments quoted")
    parser.add_argument("--rates", default="10000,20000,30000,40000,80000",
                        help="part 1: offered quotes/s, highest last ('max': as fast as the producer can)")
    parser.add_argument("--step-seconds", type=float, default=8.0, help="part 1: measured seconds per rate")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--e2e-instruments", type=int, default=250)
    parser.add_argument("--tick-interval", type=float, default=0.05, help="simulator seconds between an instrument's quotes")
    parser.add_argument("--e2e-seconds", type=float, default=20.0)
    parser.add_argument("--orders", type=int, default=50)
    parser.add_argument("--profile-rate", type=float, default=20000,
                        help="part 1: offered quotes/s of the profiled step (0: none)")
    parser.add_argument("--profile", action="store_true", help="part 1: print the profiled step's top functions too")
    parser.add_argument("--kafka-pid", type=int, default=0, help="with --kafka: its process, to report its CPU")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; the terminal, the producer (or "
          "simulator and hub) and Kafka share them", flush=True)
    with tempfile.TemporaryDirectory(prefix="bus-bench-") as scratch:
        folder = Path(scratch)
        kafka = None
        bootstrap = args.kafka
        if not bootstrap:
            from tests.support.kafka import PrivateKafka, can_run

            why = can_run()
            if why:
                raise SystemExit(f"no --kafka given and a private broker cannot start: {why}")
            kafka = PrivateKafka(folder / "kafka")
            bootstrap = kafka.start(fresh=True)
            print(f"private Kafka at {bootstrap}", flush=True)
        try:
            run_terminal(args, bootstrap, folder, kafka.pid() if kafka is not None else args.kafka_pid)
            print(f"load average at the end {os.getloadavg()[0]:.2f}")
        finally:
            if kafka is not None:
                kafka.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
