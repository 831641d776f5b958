"""The desk's recorder as a Kafka consumer group: every tick, depth update and bar on the bus into the
Parquet archive, with the rows, files and spool of the broker's recorder (``terminal.archive.recorder``).

Offsets are committed only once the rows of the records before them are safe. Each record's position is
marked before its rows are taken (``Recorder.mark``); the writer thread reports a batch's positions once
its spool files and the spool's ledger (``terminal.archive.positions``) are on disk, and only then are
those offsets committed. So a recorder killed at any moment loses nothing (its successor in the group
starts at the committed offsets, and what was spooled but not archived is written by the next recorder
on that spool folder) and repeats nothing: a record below its stream's position in the ledger (safe,
but killed before the commit reached Kafka) is skipped and committed, not recorded again. Before the
group moves partitions to another member (a second recorder joins, one leaves), the batch in hand is
written and committed, so two recorders of one group share the partitions and never record one twice.
The partitions are spread round-robin: with the hub's one partition per topic, the members share by
topic (quotes, depth, bars); a desk whose topics have more partitions shares by instrument too.

Row values: ``time`` is the tick's time as the hub's broker stamped it (a bar's start; a depth update's
time at the hub); ``recv_time`` is when the hub put the message on the bus (its ``sent``), so a recorder
catching up after a restart writes the rows it would have written live. ``provenance`` is the hub's,
from its heartbeat on ``<prefix>connection`` (the last one on the topic at start, then each new one).
Instruments come from the desk's subscriptions (full contract with its conId); one no terminal announced
is built from its key. No gap markers are written: a recorder that is down misses nothing (Kafka keeps
it), and the hub's own outages are on ``<prefix>connection``.

What remains: a member killed between writing a batch and its commit (milliseconds) whose partitions a
member on another machine (another spool folder) takes before it restarts: those records are recorded by
both. Members on one machine share the spool folder's ledger and skip them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from terminal.archive.archive import Archive
from terminal.archive.recorder import Recorder, RecorderStats
from terminal.broker.base import BrokerError, UnknownInstrument
from terminal.bus import codec, kafka
from terminal.bus.kafka import BusError, Consumer, Record, Topics
from terminal.domain import Instrument, SecType

log = logging.getLogger(__name__)

FLUSH_CHECK_SECONDS = 1.0
REVOKE_TIMEOUT = 60.0  # longest wait for the batch in hand before partitions go to another member
KIND_OF_TOPIC = {"quotes": "ticks", "depth": "depth", "bars": "bars"}


@dataclass
class BusRecordingStats:
    messages: int = 0  # records taken from the topics, whether they gave rows or not
    ticks: int = 0
    skipped: int = 0  # already safe in the spool or archive (recorded before a restart): not recorded again
    bad: int = 0  # unreadable messages, skipped with a warning
    commits: int = 0  # offsets handed to the group after their rows were safe


class KafkaRecorder:
    """``quant-terminal record --from-kafka``: ``start()``, then ``stop()`` (or ``stop(flush=False)``)."""

    def __init__(self, bootstrap: str, archive: Archive, spool_dir: Path, topics: Topics | None = None,
                 group: str = "", instruments: Iterable[Instrument] | None = None, depth: bool = False,
                 bars: bool = True, batch_rows: int = 500_000, batch_seconds: float = 60.0,
                 recording: str | None = None, name: str = "") -> None:
        """``instruments``: record only these (by instrument key); None: every instrument on the bus."""
        self.bootstrap = bootstrap
        self.archive = archive
        self.spool_dir = spool_dir
        self.topics = topics or Topics()
        self.group = group or f"{self.topics.prefix}recorder"
        self.name = name or f"recorder-{socket.gethostname()}-{os.getpid()}"
        chosen = list(instruments) if instruments is not None else None
        self.keys = frozenset(i.key for i in chosen) if chosen is not None else None
        self.depth, self.bars = depth, bars
        self.batch_rows, self.batch_seconds = batch_rows, batch_seconds
        self.recording = recording
        self.stats = BusRecordingStats()
        self.recorder: Recorder | None = None
        self._known: dict[str, Instrument] = {i.key: i for i in chosen or ()}  # full contracts by key
        self._instruments: dict[str, Instrument] = {}  # what each key is recorded as (fixed at its first row)
        self._kinds = {getattr(self.topics, topic): kind for topic, kind in KIND_OF_TOPIC.items()}
        self._streams: dict[str, tuple[str, int]] = {}  # ledger stream name -> (topic, partition)
        self._stream_names: dict[tuple[str, int], str] = {}
        self._topic_ids: dict[str, str] = {}
        self._next: dict[tuple[str, int], int] = {}  # the offset expected next on each partition
        self._safe: dict[str, int] = {}
        self._group_consumer: Consumer | None = None
        self._consumers: list[Consumer] = []
        self._timer: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False

    @property
    def wanted_topics(self) -> list[str]:
        t = self.topics
        return [t.quotes] + ([t.depth] if self.depth else []) + ([t.bars] if self.bars else [])

    def position(self, topic: str, partition: int = 0) -> int:
        """The offset this recorder expects next on a partition (-1: none taken yet)."""
        return self._next.get((topic, partition), -1)

    # --- start and stop ----------------------------------------------------------------------------
    async def start(self, timeout: float = 15.0) -> Recorder:
        """Join the group and record; raises BusError when Kafka cannot be reached or read."""
        try:
            return await self._start(timeout)
        except BaseException:
            await self.stop(flush=False)
            raise

    async def _start(self, timeout: float) -> Recorder:
        self._loop = loop = asyncio.get_running_loop()
        await asyncio.to_thread(kafka.ensure_topics, self.bootstrap, self.topics, timeout=timeout)
        heartbeat = await asyncio.to_thread(last_message, self.bootstrap, self.topics.connection, timeout)
        provenance = str((heartbeat or {}).get("provenance") or "unknown")
        if heartbeat is None:
            log.warning("no hub heartbeat on %s yet: the rows are recorded as provenance 'unknown' until one "
                        "comes", self.topics.connection)
        subscriptions = self._add(Consumer(self.bootstrap, [self.topics.subscriptions], self._on_subscriptions,
                                           loop, start=kafka.BEGINNING, name=f"{self.name}-subscriptions"))
        if not await subscriptions.wait_caught_up(timeout) or subscriptions.error:
            raise BusError(f"cannot read {self.topics.subscriptions} on {self.bootstrap}: "
                           f"{subscriptions.error or 'timed out'}")
        self.recorder = await asyncio.to_thread(
            Recorder, self.archive, provenance, self.spool_dir, self.recording, batch_rows=self.batch_rows,
            batch_seconds=self.batch_seconds, on_durable=self._on_durable)
        self._safe = await asyncio.to_thread(self.recorder.safe_positions)
        self._topic_ids = await asyncio.to_thread(topic_ids, self.bootstrap, self.wanted_topics, timeout)
        self._add(Consumer(self.bootstrap, [self.topics.connection], self._on_heartbeats, loop, start=kafka.END,
                           name=f"{self.name}-hub"))
        self._group_consumer = self._add(Consumer(
            self.bootstrap, self.wanted_topics, self._on_records, loop, group=self.group, name=self.name,
            batch=5000, on_revoke=self._on_revoke, assignment="roundrobin"))
        if not await self._group_consumer.wait_assigned(timeout) and not self._group_consumer.error:
            log.warning("%s: no partitions from group %s within %g s yet (the group is rebalancing)",
                        self.name, self.group, timeout)
        if self._group_consumer.error:
            raise BusError(f"cannot join group {self.group} on {self.bootstrap}: {self._group_consumer.error}")
        self._timer = asyncio.ensure_future(self._flush_timer())
        return self.recorder

    def _add(self, consumer: Consumer) -> Consumer:
        self._consumers.append(consumer)
        return consumer.start()

    async def stop(self, flush: bool = True) -> RecorderStats:
        """Stop taking records and wait until what was taken is safe and committed. ``flush=False`` drops
        the rows not handed to the writer yet: they stay uncommitted, and the next recorder reads them."""
        self._stopping = True
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
        stats = RecorderStats()
        if self.recorder is not None:
            if not flush:
                self.recorder.discard()
            stats = await asyncio.to_thread(self.recorder.close)
        for consumer in self._consumers:  # the group consumer commits what the recorder gave it as it closes
            await asyncio.to_thread(consumer.close)
        self._consumers.clear()
        return stats

    async def _flush_timer(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_CHECK_SECONDS)
            if self.recorder is not None:
                self.recorder.flush_if_due()

    # --- the group's partitions and offsets --------------------------------------------------------
    def _stream(self, where: tuple[str, int]) -> str:
        stream = self._stream_names.get(where)
        if stream is None:
            # the topic's id too: a topic deleted and made again under its name starts at offset 0 again,
            # and the ledger's positions of the old one must not make the recorder skip the new one's records
            topic_id = self._topic_ids.get(where[0], "")
            stream = f"kafka:{self.group}:{where[0]}{'#' + topic_id if topic_id else ''}:{where[1]}"
            self._stream_names[where] = stream
            self._streams[stream] = where
        return stream

    def _on_durable(self, reached: dict[str, int]) -> None:
        """Writer thread: the rows before these positions are on disk; commit the offsets."""
        consumer = self._group_consumer
        for stream, position in reached.items():
            where = self._streams.get(stream)
            if consumer is not None and where is not None:
                consumer.commit(Record(where[0], where[1], position - 1, None, None, 0))
                self.stats.commits += 1

    def _on_revoke(self, partitions: list[tuple[str, int]]) -> None:
        """Consumer thread, before the group moves partitions: write the batch in hand and let it commit."""
        loop = self._loop
        if self._stopping or loop is None or loop.is_closed():
            return
        try:
            asyncio.run_coroutine_threadsafe(self._hand_back(partitions), loop).result(REVOKE_TIMEOUT)
        except Exception as exc:  # what was not committed is read again by the next owner
            log.warning("%s: the batch in hand was not written before the rebalance: %s", self.name, exc)

    async def _hand_back(self, partitions: list[tuple[str, int]]) -> None:
        recorder = self.recorder
        if recorder is not None and not self._stopping:
            recorder.flush()
            await asyncio.to_thread(recorder.wait)
        for partition in partitions:
            self._next.pop(partition, None)

    # --- records -----------------------------------------------------------------------------------
    def _on_records(self, records: list[Record]) -> None:
        recorder = self.recorder
        if recorder is None or self._stopping:
            return
        consumer = self._group_consumer
        for record in records:
            where = (record.topic, record.partition)
            stream = self._stream(where)
            if self._next.get(where) != record.offset:  # first from this partition, or it moved: look again
                self._safe = recorder.safe_positions()
            if record.offset < self._safe.get(stream, -1):
                self.stats.skipped += 1
                if consumer is not None:
                    consumer.commit(record)
                self._next[where] = record.offset + 1
                continue
            self._next[where] = record.offset + 1
            self.stats.messages += 1
            kind = self._kinds[record.topic]
            recorder.mark(kind, stream, record.offset + 1)  # before the rows: a batch never holds a mark without them
            key = (record.key or b"").decode()
            if record.value is None or (self.keys is not None and key not in self.keys):
                continue
            try:
                self._take(recorder, kind, key, codec.loads(record.value), record)
            except (codec.BadMessage, KeyError, TypeError, ValueError, AttributeError) as exc:
                self.stats.bad += 1
                log.warning("%s: unreadable message on %s at offset %d (%s); skipped", self.name, record.topic,
                            record.offset, exc)

    def _take(self, recorder: Recorder, kind: str, key: str, message: dict[str, Any], record: Record) -> None:
        recv = float(message.get("sent") or record.timestamp_ms / 1000)
        instrument = self._instrument(key, message)
        if kind == "ticks":
            ticks = [(float(t), str(f), codec.to_float(p), codec.to_float(z)) for t, f, p, z in message.get("ticks") or ()]
            if ticks:
                self.stats.ticks += len(ticks)
                recorder.ticks(instrument, ticks, recv)
        elif kind == "depth":
            bids, asks = codec.depth_from(message)
            moment = codec.parse_time(message.get("time"))
            recorder.depth(instrument, moment.timestamp() if moment else recv, bids, asks, recv)
        else:
            bar = codec.bar_from(message)
            recorder.bar(instrument, bar, bar.bar_size.seconds, recv)

    def _instrument(self, key: str, message: dict[str, Any]) -> Instrument:
        instrument = self._instruments.get(key)
        if instrument is None:
            instrument = self._known.get(key) or instrument_from_key(key, str(message.get("symbol", "")))
            self._instruments[key] = instrument
        return instrument

    def _on_subscriptions(self, records: list[Record]) -> None:
        for record in records:
            try:
                message = codec.loads(record.value or b"")
                if message.get("type") == "subscription":
                    instrument = codec.instrument_from(message["instrument"])
                    if instrument.contract_id or instrument.key not in self._known:
                        self._known[instrument.key] = instrument
            except (codec.BadMessage, KeyError, TypeError) as exc:
                log.debug("%s: subscription message skipped: %s", self.name, exc)

    def _on_heartbeats(self, records: list[Record]) -> None:
        recorder = self.recorder
        for record in records:
            try:
                provenance = codec.loads(record.value or b"").get("provenance")
            except codec.BadMessage:
                continue
            if recorder is not None and provenance and provenance != recorder.provenance:
                log.info("%s: the hub's provenance is now %s (was %s)", self.name, provenance, recorder.provenance)
                recorder.flush()  # the rows before go with the provenance they came with
                recorder.provenance = str(provenance)


def instrument_from_key(key: str, display: str = "") -> Instrument:
    """``SYMBOL:SECTYPE:EXCHANGE:CURRENCY`` as an instrument (no conId); ``display`` is a future's month."""
    parts = key.split(":")
    if len(parts) != 4:
        raise ValueError(f"instrument key {key!r} is not SYMBOL:SECTYPE:EXCHANGE:CURRENCY")
    symbol, sec_type, exchange, currency = parts
    kind = SecType(sec_type)
    local = display if kind is SecType.FUTURE and display and display != symbol else ""
    return Instrument(symbol, kind, exchange, currency, local_symbol=local)


def topic_ids(bootstrap: str, topics: list[str], timeout: float = 10.0) -> dict[str, str]:
    """Each topic's id (Kafka 2.8+; a topic made again under its name has a new one); none where unknown."""
    from confluent_kafka import KafkaException, TopicCollection
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "logger": logging.getLogger("terminal.bus.librdkafka")})
    ids = {}
    for name, future in admin.describe_topics(TopicCollection(topics), request_timeout=timeout).items():
        try:
            topic_id = future.result(timeout).topic_id
        except KafkaException as exc:
            log.warning("cannot describe %s on %s (%s): its positions are kept by name only", name, bootstrap, exc)
            continue
        if topic_id is not None and str(topic_id) != "AAAAAAAAAAAAAAAAAAAAAA":  # the zero id: not known
            ids[name] = str(topic_id)
    return ids


def last_message(bootstrap: str, topic: str, timeout: float = 10.0) -> dict[str, Any] | None:
    """The last readable message on partition 0 of ``topic`` (None if it has none), read without a group."""
    from confluent_kafka import Consumer as _Consumer
    from confluent_kafka import KafkaException, TopicPartition

    consumer = _Consumer({"bootstrap.servers": bootstrap, "group.id": f"unused-last-{os.getpid()}",
                          "enable.auto.commit": False, "logger": logging.getLogger("terminal.bus.librdkafka")})
    try:
        try:
            low, high = kafka._watermarks(consumer, TopicPartition(topic, 0), timeout)
        except KafkaException as exc:
            raise BusError(f"cannot read {topic} on {bootstrap}: {exc}") from None
        if high <= low:
            return None
        consumer.assign([TopicPartition(topic, 0, high - 1)])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is None or message.error():
                continue
            try:
                return codec.loads(message.value() or b"")
            except codec.BadMessage:
                return None
        return None
    finally:
        consumer.close()


class HubDesk:
    """The hub's instrument look-ups (qualify, search) over requests and replies: enough of a broker for
    ``MarketService.qualify``, so ``--symbols`` is checked the way the desk's terminals check them."""

    def __init__(self, bootstrap: str, topics: Topics, wait: float = 10.0) -> None:
        self.bootstrap, self.topics, self.wait = bootstrap, topics, wait
        self.name = f"recorder-{socket.gethostname()}-{os.getpid()}"
        self._ids = itertools.count(1)
        self._replies: dict[str, asyncio.Future] = {}
        self._producer: kafka.Producer | None = None
        self._consumer: Consumer | None = None

    async def __aenter__(self) -> HubDesk:
        loop = asyncio.get_running_loop()
        self._producer = kafka.Producer(self.bootstrap, loop, client_id=self.name)
        since = int((time.time() - 2.0) * 1000)  # from a time, not END: no reply is missed while assigning
        self._consumer = Consumer(self.bootstrap, [self.topics.replies], self._on_replies, loop, start=since,
                                  accept=lambda _t, key: key == self.name.encode(), name=f"{self.name}-replies").start()
        if not await self._consumer.wait_assigned(self.wait) or self._consumer.error:
            error = self._consumer.error or "timed out"
            await self.__aexit__(None, None, None)
            raise BusError(f"cannot read {self.topics.replies} on {self.bootstrap}: {error}")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for closing in (self._producer, self._consumer):
            if closing is not None:
                await asyncio.to_thread(closing.close)

    def _on_replies(self, records: list[Record]) -> None:
        for record in records:
            with contextlib.suppress(codec.BadMessage):
                message = codec.loads(record.value or b"")
                future = self._replies.pop(str(message.get("id")), None)
                if future is not None and not future.done():
                    future.set_result(message)

    async def _ask(self, method: str, **args: Any) -> Any:
        assert self._producer is not None
        request_id = f"{self.name}-{next(self._ids)}"
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._replies[request_id] = future
        self._producer.send(self.topics.requests, self.name, codec.envelope(
            "request", id=request_id, terminal=self.name, trader="recorder", method=method, args=args))
        try:
            reply = await asyncio.wait_for(future, self.wait)
        except TimeoutError:
            raise BrokerError(f"no desk hub answered on {self.topics.requests} within {self.wait:g} s "
                              "(the hub checks the symbols; start it, or leave --symbols out)") from None
        finally:
            self._replies.pop(request_id, None)
        if reply.get("ok"):
            return reply.get("result")
        if reply.get("kind") in ("UnknownInstrument", "UnknownSymbol"):
            raise UnknownInstrument(str(reply.get("error", "")).split(": ", 1)[-1])
        raise BrokerError(f"desk hub: {reply.get('error', 'failed')}")

    async def qualify(self, instrument: Instrument) -> Instrument:
        return codec.instrument_from(await self._ask("qualify", instrument=codec.instrument_dict(instrument)))

    async def search(self, pattern: str) -> list[Instrument]:
        return [codec.instrument_from(i) for i in await self._ask("search", pattern=pattern)]
