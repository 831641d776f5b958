"""The recorder as a Kafka consumer group, on a real Kafka broker and the hub on the simulator: every tick
and depth update on the bus is one row in the archive, and a recorder stopped without flushing, killed -9
or joined by a second one of its group loses nothing and records nothing twice.

The bus is the reference: a witness reads the topics from the start (no group) once the hub has stopped,
and the expected rows are computed from those messages here, not by the recorder's code.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import sys
from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pytest

from terminal.archive import open_archive
from terminal.bus.kafka import BEGINNING, Consumer, Record
from terminal.bus.recorder import KafkaRecorder
from tests.support.trading import wait

AAPL_KEY = "AAPL:STK:SMART:USD"


# --- the bus as the reference ----------------------------------------------------------------------
def _watch(desk, session, depth: bool = False):
    instrument = desk.run(session.market.qualify("AAPL"))
    desk.run(session.market.subscribe(instrument))
    if depth:
        desk.run(session.market.subscribe_depth(instrument))
    return instrument


def _bus(loop, desk, topics: list[str]) -> dict[str, list[Record]]:
    """Every record on the topics now, in offset order, read without a group."""
    got: dict[str, list[Record]] = defaultdict(list)
    witness = Consumer(desk.bootstrap, topics, lambda records: [got[r.topic].append(r) for r in records], loop,
                       start=BEGINNING, name="witness").start()
    assert desk.run(witness.wait_caught_up(30.0)), "the witness did not read the topics"
    witness.close()
    return got


def _none(value):
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _bus_ticks(records: list[Record], below: int | None = None) -> list[tuple]:
    """(time µs, kind, price, size) of every tick of AAPL's quote messages (offset < ``below``)."""
    ticks = []
    for record in records:
        if record.key != AAPL_KEY.encode() or (below is not None and record.offset >= below):
            continue
        for when, kind, price, size in json.loads(record.value).get("ticks") or ():
            ticks.append((round(when * 1e6), kind, None if kind == "volume" else _none(price), _none(size)))
    return ticks


def _archived_ticks(archive, recordings: list[str] | None = None) -> list[tuple]:
    """The archive's tick rows as (time µs, kind, price, size): by recording (in the given order), then seq."""
    table = archive.read("ticks", "AAPL", verify=True)
    rows = table.to_pylist()
    order = {name: i for i, name in enumerate(recordings or [])}
    rows.sort(key=lambda r: (order.get(r["recording"], len(order)), r["recording"], r["seq"]))
    ticks = []
    for row in rows:
        kind = row["tick"]
        price = None if kind == "volume" else _none(row[kind])
        size = _none(row["volume"] if kind == "volume" else row[f"{kind}_size"])
        ticks.append((round(row["time"].timestamp() * 1e6), kind, price, size))
    return ticks


def _committed(bootstrap: str, group: str, topic: str) -> int:
    """The group's committed offset on partition 0 of ``topic`` (negative: none)."""
    from confluent_kafka import Consumer as _Consumer
    from confluent_kafka import TopicPartition

    consumer = _Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        return consumer.committed([TopicPartition(topic, 0)], timeout=10)[0].offset
    finally:
        consumer.close()


def _drain(loop, desk, hub, recorders, topics: list[str]) -> dict[str, list[Record]]:
    """Stop the hub (the bus then holds a fixed set), wait until the recorders took all of it, return it."""
    desk.stop_hub(hub)
    bus = _bus(loop, desk, topics)
    ends = {topic: records[-1].offset + 1 for topic, records in bus.items() if records}
    wait(loop, lambda: all(max(r.position(t) for r in recorders) == end for t, end in ends.items()), 40,
         f"the recorders at the end of the topics {ends}")
    return bus


def _recorder(desk, tmp_path: Path, spool: str = "spool", **options) -> KafkaRecorder:
    archive = open_archive(str(tmp_path / "archive"))
    recorder = KafkaRecorder(desk.bootstrap, archive, tmp_path / spool, desk.topics, **options)
    desk.run(recorder.start())
    return recorder


# --- recording -------------------------------------------------------------------------------------
def test_every_tick_and_depth_update_on_the_bus_is_one_row_in_the_archive(loop, desk, tmp_path):
    hub = desk.hub()
    alice = desk.terminal("alice")
    instrument = _watch(desk, alice, depth=True)
    recorder = _recorder(desk, tmp_path, depth=True, batch_rows=500, recording="only")
    wait(loop, lambda: recorder.stats.ticks > 400, 30, "ticks recorded from the bus")
    t = desk.topics
    bus = _drain(loop, desk, hub, [recorder], [t.quotes, t.depth])
    stats = desk.run(recorder.stop())
    archive = recorder.archive

    assert stats.failures == 0 and stats.written == stats.rows and stats.batches > 1
    expected = _bus_ticks(bus[t.quotes])
    assert len(expected) > 400
    assert _archived_ticks(archive) == expected  # the same ticks, in the same order, each once

    table = archive.read("ticks", "AAPL").sort_by("seq")
    # each row holds the whole top of book after its tick: rebuild it from the bus's ticks
    book = {"bid": None, "ask": None, "last": None}
    for row, (_, kind, price, _size) in zip(table.to_pylist(), expected, strict=True):
        if kind in book:
            book[kind] = price
        assert (_none(row["bid"]), _none(row["ask"]), _none(row["last"])) == (book["bid"], book["ask"], book["last"])
    sent = [json.loads(r.value)["sent"] for r in bus[t.quotes] if r.key == AAPL_KEY.encode()
            for _ in json.loads(r.value).get("ticks") or ()]
    assert [round(s * 1e6) for s in sent] == table["recv_time"].cast(pa.int64()).to_pylist()
    assert table["provenance"].cast(pa.string()).unique().to_pylist() == ["simulator"]
    assert table["contract_id"].unique().to_pylist() == [instrument.contract_id] and instrument.contract_id
    assert table["seq"].to_pylist() == sorted(table["seq"].to_pylist())

    depth_messages = [json.loads(r.value) for r in bus[t.depth] if r.key == AAPL_KEY.encode()]
    depth = archive.read("depth", "AAPL", verify=True).sort_by("seq")
    assert depth.num_rows == len(depth_messages) > 0
    assert depth["bid_price"].to_pylist() == [[p for p, _ in m["bids"]] for m in depth_messages]
    assert depth["ask_size"].to_pylist() == [[s for _, s in m["asks"]] for m in depth_messages]
    # the offsets are committed once the rows are safe, and all of them by a stop that flushes
    assert _committed(desk.bootstrap, recorder.group, t.quotes) == bus[t.quotes][-1].offset + 1
    assert _committed(desk.bootstrap, recorder.group, t.depth) == bus[t.depth][-1].offset + 1


def test_a_recorder_stopped_without_flush_and_started_again_loses_and_repeats_no_tick(loop, desk, tmp_path):
    hub = desk.hub()
    _watch(desk, desk.terminal("alice"))
    t = desk.topics
    first = _recorder(desk, tmp_path, batch_rows=300, batch_seconds=3600, recording="first")
    wait(loop, lambda: first.stats.commits >= 2 and first.recorder.buffered > 50, 30,
         "some batches committed and some rows only in memory")
    taken = first.position(t.quotes)
    desk.run(first.stop(flush=False))  # as good as killed: the rows in memory are gone
    committed = _committed(desk.bootstrap, first.group, t.quotes)
    assert 0 < committed < taken
    desk.run(asyncio.sleep(1.0))  # the hub goes on publishing while no recorder runs
    second = _recorder(desk, tmp_path, batch_rows=300, recording="second")
    wait(loop, lambda: second.stats.ticks > 200, 30, "ticks at the second recorder")
    bus = _drain(loop, desk, hub, [second], [t.quotes])
    stats = desk.run(second.stop())

    assert stats.failures == 0
    end = bus[t.quotes][-1].offset + 1
    assert second.stats.messages == end - committed and second.stats.skipped == 0  # it began at the commit
    assert _archived_ticks(second.archive, ["first", "second"]) == _bus_ticks(bus[t.quotes])


def test_rows_in_the_spool_whose_commit_never_reached_kafka_are_not_recorded_again(loop, desk, tmp_path):
    hub = desk.hub()
    _watch(desk, desk.terminal("alice"))
    t = desk.topics
    first = _recorder(desk, tmp_path, batch_rows=1_000_000, batch_seconds=3600, recording="first")
    wait(loop, lambda: first.stats.ticks > 200, 30, "ticks at the first recorder")
    first.recorder.on_durable = None  # the process dies after the batch is on disk, before the commit is sent
    safe = first.position(t.quotes)  # read with the loop idle: the batch flushed holds exactly the records before it
    first.recorder.flush()
    desk.run(asyncio.to_thread(first.recorder.wait))  # (the loop runs here: records taken now are not in the batch)
    desk.run(first.stop(flush=False))
    assert _committed(desk.bootstrap, first.group, t.quotes) < 0  # Kafka never heard of those rows
    assert first.archive.read("ticks", "AAPL").num_rows > 200  # but they are in the archive
    second = _recorder(desk, tmp_path, recording="second")
    wait(loop, lambda: second.stats.ticks > 100, 30, "new ticks at the second recorder")
    bus = _drain(loop, desk, hub, [second], [t.quotes])
    desk.run(second.stop())

    assert second.stats.skipped == safe  # read again from Kafka, found in the spool's ledger: not recorded
    assert _archived_ticks(second.archive, ["first", "second"]) == _bus_ticks(bus[t.quotes])
    assert _committed(desk.bootstrap, second.group, t.quotes) == bus[t.quotes][-1].offset + 1


def test_two_recorders_of_one_group_share_the_topics_and_record_each_message_once(loop, desk, tmp_path):
    hub = desk.hub()
    _watch(desk, desk.terminal("alice"), depth=True)
    t = desk.topics
    a = _recorder(desk, tmp_path, "spool-a", depth=True, batch_rows=400, recording="a", name="recorder-a")
    wait(loop, lambda: a.stats.ticks > 150, 30, "ticks at the first recorder")
    b = _recorder(desk, tmp_path, "spool-b", depth=True, batch_rows=400, recording="b", name="recorder-b")
    wait(loop, lambda: b.stats.messages > 50 and a.stats.messages > 300, 40, "both recorders taking messages")
    bus = _drain(loop, desk, hub, [a, b], [t.quotes, t.depth])
    ends = {topic: records[-1].offset + 1 for topic, records in bus.items()}
    owners = {topic: [r.name for r in (a, b) if r.position(topic) == end] for topic, end in ends.items()}
    stats = [desk.run(r.stop()) for r in (a, b)]

    assert all(s.failures == 0 for s in stats)
    assert sorted(len(names) for names in owners.values()) == [1, 1], owners
    assert {n for names in owners.values() for n in names} == {"recorder-a", "recorder-b"}, owners  # shared
    archive = a.archive
    assert sorted(_archived_ticks(archive), key=repr) == sorted(_bus_ticks(bus[t.quotes]), key=repr)
    depth = archive.read("depth", "AAPL", verify=True)
    expected_depth = [json.loads(r.value) for r in bus[t.depth] if r.key == AAPL_KEY.encode()]
    assert depth.num_rows == len(expected_depth)
    assert sorted(depth["time"].cast(pa.int64()).to_pylist()) == sorted(
        round(_iso_seconds(m["time"]) * 1e6) for m in expected_depth)


def _iso_seconds(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text).timestamp()


def test_a_topic_made_again_under_its_name_is_recorded_from_its_first_record(loop, kafka_bootstrap, topics,
                                                                            tmp_path):
    from confluent_kafka.admin import AdminClient

    from terminal.bus import codec
    from terminal.bus.kafka import Producer, ensure_topics
    from terminal.domain import Instrument, Quote

    aapl = Instrument("AAPL", contract_id=265598)

    def put(count: int, start: float) -> None:  # quote messages as the hub writes them, one tick each
        producer = Producer(kafka_bootstrap, loop)
        for i in range(count):
            message = codec.quote_message(aapl, Quote("AAPL", 100.0, 100.01, 100.0))
            message["ticks"] = [[start + i, "bid", 100.0 + i / 100, 1.0]]
            producer.send(topics.quotes, aapl.key, message)
        producer.close()

    def record(name: str, count: int) -> KafkaRecorder:
        recorder = KafkaRecorder(kafka_bootstrap, open_archive(str(tmp_path / "archive")), tmp_path / "spool",
                                 topics, bars=False, recording=name)
        loop.run_until_complete(recorder.start())
        wait(loop, lambda: recorder.position(topics.quotes) == count, 30, f"{count} records at {name}")
        loop.run_until_complete(recorder.stop())
        return recorder

    ensure_topics(kafka_bootstrap, topics)
    put(50, 1_764_000_000.0)
    record("first", 50)
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.delete_topics([topics.quotes])[topics.quotes].result(30)
    made = False
    for _ in range(100):  # the deletion completes in the background
        try:
            ensure_topics(kafka_bootstrap, topics)
            made = topics.quotes in admin.list_topics(timeout=10).topics
        except Exception:
            made = False
        if made:
            break
        loop.run_until_complete(asyncio.sleep(0.2))
    assert made, "the quotes topic was not made again"
    put(20, 1_764_100_000.0)
    second = record("second", 20)

    assert second.stats.skipped == 0 and second.stats.ticks == 20  # the old topic's positions do not apply
    assert second.archive.read("ticks", "AAPL", verify=True).num_rows == 70


# --- the command -----------------------------------------------------------------------------------
def _command(desk, data: Path, *argv: str) -> list[str]:
    return [sys.executable, "-m", "terminal", "--data-dir", str(data), "--log-level", "WARNING", "record",
            "--from-kafka", desk.bootstrap, "--prefix", desk.topics.prefix, *argv]


async def _run(command: list[str], timeout: float = 90.0) -> tuple[int, str, str]:
    """The command as a child process, the loop (and the hub on it) running meanwhile."""
    child = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE,
                                                 stderr=asyncio.subprocess.PIPE, env={**os.environ, "QT_NO_KEYRING": "1"})
    out, err = await asyncio.wait_for(child.communicate(), timeout)
    return child.returncode or 0, out.decode(), err.decode()


def test_record_from_kafka_for_seconds_archives_what_the_group_committed(loop, desk, tmp_path):
    desk.hub()
    _watch(desk, desk.terminal("alice"))
    data = tmp_path / "data"
    code, out, err = desk.run(_run(_command(desk, data, "--seconds", "3", "--flush-seconds", "1")), 120)
    assert code == 0, err
    assert "recorded" in out and "recording every instrument on the bus" in err and "Traceback" not in err
    committed = _committed(desk.bootstrap, f"{desk.topics.prefix}recorder", desk.topics.quotes)
    archive = open_archive(str(data / "archive"))
    ticks = _archived_ticks(archive)
    assert committed > 0 and len(ticks) > 20
    assert ticks == _bus_ticks(_bus(loop, desk, [desk.topics.quotes])[desk.topics.quotes], below=committed)
    assert f"({len(ticks):,} ticks)" in out


def test_a_record_command_killed_9_and_started_again_loses_and_repeats_no_tick(loop, desk, tmp_path):
    hub = desk.hub()
    _watch(desk, desk.terminal("alice"))
    t = desk.topics
    data = tmp_path / "data"

    async def record_then_kill() -> str:
        child = await asyncio.create_subprocess_exec(*_command(desk, data, "--flush-seconds", "0.3"),
                                                     stderr=asyncio.subprocess.PIPE,
                                                     stdout=asyncio.subprocess.DEVNULL,
                                                     env={**os.environ, "QT_NO_KEYRING": "1"})
        deadline = loop.time() + 60
        while len(list((data / "archive").glob("kind=ticks/*/*/*.parquet"))) < 3:
            assert loop.time() < deadline and child.returncode is None, "the recorder wrote no batches"
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.45)  # somewhere inside a batch, not just after one
        child.send_signal(signal.SIGKILL)
        _, err = await child.communicate()
        return err.decode()

    err = desk.run(record_then_kill(), 90)
    assert "Traceback" not in err
    archive = open_archive(str(data / "archive"))
    (killed,) = archive.read("ticks", "AAPL")["recording"].cast(pa.string()).unique().to_pylist()
    again = KafkaRecorder(desk.bootstrap, archive, data / "spool", t, recording="zz-again")
    desk.run(again.start(timeout=30.0))  # the group waits for the killed member's session to time out
    wait(loop, lambda: again.stats.ticks > 100, 40, "ticks after the restart")
    bus = _drain(loop, desk, hub, [again], [t.quotes])
    desk.run(again.stop())

    assert _archived_ticks(archive, [killed, "zz-again"]) == _bus_ticks(bus[t.quotes])


# --- bad input -------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv, message", [
    (["record", "--from-kafka", "nohost", "--seconds", "1"], "record --from-kafka: bad Kafka server 'nohost'"),
    (["record", "--from-kafka", "127.0.0.1:1", "--seconds", "1"], "Kafka at 127.0.0.1:1 is not reachable"),
    (["record", "--seconds", "1"], "record: give --symbols"),
    (["record", "--symbols", "AAPL", "--group", "g"], "--prefix and --group go with --from-kafka"),
    (["record", "--from-kafka", "127.0.0.1:1", "--archive", "s3://x/y"], "s3:// is not supported"),
])
def test_bad_input_to_record_from_kafka_is_one_line_and_a_failure(tmp_path, argv, message):
    code, _, err = asyncio.run(_run([sys.executable, "-m", "terminal", "--data-dir", str(tmp_path),
                                     "--log-level", "WARNING", *argv], 60))
    assert code == 1
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


def test_an_unknown_symbol_to_record_from_kafka_is_one_line_and_a_failure(loop, desk, tmp_path):
    desk.hub()
    code, _, err = desk.run(_run(_command(desk, tmp_path, "--symbols", "AAPL,NOSUCHSYM", "--seconds", "1")), 90)
    assert code == 1
    assert "record --symbols: 'NOSUCHSYM'" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
