"""``quant-terminal backfill`` against the simulator over a socket: only the gaps are fetched, a killed backfill
resumes where it stopped, and ``--status`` reports coverage and gaps."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys

import pandas as pd

from terminal.cli import main

APPLE_NOVEMBER = "AAPL --bar-size 1m --from 2026-11-02 --to 2026-11-27"


def _extended_minutes(first: str, last: str) -> set[int]:
    """Epoch seconds of every 1-minute bar of a US stock's extended hours (04:00-20:00 New York) on the
    trading days first..last: weekdays but Thanksgiving, written out here rather than read from the calendar."""
    times: set[int] = set()
    for day in pd.bdate_range(first, last):
        if day == pd.Timestamp("2026-11-26"):
            continue
        local = pd.date_range(day + pd.Timedelta(hours=4), day + pd.Timedelta(hours=20), freq="min",
                              inclusive="left", tz="America/New_York")
        times |= {int(t.timestamp()) for t in local}
    return times


def _stored_minutes(db: str) -> list[int]:
    with sqlite3.connect(db) as conn:
        return [t for (t,) in conn.execute("SELECT time FROM bars WHERE bar_size = 60 ORDER BY time")]


def _command(port: int, db: str, args: str) -> list[str]:
    return [sys.executable, "-m", "terminal", "--db", f"sqlite:///{db}", "--ib", f"127.0.0.1:{port}:7",
            "backfill", *args.split()]


def _run(loop, command: list[str]) -> subprocess.CompletedProcess:
    """Run the command while the loop serves the in-process simulator."""

    async def run() -> subprocess.CompletedProcess:
        process = await asyncio.create_subprocess_exec(*command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = await asyncio.wait_for(process.communicate(), 120)
        return subprocess.CompletedProcess(command, process.returncode, out.decode(), err.decode())

    return loop.run_until_complete(run())


def test_backfill_fetches_the_gaps_and_resumes_after_being_killed(loop, sims, tmp_path):
    sim = sims()
    db = str(tmp_path / "store.sqlite")
    # a week stored already, in the middle of the range: the backfill must leave it alone
    done = _run(loop, _command(sim.port, db, "AAPL --bar-size 1m --from 2026-11-09 --to 2026-11-13"))
    assert done.returncode == 0, done.stderr
    assert set(_stored_minutes(db)) == _extended_minutes("2026-11-09", "2026-11-13")

    # The simulator answers the first history request and holds every later one: the backfill is then
    # killed with one chunk stored and the next one on its way.
    answer_history = sim.handlers[20]
    asked: list[list[str]] = []
    holding = [True]

    def counted(session, fields):  # type: ignore[no-untyped-def]
        asked.append(fields)
        if len(asked) == 1 or not holding[0]:
            answer_history(session, fields)

    sim.handlers[20] = counted

    async def start_and_kill_after_one_chunk() -> str:
        process = await asyncio.create_subprocess_exec(*_command(sim.port, db, APPLE_NOVEMBER),
                                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        seen = ""
        while "1/3 requests" not in seen:  # stderr is a pipe: one plain line per stored chunk
            line = await asyncio.wait_for(process.stderr.readline(), 60)
            assert line, f"backfill ended before its first chunk: {seen}"
            seen += line.decode()
        while len(asked) < 2:
            await asyncio.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        await process.wait()
        return seen

    progress = loop.run_until_complete(start_and_kill_after_one_chunk())
    assert progress.startswith("AAPL 1m [")  # 3 requests: the gaps Nov 2-6 and Nov 16-27 (two 7-day chunks)
    first_week = _extended_minutes("2026-11-02", "2026-11-06")
    assert set(_stored_minutes(db)) == first_week | _extended_minutes("2026-11-09", "2026-11-13")

    holding[0] = False
    asked.clear()
    again = _run(loop, _command(sim.port, db, APPLE_NOVEMBER))
    assert again.returncode == 0, again.stderr
    assert len(asked) == 2 and "in 2 requests" in again.stdout and "0 gaps left" in again.stdout
    stored = _stored_minutes(db)
    assert len(stored) == len(set(stored))  # no bar twice
    assert set(stored) == _extended_minutes("2026-11-02", "2026-11-27")
    from terminal.domain import BarSize, Instrument, Provenance
    from terminal.store import Store

    store = Store.open(f"sqlite:///{db}")  # the bars say where they came from: the simulator's, not real ones
    assert store.bars.sources(Instrument("AAPL"), BarSize.MIN_1) == {Provenance.SIMULATOR}
    store.close()

    nothing_left = _run(loop, _command(sim.port, db, APPLE_NOVEMBER))
    assert "fetched 0 bars in 0 requests" in nothing_left.stdout and len(asked) == 2


def test_status_prints_coverage_and_names_the_gaps(loop, sims, tmp_path, capsys):
    sim = sims()
    db = str(tmp_path / "store.sqlite")
    for week in ("--from 2026-11-02 --to 2026-11-06", "--from 2026-11-16 --to 2026-11-20"):
        done = _run(loop, _command(sim.port, db, f"AAPL --bar-size 1D {week}"))
        assert done.returncode == 0, done.stderr
    assert main(["--db", f"sqlite:///{db}", "backfill", "--status", "AAPL"]) == 0
    out = capsys.readouterr().out.splitlines()
    row = next(line for line in out if line.startswith("AAPL"))
    assert row.split()[1:5] == ["1D", "XNYS", "2026-11-02", "2026-11-20"]
    assert row.split()[-3:] == ["10", "66.7%", "1"]  # 10 of 15 sessions; one gap, the week of Nov 9
    assert any("gap 2026-11-09 .. 2026-11-13 (5 bars)" in line for line in out)


def test_progress_on_a_terminal_is_one_line_redrawn_in_place(tmp_path):
    import pty

    from terminal.cli_backfill import ProgressLine
    from terminal.domain import BarSize, Instrument
    from terminal.services.backfill import BackfillProgress

    leader, follower = pty.openpty()
    with os.fdopen(follower, "w") as tty:
        line = ProgressLine(tty)
        for done in range(4):
            line(BackfillProgress(Instrument("AAPL"), BarSize.MIN_1, done, 3, done * 100))
        line.close()
    text = os.read(leader, 4096).decode().replace("\r\n", "\n")  # the tty's own newline translation
    os.close(leader)
    assert text.count("\r") == 4 and text.count("\n") == 1 and text.rstrip().endswith("300 bars\x1b[K")
