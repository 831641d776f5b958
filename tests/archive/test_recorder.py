"""The recorder on the live simulator socket (the real ib_async client): what the client saw is what
the archive holds, in order, numbered once each, with the disconnect marked as a gap."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from terminal.archive import open_archive
from terminal.archive.archive import Archive
from terminal.archive.backends import LocalBackend
from terminal.archive.recorder import Recorder
from terminal.broker import events as ev
from terminal.broker.ib import IBBroker
from terminal.domain import Instrument
from terminal.services.market import MarketService
from terminal.services.recording import RecordingRequest, RecordingService
from tests.support.trading import wait


def _connect(loop, port: int) -> IBBroker:
    broker = IBBroker(reconnect_initial=0.1, reconnect_max=0.3)
    loop.run_until_complete(broker.connect("127.0.0.1", port, 3))
    return broker


def test_what_the_client_saw_is_in_the_archive_in_order_with_the_disconnect_as_a_gap(loop, sims, tmp_path,
                                                                                       archive_url):
    sim = sims(tick_interval=0.05)
    broker = _connect(loop, sim.port)
    market = MarketService(broker)
    aapl, es = (loop.run_until_complete(market.qualify(s)) for s in ("AAPL", "ES"))
    seen: dict[str, list[tuple]] = {"AAPL": [], "ES": []}
    depth_seen = []

    def capture(event) -> None:  # a second subscriber: the client's own view of the stream
        if isinstance(event, ev.TickEvent):
            seen[event.instrument.symbol].extend(event.ticks)
        elif isinstance(event, ev.DepthEvent):
            depth_seen.append(event.instrument.symbol)

    broker.events.subscribe(capture)
    archive = open_archive(archive_url)
    service = RecordingService(broker, archive, "simulator", tmp_path / "spool", batch_rows=400)
    recorder = loop.run_until_complete(service.start(RecordingRequest((aapl, es), depth=True)))
    wait(loop, lambda: len(seen["AAPL"]) > 150 and len(seen["ES"]) > 150, what="ticks before the restart")
    port = sim.port
    loop.run_until_complete(sim.stop())  # the connection drops: a gap starts
    wait(loop, lambda: not broker.is_connected, what="the disconnect")
    sims(port=port, tick_interval=0.05)
    wait(loop, lambda: broker.is_connected, timeout=10, what="the reconnect")
    before = len(seen["AAPL"])
    wait(loop, lambda: len(seen["AAPL"]) > before + 100, what="ticks after the reconnect")
    stats = loop.run_until_complete(service.stop())
    loop.run_until_complete(broker.disconnect())

    assert stats.failures == 0 and stats.written == stats.rows
    everything = pa.concat_tables([archive.read(kind, symbol, verify=True).select(["seq", "event"])
                                   for kind in ("ticks", "depth", "bars") for symbol in ("AAPL", "ES")])
    seq = np.sort(everything["seq"].to_numpy())
    assert seq.tolist() == list(range(stats.rows))  # one sequence across kinds: nothing lost, nothing twice
    for instrument in (aapl, es):
        table = archive.read("ticks", instrument.symbol).sort_by("seq")
        events = table["event"].cast(pa.string()).to_pylist()
        assert events.count("gap_start") == 1 and events.count("gap_end") == 1
        assert events.index("gap_start") < events.index("gap_end")
        rows = table.filter(pc.equal(table["event"].cast(pa.string()), "tick"))
        client = seen[instrument.symbol]
        assert rows.num_rows == len(client)
        times = rows["time"].cast(pa.int64()).to_numpy()
        assert np.array_equal(times, np.round(np.array([t[0] for t in client]) * 1e6).astype(np.int64))
        # each row holds the whole top of book after its tick: replay the client's ticks to check it
        bid = ask = last = math.nan
        expected = []
        for _, kind, price, _size in client:
            bid, ask, last = (price if kind == "bid" else bid, price if kind == "ask" else ask,
                              price if kind == "last" else last)
            expected.append((bid, ask, last))
        got = list(zip(*(rows[c].to_numpy(zero_copy_only=False) for c in ("bid", "ask", "last")), strict=True))
        gap_at = int(np.searchsorted(rows["seq"].to_numpy(), table["seq"].to_numpy()[events.index("gap_end")]))
        # after the gap the book starts empty again: compare each side from its first tick on
        assert _same(got[:gap_at], expected[:gap_at])
        assert rows["provenance"].cast(pa.string()).unique().to_pylist() == ["simulator"]
        assert rows["recording"].cast(pa.string()).unique().to_pylist() == [recorder.recording]
    assert archive.read("depth", "AAPL").num_rows > 0 and depth_seen


def _same(got, expected) -> bool:
    for g, e in zip(got, expected, strict=True):
        for a, b in zip(g, e, strict=True):
            if not ((math.isnan(a) and math.isnan(b)) or a == b):
                return False
    return True


def test_a_batch_the_archive_refused_waits_in_the_spool_and_the_next_recorder_writes_it(tmp_path):
    blocked = tmp_path / "share"
    blocked.write_text("not a folder yet")  # the archive cannot create its folders: every write fails
    archive = Archive(LocalBackend(blocked / "archive"))
    instrument = Instrument("AAPL", contract_id=265598)
    recorder = Recorder(archive, "simulator", tmp_path / "spool", batch_rows=1_000_000)
    recorder.ticks(instrument, [(1_764_000_000.0 + i, "bid", 100.0 + i / 100, 5.0) for i in range(500)])
    stats = recorder.close()
    assert stats.failures == 2 and stats.written == 0  # the batch, then the retry at close
    assert len(list((tmp_path / "spool").glob("*.arrow"))) == 1
    blocked.unlink()  # the share is back
    later = Recorder(archive, "simulator", tmp_path / "spool")
    later.close()
    back = archive.read("ticks", "AAPL", verify=True)
    assert back.num_rows == 500 and back["seq"].to_pylist() == list(range(500))
    assert back["recording"].cast(pa.string()).unique().to_pylist() == [recorder.recording]
    assert not list((tmp_path / "spool").glob("*.arrow"))


def test_record_command_records_the_simulator_and_lists_it(tmp_path):
    data = tmp_path / "data"
    run = [sys.executable, "-m", "terminal", "--data-dir", str(data), "--log-level", "WARNING"]
    done = subprocess.run(run + ["record", "--symbols", "AAPL,EUR.USD", "--seconds", "2", "--tick-rate", "20"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "recorded" in done.stdout and ", 0 gaps" in done.stdout
    listing = subprocess.run(run + ["archive", "ls", "--kind", "ticks"], capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0
    assert "AAPL" in listing.stdout and "EUR.USD" in listing.stdout
    verify = subprocess.run(run + ["archive", "verify"], capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0 and ": 0 damaged" in verify.stdout


@pytest.mark.parametrize("argv, message", [
    (["record", "--symbols", "NOSUCHSYM", "--seconds", "1"], "record --symbols: 'NOSUCHSYM'"),
    (["record", "--symbols", "AAPL", "--archive", "s3://x/y", "--seconds", "1"], "s3:// is not supported"),
    (["archive", "ls", "--archive", "hdfs://127.0.0.1:1/x"], "cannot reach the HDFS NameNode"),
    (["archive", "import", "AAPL", "--bar-size", "1D"], "has no 1D bars of AAPL"),
])
def test_bad_input_to_the_archive_commands_is_one_line_and_a_failure(tmp_path, argv, message):
    done = subprocess.run([sys.executable, "-m", "terminal", "--data-dir", str(tmp_path), "--log-level", "WARNING",
                           *argv], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert message in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_a_batch_s_source_positions_are_safe_once_its_spool_file_is_on_disk(tmp_path):
    from terminal.archive import positions

    blocked = tmp_path / "share"
    blocked.write_text("not a folder yet")  # every archive write fails: the batch stays in the spool
    archive = Archive(LocalBackend(blocked / "archive"))
    instrument = Instrument("AAPL", contract_id=265598)
    told: list[dict[str, int]] = []
    recorder = Recorder(archive, "simulator", tmp_path / "spool", batch_rows=1_000_000, on_durable=told.append)
    for offset in range(100):
        recorder.mark("ticks", "kafka:g:quotes:0", offset + 1)  # before the record's rows
        recorder.ticks(instrument, [(1_764_000_000.0 + offset, "bid", 100.0, 5.0)])
    recorder.mark("depth", "kafka:g:depth:0", 7)  # records that gave no rows count as taken too
    recorder.close()
    assert told == [{"kafka:g:quotes:0": 100, "kafka:g:depth:0": 7}]  # once, when the batch was on disk
    assert recorder.safe_positions() == {"kafka:g:quotes:0": 100, "kafka:g:depth:0": 7}
    (tmp_path / "spool" / positions.LEDGER).unlink()  # killed after the spool file, before the ledger
    assert recorder.safe_positions() == {"kafka:g:quotes:0": 100}  # the spool file still says how far it goes
    blocked.unlink()
    later = Recorder(archive, "simulator", tmp_path / "spool")
    later.close()  # the recovery writes the file to the archive and its positions into the ledger, then removes it
    assert not list((tmp_path / "spool").glob("*.arrow"))
    assert later.safe_positions() == {"kafka:g:quotes:0": 100}
    assert archive.read("ticks", "AAPL", verify=True).num_rows == 100
