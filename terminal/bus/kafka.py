"""Kafka for the desk bus: topic names, topic creation, an idempotent producer and consumers that hand
batches of messages to the asyncio loop (confluent-kafka, i.e. librdkafka, in threads of their own).

No call here blocks the loop: the producer's ``produce`` only queues (librdkafka sends from its own
threads) and each consumer polls in a daemon thread, giving the loop one call per batch.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from terminal.bus.codec import dumps

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "qt."
DEFAULT_RETENTION_HOURS = 7 * 24


class _OncePerMinute(logging.Filter):
    """librdkafka repeats a line (connection refused …) many times a second while Kafka is down: pass each once a
    minute."""

    def __init__(self) -> None:
        super().__init__()
        self._last: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage().split("]: ", 1)[-1][:120]
        now = time.monotonic()
        if now - self._last.get(text, -1e9) < 60.0:
            return False
        if len(self._last) > 1000:
            self._last.clear()
        self._last[text] = now
        return True


_librdkafka_log = logging.getLogger("terminal.bus.librdkafka")  # librdkafka's own lines, through logging
_librdkafka_log.addFilter(_OncePerMinute())


class BusError(RuntimeError):
    """Kafka could not be reached or refused a request; the message says where and why."""


@dataclass(frozen=True)
class Topics:
    """The desk's topic names under one prefix (``qt.`` by default)."""

    prefix: str = DEFAULT_PREFIX

    @property
    def quotes(self) -> str:
        return self.prefix + "quotes"

    @property
    def depth(self) -> str:
        return self.prefix + "depth"

    @property
    def bars(self) -> str:
        return self.prefix + "bars"

    @property
    def orders(self) -> str:
        return self.prefix + "orders"

    @property
    def fills(self) -> str:
        return self.prefix + "fills"

    @property
    def positions(self) -> str:
        return self.prefix + "positions"

    @property
    def account(self) -> str:
        return self.prefix + "account"

    @property
    def connection(self) -> str:
        return self.prefix + "connection"

    @property
    def subscriptions(self) -> str:
        return self.prefix + "subscriptions"

    @property
    def commands(self) -> str:
        return self.prefix + "commands"

    @property
    def requests(self) -> str:
        return self.prefix + "requests"

    @property
    def replies(self) -> str:
        return self.prefix + "replies"

    def layout(self, retention_hours: float) -> dict[str, dict[str, str]]:
        """Every topic with its configuration: events are kept ``retention_hours``; state topics compacted."""
        keep = {"cleanup.policy": "delete", "retention.ms": str(int(retention_hours * 3_600_000))}
        short = {"cleanup.policy": "delete", "retention.ms": str(3_600_000)}  # replies to requests: an hour
        latest = {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1", "segment.ms": "3600000"}
        return {self.quotes: keep, self.depth: keep, self.bars: keep, self.orders: keep, self.fills: keep,
                self.commands: keep, self.connection: keep, self.requests: short, self.replies: short,
                self.positions: latest, self.account: latest, self.subscriptions: latest}


def _reachable(bootstrap: str, timeout: float = 3.0) -> None:
    """Fail at once, saying why, when no bootstrap server accepts a connection (librdkafka would wait its timeout)."""
    import socket

    errors = []
    for server in bootstrap.split(","):
        host, _, port = server.rpartition(":")
        try:
            with socket.create_connection((host, int(port)), timeout=timeout):
                return
        except OSError as exc:
            errors.append(f"{server}: {exc.strerror or exc}")
    raise BusError(f"Kafka at {bootstrap} is not reachable ({'; '.join(errors)})")


def ensure_topics(bootstrap: str, topics: Topics, retention_hours: float = DEFAULT_RETENTION_HOURS,
                  timeout: float = 15.0) -> None:
    """Create the desk's topics that do not exist yet (one partition each: per-key order is the contract)."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    _reachable(bootstrap)
    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": int(timeout * 1000),
                         "logger": _librdkafka_log})
    try:
        existing = set(admin.list_topics(timeout=timeout).topics)
    except KafkaException as exc:
        raise BusError(f"Kafka at {bootstrap} is not reachable: {exc.args[0].str() if exc.args else exc}") from None
    wanted = [NewTopic(name, num_partitions=1, replication_factor=1, config=config)
              for name, config in topics.layout(retention_hours).items() if name not in existing]
    if wanted:
        for name, future in admin.create_topics(wanted, request_timeout=timeout).items():
            try:
                future.result(timeout)
            except KafkaException as exc:
                error = exc.args[0]
                if error.code() != 36:  # TOPIC_ALREADY_EXISTS: another process made it first
                    raise BusError(f"cannot create topic {name} on {bootstrap}: {error.str()}") from None
    names = set(topics.layout(retention_hours))
    deadline = time.monotonic() + timeout
    while True:  # a topic just created has no leader for a moment: wait until every partition has one
        metadata = admin.list_topics(timeout=timeout).topics
        if all(n in metadata and metadata[n].error is None and metadata[n].partitions
               and all(p.leader >= 0 for p in metadata[n].partitions.values()) for n in names):
            return
        if time.monotonic() > deadline:
            raise BusError(f"the desk's topics on {bootstrap} have no leader after {timeout:g} s")
        time.sleep(0.1)

# librdkafka backs off up to 10 s between reconnects: a broker back after a restart was not used for up to 10 s.
# Our brokers are on the desk's LAN; one attempt a second is cheap.
RECONNECT_BACKOFF_MAX_MS = 1000


class Producer:
    """Idempotent producer (acks=all, retries without duplicates or reordering).

    ``send`` queues a message; ``send_confirmed`` returns a future done when Kafka has it (or failed)."""

    def __init__(self, bootstrap: str, loop: asyncio.AbstractEventLoop | None = None, linger_ms: float = 1.0,
                 client_id: str = "quant-terminal") -> None:
        from confluent_kafka import Producer as _Producer

        self.bootstrap = bootstrap
        self._loop = loop or asyncio.get_event_loop()
        self._producer = _Producer({
            "bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": linger_ms,
            "client.id": client_id, "message.timeout.ms": 300_000,
            "reconnect.backoff.max.ms": RECONNECT_BACKOFF_MAX_MS, "logger": _librdkafka_log, "queue.buffering.max.messages": 1_000_000,
        })
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"kafka-producer-{client_id}", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._closed.is_set():
            self._producer.poll(0.05)  # delivery reports run here

    def send(self, topic: str, key: str | None, message: dict[str, Any] | None,
             on_delivery: Callable[[Any, Any], None] | None = None) -> None:
        """Queue one message (``None`` is a tombstone on a compacted topic)."""
        value = None if message is None else dumps(message)
        encoded = None if key is None else key.encode()
        while True:
            try:
                if on_delivery is None:
                    self._producer.produce(topic, value, encoded)
                else:
                    self._producer.produce(topic, value, encoded, on_delivery=on_delivery)
                return
            except BufferError:  # a million messages queued: Kafka is down or far behind
                self._producer.poll(0.05)

    def send_raw(self, topic: str, key: bytes | None, value: bytes | None) -> None:
        while True:
            try:
                self._producer.produce(topic, value, key)
                return
            except BufferError:
                self._producer.poll(0.05)

    def send_confirmed(self, topic: str, key: str, message: dict[str, Any]) -> asyncio.Future:
        future: asyncio.Future = self._loop.create_future()

        def delivered(error: Any, _msg: Any) -> None:
            def settle() -> None:
                if future.done():
                    return
                if error is None:
                    future.set_result(None)
                else:
                    future.set_exception(BusError(f"Kafka did not take the message on {topic}: {error.str()}"))
            self._loop.call_soon_threadsafe(settle)

        self.send(topic, key, message, delivered)
        return future

    def flush(self, timeout: float = 10.0) -> int:
        """Wait until queued messages are delivered; returns how many are still queued."""
        return self._producer.flush(timeout)

    def close(self, timeout: float = 5.0) -> None:
        self.flush(timeout)
        self._closed.set()
        self._thread.join(1.0)


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None  # None: a tombstone
    timestamp_ms: int


BEGINNING, END = "beginning", "end"


def _watermarks(consumer: Any, partition: Any, timeout: float = 15.0) -> tuple[int, int]:
    """Low and high offsets; retried while the partition's leader is still being elected."""
    from confluent_kafka import KafkaException

    deadline = time.monotonic() + timeout
    while True:
        try:
            return consumer.get_watermark_offsets(partition, timeout=timeout)
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


class Consumer:
    """Reads topics in a thread and calls ``handler(records)`` on the loop, in order, a slice at a time.

    With ``group`` it joins that consumer group and commits only what ``commit`` is given (never
    automatically); without, it reads each topic from ``start`` (``BEGINNING``, ``END`` or an epoch-ms
    timestamp) and keeps no offsets. ``accept(topic, key)`` runs in the thread and drops a record
    before it reaches the loop (a terminal skipping quotes nobody watches). ``on_revoke(partitions)``
    runs in the thread when the group takes ``(topic, partition)`` pairs away, before another member
    gets them: it may block until the owner is done with them, and what it gave ``commit`` is committed
    before the partitions go. ``assignment`` is the group's partition assignment strategy (librdkafka's
    default, range, gives every one-partition topic to one member; roundrobin spreads them). ``standalone``
    with ``group``: not a member; it assigns itself every partition at the group's committed offsets (the
    beginning when there are none) and commits there, so there is no rebalance and no session to lose: a
    Kafka restart longer than the session timeout cost a member ~20 s of rejoining, during which nothing
    was read (the hub's commands, read by that one process only).

    The thread waits for the first message only and takes with it what else has arrived, up to ``batch``
    (``consume(n, timeout)`` waits the whole timeout for n: it added 25-50 ms to every quote, order update
    and hub command). At most two batches are queued for the loop or being handled, so a loop that falls
    behind leaves the backlog in librdkafka's bounded queue and on the broker rather than as callbacks
    piling up on the loop (seconds of lag, unbounded memory). The loop gives a batch to the handler in
    slices of ``slice_records`` and after ``slice_seconds`` lets the rest wait for its next turn, so timers
    and paints run between (a 5,000-quote batch was one 100 ms call)."""

    slice_records = 100
    slice_seconds = 0.004
    in_flight = 2  # batches queued for the loop or being handled

    def __init__(self, bootstrap: str, topics: Iterable[str], handler: Callable[[list[Record]], None],
                 loop: asyncio.AbstractEventLoop | None = None, group: str = "", start: str | int = END,
                 accept: Callable[[str, bytes | None], bool] | None = None, name: str = "consumer",
                 batch: int = 2000, on_revoke: Callable[[list[tuple[str, int]]], None] | None = None,
                 assignment: str = "", standalone: bool = False) -> None:
        self.bootstrap = bootstrap
        self.topics = list(topics)
        self._handler = handler
        self._loop = loop or asyncio.get_event_loop()
        self._group = group
        self._start = start
        self._accept = accept
        self._batch = batch
        self._on_revoke = on_revoke
        self._assignment = assignment
        self._standalone = standalone
        self._name = name
        self._commits: queue.SimpleQueue = queue.SimpleQueue()
        self._closed = threading.Event()
        self._assigned = threading.Event()
        self.partitions: frozenset[tuple[str, int]] = frozenset()  # what the group gives this member now
        self._ends: dict[tuple[str, int], int] = {}  # high watermarks when assigned: "caught up" is reaching them
        self._positions: dict[tuple[str, int], int] = {}
        self.caught_up = threading.Event()
        self._room = threading.Semaphore(self.in_flight)
        self._queue: deque[list[Record]] = deque()  # on the loop: batches not yet all handled, in order
        self._handled = 0  # records of the first queued batch already given to the handler
        self._draining = False
        self._mark: list[Record] = []  # the empty batch that follows every record there was at start
        self._mark_handled = asyncio.Event()
        self.error: str = ""
        self.last_batch = 0.0
        self._thread = threading.Thread(target=self._serve, name=f"kafka-{name}", daemon=True)

    def start(self) -> Consumer:
        self._thread.start()
        return self

    def commit(self, record: Record) -> None:
        """Commit the group's offset past ``record`` (done by the consumer thread before its next poll)."""
        self._commits.put((record.topic, record.partition, record.offset + 1))

    def _config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"bootstrap.servers": self.bootstrap, "enable.auto.commit": False,
                                  "enable.partition.eof": False, "fetch.wait.max.ms": 10,
                                  "socket.keepalive.enable": True, "client.id": self._name,
                                  "reconnect.backoff.max.ms": RECONNECT_BACKOFF_MAX_MS,
                                  "logger": _librdkafka_log}
        if self._group:
            config.update({"group.id": self._group, "auto.offset.reset": "earliest",
                           "session.timeout.ms": 10_000, "heartbeat.interval.ms": 1000})
            if self._assignment:
                config["partition.assignment.strategy"] = self._assignment
        else:
            config["group.id"] = f"unused-{self._name}"  # librdkafka wants one; nothing is committed under it
        return config

    def _assign_all(self, consumer: Any) -> None:
        from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, TopicPartition

        metadata = consumer.list_topics(timeout=15)
        parts = []
        for topic in self.topics:
            info = metadata.topics.get(topic)
            if info is None or info.error is not None:
                raise BusError(f"topic {topic} does not exist on {self.bootstrap} (start the hub once to create it)")
            for partition in info.partitions:
                low, high = _watermarks(consumer, TopicPartition(topic, partition))
                if self._standalone:  # where the group's committed offset says, else from the beginning
                    (committed,) = consumer.committed([TopicPartition(topic, partition)], timeout=15)
                    offset = committed.offset if committed.offset >= 0 else OFFSET_BEGINNING
                elif self._start == BEGINNING:
                    offset = OFFSET_BEGINNING
                    self._ends[(topic, partition)] = high if high > low else -1
                elif self._start == END:
                    offset = OFFSET_END
                else:
                    offset = int(self._start)
                    self._ends[(topic, partition)] = high if high > low else -1
                parts.append(TopicPartition(topic, partition, offset))
        if not isinstance(self._start, str) and not self._standalone:
            parts = consumer.offsets_for_times(parts, timeout=15)
            for part in parts:  # no message at or after the time: start at the end
                if part.offset < 0:
                    part.offset = OFFSET_END
        consumer.assign(parts)
        self.partitions = frozenset((p.topic, p.partition) for p in parts)

    def _serve(self) -> None:
        from confluent_kafka import Consumer as _Consumer
        from confluent_kafka import KafkaError, KafkaException, TopicPartition

        try:
            consumer = _Consumer(self._config())
            if self._group and not self._standalone:
                consumer.subscribe(self.topics, on_assign=self._on_assigned, on_revoke=self._revoked,
                                   on_lost=self._revoked)
            else:
                self._assign_all(consumer)
                self._assigned.set()
        except (KafkaException, BusError) as exc:
            self.error = str(exc)
            log.error("%s: %s", self._name, exc)
            self._assigned.set()
            return
        self._check_caught_up()
        accept = self._accept
        try:
            while not self._closed.is_set():
                self._drain_commits(consumer, TopicPartition)
                first = consumer.poll(0.05)
                if first is None:
                    continue
                messages = [first, *consumer.consume(self._batch - 1, 0)] if self._batch > 1 else [first]
                records = []
                for m in messages:
                    error = m.error()
                    if error is not None:
                        if error.fatal() or error.code() == KafkaError._FATAL:  # this consumer can do no more
                            self.error = error.str()
                            self.partitions = frozenset()
                            log.error("%s: %s; this consumer stops", self._name, self.error)
                            return
                        log.warning("%s: %s", self._name, error)
                        continue
                    topic, partition, offset = m.topic(), m.partition(), m.offset()
                    self._positions[(topic, partition)] = offset + 1
                    key = m.key()
                    if accept is not None and not accept(topic, key):
                        continue
                    records.append(Record(topic, partition, offset, key, m.value(), m.timestamp()[1]))
                if records:
                    self._hand(records)
                if not self.caught_up.is_set():
                    self._check_caught_up()
        finally:
            self._drain_commits(consumer, TopicPartition)
            consumer.close()

    def _on_assigned(self, consumer: Any, partitions: list[Any]) -> None:
        self.partitions = self.partitions | {(p.topic, p.partition) for p in partitions}
        self._assigned.set()

    def _revoked(self, consumer: Any, partitions: list[Any]) -> None:
        """The group takes partitions away (a rebalance) or they are lost (the session timed out)."""
        from confluent_kafka import TopicPartition

        self.partitions = self.partitions - {(p.topic, p.partition) for p in partitions}
        self._wait_handled()  # the owner has seen every record handed over before it lets the partitions go
        if self._on_revoke is not None:
            self._on_revoke([(p.topic, p.partition) for p in partitions])
        self._drain_commits(consumer, TopicPartition)

    def _wait_handled(self) -> None:
        """In the thread: until the loop has given the handler every batch handed to it (a batch may be handled
        over several turns of the loop, so a callback posted after it is no longer sure to run after it)."""
        taken = 0
        while taken < self.in_flight:
            if self._room.acquire(timeout=0.05):
                taken += 1
            elif self._closed.is_set() or self._loop.is_closed():
                break
        for _ in range(taken):
            self._room.release()

    def _check_caught_up(self) -> None:
        if all(self._positions.get(tp, 0) >= end for tp, end in self._ends.items()):
            self._hand(self._mark)  # after every batch before it
            self.caught_up.set()

    def _hand(self, records: list[Record]) -> None:
        """Queue ``records`` for the loop once fewer than ``in_flight`` batches are queued there or being handled."""
        while not self._room.acquire(timeout=0.05):
            if self._closed.is_set():
                return
        self._loop.call_soon_threadsafe(self._deliver, records)

    def _drain_commits(self, consumer: Any, partition_type: Any) -> None:
        latest: dict[tuple[str, int], int] = {}
        while True:
            try:
                topic, partition, offset = self._commits.get_nowait()
            except queue.Empty:
                break
            latest[(topic, partition)] = max(offset, latest.get((topic, partition), 0))
        if latest:
            try:
                consumer.commit(offsets=[partition_type(t, p, o) for (t, p), o in latest.items()],
                                asynchronous=False)
            except Exception as exc:  # Kafka down: the offsets are committed with the next ones
                log.warning("%s: offset commit failed (%s); it is retried", self._name, exc)
                for (t, p), o in latest.items():
                    self._commits.put((t, p, o))

    def _deliver(self, records: list[Record]) -> None:
        self.last_batch = time.monotonic()
        self._queue.append(records)
        if not self._draining:
            self._draining = True
            self._drain()

    def _drain(self) -> None:
        """On the loop: the queued batches to the handler a slice at a time, until ``slice_seconds`` are spent."""
        queue_, step = self._queue, self.slice_records
        deadline = time.perf_counter() + self.slice_seconds
        while queue_:
            if time.perf_counter() > deadline:
                self._loop.call_soon(self._drain)  # the rest after the loop's timers and paints
                return
            records, start = queue_[0], self._handled
            end = start + step
            if end >= len(records):
                self._batch_handled(queue_.popleft())
            else:
                self._handled = end
            if not records:
                continue
            try:
                self._handler(records if start == 0 and end >= len(records) else records[start:end])
            except BaseException:
                if end < len(records):  # the rest of this batch is lost to the handler, as it was; the next one comes
                    self._batch_handled(queue_.popleft())
                if queue_:
                    self._loop.call_soon(self._drain)
                else:
                    self._draining = False
                raise
        self._draining = False

    def _batch_handled(self, records: list[Record]) -> None:
        self._handled = 0
        self._room.release()
        if records is self._mark:
            self._mark_handled.set()

    async def wait_caught_up(self, timeout: float) -> bool:
        """True once every record that was on the topics at start has been given to the handler."""
        loop = asyncio.get_running_loop()
        done = await loop.run_in_executor(None, self.caught_up.wait, timeout)
        if not done:
            return False
        try:  # the batches queued before the flag are handled first
            await asyncio.wait_for(self._mark_handled.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def wait_assigned(self, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        return bool(await loop.run_in_executor(None, self._assigned.wait, timeout))

    def close(self) -> None:
        self._closed.set()
        if self._thread.is_alive():
            self._thread.join(3.0)
