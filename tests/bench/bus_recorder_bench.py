"""The recorder as a Kafka consumer group: how fast it turns a backlog of quote messages on the desk bus into
archive rows (what a recorder restarted after an outage does), against a baseline in the same run.

A backlog of quote messages as the hub writes them (10 symbols, ``--ticks`` ticks per message) is put on a
fresh topic of the real Kafka broker; then ``KafkaRecorder`` reads it from its group's start until the
archive holds every tick (``stop()`` returned: Parquet written, offsets committed), timed from its first
record (the group's join, which the broker delays for a new group, is not counted). Baseline: a plain
``Consumer`` reading and JSON-decoding the same messages and nothing else. The archive's row count is
checked against the ticks put on the bus.

Run: QT_TEST_KAFKA_BOOTSTRAP=HOST:PORT python tests/bench/bus_recorder_bench.py [--messages N] [--ticks K]
(without a broker it says so and exits 0).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from terminal.archive import open_archive  # noqa: E402
from terminal.bus import codec  # noqa: E402
from terminal.bus.kafka import BEGINNING, Consumer, Producer, Topics, ensure_topics  # noqa: E402
from terminal.bus.recorder import KafkaRecorder  # noqa: E402
from terminal.domain import Instrument, Quote  # noqa: E402

SYMBOLS = ["AAPL", "MSFT", "NVDA", "AMZN", "GOOG", "META", "TSLA", "AMD", "NFLX", "INTC"]


async def backlog(bootstrap: str, topics: Topics, messages: int, per_message: int) -> int:
    producer = Producer(bootstrap, asyncio.get_running_loop(), linger_ms=20)
    instruments = [Instrument(s, contract_id=1000 + i) for i, s in enumerate(SYMBOLS)]
    start = time.time() - messages * 0.001
    kinds = ("bid", "ask", "last", "volume")
    for n in range(messages):
        instrument = instruments[n % len(instruments)]
        when = start + n * 0.001
        message = codec.quote_message(instrument, Quote(instrument.symbol, 100.0, 100.01, 100.0, time=None))
        message["ticks"] = [[when, kinds[k % 4], 100.0 + k / 100, 100.0] for k in range(per_message)]
        producer.send(topics.quotes, instrument.key, message)
    await asyncio.to_thread(producer.close, 120.0)
    return messages * per_message


async def baseline(bootstrap: str, topics: Topics, messages: int) -> float:
    seen = 0

    def take(records) -> None:
        nonlocal seen
        for record in records:
            json.loads(record.value)
        seen += len(records)

    started = time.perf_counter()
    consumer = Consumer(bootstrap, [topics.quotes], take, asyncio.get_running_loop(), start=BEGINNING,
                        name="bench-baseline", batch=5000).start()
    while seen < messages:
        await asyncio.sleep(0.01)
    seconds = time.perf_counter() - started
    consumer.close()
    return seconds


async def record(bootstrap: str, topics: Topics, messages: int, folder: Path) -> tuple[float, int]:
    archive = open_archive(str(folder / "archive"))
    recorder = KafkaRecorder(bootstrap, archive, folder / "spool", topics, bars=False, batch_rows=250_000)
    await recorder.start()
    while recorder.position(topics.quotes) < 0:  # the group's join (the broker delays a new group's first one)
        await asyncio.sleep(0.001)
    started = time.perf_counter()
    while recorder.position(topics.quotes) < messages:
        await asyncio.sleep(0.01)
    stats = await recorder.stop()
    seconds = time.perf_counter() - started
    assert stats.failures == 0 and stats.written == stats.rows
    return seconds, stats.rows


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kafka", default=os.environ.get("QT_TEST_KAFKA_BOOTSTRAP", ""))
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--ticks", type=int, default=5, help="ticks per quote message (default 5)")
    args = parser.parse_args()
    if not args.kafka:
        print("bus recorder bench skipped: no Kafka (set QT_TEST_KAFKA_BOOTSTRAP or --kafka HOST:PORT)")
        return 0
    topics = Topics(f"bench{uuid.uuid4().hex[:8]}.")
    await asyncio.to_thread(ensure_topics, args.kafka, topics)
    put = time.perf_counter()
    ticks = await backlog(args.kafka, topics, args.messages, args.ticks)
    print(f"backlog: {args.messages:,} quote messages ({ticks:,} ticks) on {topics.quotes} "
          f"in {time.perf_counter() - put:.1f} s")
    read = await baseline(args.kafka, topics, args.messages)
    print(f"baseline, read + JSON decode only: {read:.2f} s = {args.messages / read:,.0f} messages/s")
    with tempfile.TemporaryDirectory(prefix="qt-bus-bench-") as folder:
        seconds, rows = await record(args.kafka, topics, args.messages, Path(folder))
    assert rows == ticks, f"the archive holds {rows} rows of {ticks} ticks"
    print(f"recorder, read + rows + Parquet + commit: {seconds:.2f} s = {rows / seconds:,.0f} rows/s "
          f"({args.messages / seconds:,.0f} messages/s), {seconds / read:.1f}x the baseline; "
          f"archive rows == ticks on the bus ({rows:,})")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
