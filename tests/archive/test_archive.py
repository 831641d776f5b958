"""The Parquet archive on a local folder, a real NFS server and a real HDFS: write, list, read back,
retries, two writers at once, damage, compaction and copies between storages."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from terminal.archive import ArchiveError, FileDamaged, open_archive
from terminal.archive import schema as sc
from terminal.archive.archive import encode

START = datetime(2026, 11, 24, 14, 30, tzinfo=UTC)


def ticks(n: int, symbol: str = "AAPL", recording: str = "r1", seq0: int = 0, start: datetime = START,
          step_ms: int = 10) -> pa.Table:
    rng = np.random.default_rng(seq0 + n)
    micros = int(start.timestamp() * 1e6) + np.arange(n, dtype=np.int64) * step_ms * 1000
    bid = np.round(180 + np.cumsum(rng.normal(0, 0.01, n)), 2)
    return sc.conform("ticks", pa.table({
        "time": pa.array(micros, pa.timestamp("us", tz="UTC")), "recv_time": pa.array(micros + 300, pa.timestamp("us", tz="UTC")),
        "seq": pa.array(np.arange(seq0, seq0 + n, dtype=np.int64)), "symbol": [symbol] * n,
        "instrument_key": [f"{symbol}:STK:SMART:USD"] * n, "contract_id": pa.array(np.full(n, 265598)),
        "provenance": ["simulator"] * n, "recording": [recording] * n, "event": ["tick"] * n,
        "bid": bid, "bid_size": rng.integers(1, 30, n) * 100.0, "ask": bid + 0.01, "ask_size": rng.integers(1, 30, n) * 100.0,
        "last": bid, "last_size": rng.integers(1, 10, n) * 100.0, "volume": np.cumsum(rng.integers(1, 10, n) * 100.0),
    }))


def test_rows_written_are_read_back_equal_with_their_metadata(archive_url):
    archive = open_archive(archive_url)
    table = ticks(5_000, start=START.replace(hour=23, minute=59, second=30))  # crosses midnight UTC: two days
    files = archive.write("ticks", table)
    assert [(f.symbol, f.date.isoformat()) for f in files] == [("AAPL", "2026-11-24"), ("AAPL", "2026-11-25")]
    back = archive.read("ticks", "AAPL", verify=True)
    assert back.equals(table)
    partitions = archive.partitions("ticks")
    assert sum(p.rows for p in partitions) == 5_000
    assert partitions[0].first == START.replace(hour=23, minute=59, second=30)
    meta = archive.file_metadata(files[0])
    assert meta["schema"] == "ticks/1" and meta["recording"] == "r1" and meta["seq_first"] == "0"
    assert int(meta["rows"]) == files_rows(archive, files[0])
    assert archive.verify() == []


def files_rows(archive, file) -> int:
    return archive.read_file(file).num_rows


def test_writing_the_same_batch_again_replaces_it_instead_of_adding_a_copy(archive_url):
    archive = open_archive(archive_url)
    table = ticks(1_000)
    first = archive.write("ticks", table)
    again = archive.write("ticks", table)  # a retry after a timeout
    assert [f.name for f in first] == [f.name for f in again]
    assert len(archive.files("ticks")) == 1
    assert archive.read("ticks", "AAPL").num_rows == 1_000


def test_two_writers_at_once_lose_nothing_and_readers_never_see_a_partial_file(archive_url):
    writers = [open_archive(archive_url), open_archive(archive_url)]  # two clients, as two machines would be
    seen_partial: list[str] = []
    stop = threading.Event()

    def write(index: int) -> None:
        for batch in range(8):
            writers[index].write("ticks", ticks(2_000, recording=f"w{index}", seq0=batch * 2_000))

    def read() -> None:
        reader = open_archive(archive_url)
        while not stop.is_set():
            for file in reader.files("ticks"):
                try:
                    reader.read_file(file, verify=True)
                except FileDamaged as exc:
                    seen_partial.append(str(exc))
                except (FileNotFoundError, OSError, ArchiveError):
                    pass  # listed, then replaced by a rename: never half-written

    threads = [threading.Thread(target=write, args=(i,)) for i in (0, 1)]
    watcher = threading.Thread(target=read)
    watcher.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    watcher.join()
    archive = open_archive(archive_url)
    back = archive.read("ticks", "AAPL", verify=True)
    assert back.num_rows == 2 * 8 * 2_000
    for recording in ("w0", "w1"):
        seq = back.filter(pc.equal(back["recording"].cast(pa.string()), recording))["seq"].to_numpy()
        assert sorted(seq.tolist()) == list(range(16_000))  # every row once, none twice
    assert seen_partial == []
    assert not [f for f in archive.backend.files("") if "_tmp-" in f.path]


def test_a_damaged_file_is_found_and_compaction_removes_nothing_it_could_not_verify(archive_url):
    archive = open_archive(archive_url)
    for batch in range(3):
        archive.write("ticks", ticks(1_000, seq0=batch * 1_000, start=START + timedelta(seconds=10 * batch)))
    good = archive.partitions("ticks")[0]
    assert len(good.files) == 3
    damaged = good.files[1]
    wrong = ticks(999, seq0=1_000, start=START + timedelta(seconds=10))  # one row short of its metadata
    data = encode("ticks", wrong)
    fake = pq.read_table(pa.BufferReader(data))
    meta = {**fake.schema.metadata, sc.META_ROWS: b"1000"}
    sink = pa.BufferOutputStream()
    pq.write_table(fake.replace_schema_metadata(meta), sink)
    archive.backend.write(damaged.path, sink.getvalue().to_pybytes())
    problems = archive.verify()
    assert len(problems) == 1 and damaged.name in problems[0] and "999 rows" in problems[0]
    with pytest.raises(FileDamaged):
        archive.compact(archive.partitions("ticks")[0])
    assert len(archive.files("ticks")) == 3  # nothing removed


def test_compaction_merges_a_partition_into_one_verified_file(archive_url):
    archive = open_archive(archive_url)
    for batch in range(4):
        archive.write("ticks", ticks(500, seq0=batch * 500, start=START + timedelta(seconds=5 * batch)))
    before = archive.read("ticks", "AAPL")
    merged = archive.compact(archive.partitions("ticks")[0])
    assert merged is not None
    assert [f.name for f in archive.files("ticks")] == [merged.name]
    assert archive.read("ticks", "AAPL", verify=True).equals(before)


def test_copy_between_a_local_folder_and_hdfs_and_back(tmp_path, hdfs_root):
    local = open_archive(str(tmp_path / "a"))
    local.write("ticks", ticks(3_000))
    local.write("ticks", ticks(1_000, symbol="BRK B", recording="r2"))
    remote = open_archive(f"{hdfs_root}/copy-{tmp_path.name}")
    assert len(list(local.copy_to(remote))) == 2
    back = open_archive(str(tmp_path / "b"))
    list(remote.copy_to(back))
    assert back.symbols("ticks") == ["AAPL", "BRK B"]
    for symbol in ("AAPL", "BRK B"):
        assert back.read("ticks", symbol, verify=True).equals(local.read("ticks", symbol))


def test_other_tools_read_the_archive_without_our_code(tmp_path):
    import duckdb
    import pandas as pd
    import pyarrow.dataset as ds

    root = tmp_path / "archive"
    archive = open_archive(str(root))
    archive.write("ticks", ticks(2_000))
    archive.write("ticks", ticks(1_000, symbol="BRK B", recording="r2"))
    frame = pd.read_parquet(root / "kind=ticks")
    assert len(frame) == 3_000 and set(frame["symbol"].astype(str)) == {"AAPL", "BRK B"}
    assert pq.read_table(root).num_rows == 3_000
    # The partition key and the file column are both dictionary-typed text, the type pandas and
    # pq.read_table give a partition key; a dataset says so with infer_dictionary.
    dataset = ds.dataset(root, format="parquet", partitioning=ds.HivePartitioning.discover(infer_dictionary=True))
    assert dataset.to_table(filter=ds.field("symbol") == "BRK B").num_rows == 1_000
    rows = duckdb.sql(f"select symbol, count(*) from read_parquet('{root}/kind=ticks/*/*/*.parquet', "
                      "hive_partitioning=true) group by symbol order by symbol").fetchall()
    assert rows == [("AAPL", 2_000), ("BRK%20B", 1_000)] or rows == [("AAPL", 2_000), ("BRK B", 1_000)]


def test_bad_archive_urls_say_what_would_be_valid(tmp_path):
    with pytest.raises(ArchiveError, match="s3:// is not supported"):
        open_archive("s3://bucket/x")
    with pytest.raises(ArchiveError, match="hdfs://NAMENODE:RPC_PORT/PATH"):
        open_archive("hdfs://namenode/x")
    with pytest.raises(ArchiveError, match="cannot reach the HDFS NameNode at 127.0.0.1:1"):
        open_archive("hdfs://127.0.0.1:1/x")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ArchiveError, match="is a file, not a folder"):
        open_archive(str(tmp_path / "file"))
