"""The journal table on SQLite and on a real MariaDB: add once by key, keep annotations, fill missing measures."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from terminal.domain.journal import RoundTrip

T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


def _trip(n: int, **changes) -> RoundTrip:
    trip = RoundTrip(f"fill:e{n}>x{n}", "sim", "AAPL", "long", 10, T0 + timedelta(hours=n),
                     T0 + timedelta(hours=n, minutes=5), 100.0, 101.5, 14.0, commission=1.0, account="DU1",
                     instrument_key="AAPL:STK:SMART:USD", entry_order=f"qt-{n}")
    return replace(trip, **changes)


def test_journal_rows_round_trip_and_keep_annotations(store):
    assert store.journal.add([_trip(1), _trip(2, source="backtest", run_id=4, strategy="sma")]) == 2
    assert store.journal.add([_trip(1)]) == 0
    store.journal.annotate("fill:e1>x1", ["momentum", "a+"], "good read of the tape")
    assert store.journal.add([_trip(1, mae=-5.0, mfe=20.0, stop_price=99.0, r_multiple=1.0)]) == 0
    first, second = store.journal.list()
    assert first == _trip(1, mae=-5.0, mfe=20.0, stop_price=99.0, r_multiple=1.0, tags=("a+", "momentum"),
                          notes="good read of the tape")
    assert second.run_id == 4 and store.journal.run_ids() == {4}
    assert [t.key for t in store.journal.list(source="backtest")] == ["fill:e2>x2"]
    assert store.journal.list(run_id=4) == [second] and store.journal.count() == 2
    with pytest.raises(KeyError):
        store.journal.annotate("nope", ["x"])


def test_snapshots_are_kept_once_per_execution(store):
    store.journal.save_snapshot("e1", b"\x89PNG first")
    store.journal.save_snapshot("e1", b"\x89PNG again")  # a reconnect replays the execution: the first stays
    assert store.journal.snapshot("e1") == b"\x89PNG first" and store.journal.snapshot("e2") is None
    big = bytes(range(256)) * 4096  # 1 MiB: MySQL's BLOB stops at 64 KiB, the column is LONGBLOB
    store.journal.save_snapshot("e3", big)
    assert store.journal.snapshot("e3") == big
