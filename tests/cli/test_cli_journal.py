"""``quant-terminal journal``: a saved backtest's trades as JSON and CSV, by source; annotations; bad input."""

from __future__ import annotations

import csv
import io
import json

import pytest

from terminal.cli import main
from terminal.store import Store

REQUIRED = {"source", "symbol", "side", "quantity", "entry_time", "exit_time", "entry_price", "exit_price", "pnl",
            "r_multiple", "mae", "mfe", "tags"}


@pytest.fixture
def db_with_a_run(tmp_path, real_csv_dir, capsys):
    db = f"sqlite:///{tmp_path / 'journal.sqlite'}"
    assert main(["--db", db, "import", "csv", str(real_csv_dir / "GOOG.csv"), "--symbol", "GOOG"]) == 0
    assert main(["--db", db, "backtest", "sma_cross", "--symbol", "GOOG", "--save", "--engine", "backtrader"]) == 0
    capsys.readouterr()
    return db


def test_journal_json_is_the_saved_runs_trade_list(db_with_a_run, capsys):
    assert main(["--db", db_with_a_run, "journal", "export", "--source", "backtest", "--json"]) == 0
    trips = json.loads(capsys.readouterr().out)
    [run] = Store.open(db_with_a_run).backtest_runs.list()
    trades = run.result["trades"]
    assert len(trips) == len(trades) > 10 and all(REQUIRED <= set(t) for t in trips)
    for trip, trade in zip(sorted(trips, key=lambda t: t["key"].split(":")[-1].zfill(6)), trades, strict=True):
        assert (trip["entry_time"], trip["exit_time"], trip["pnl"]) == (trade["entry_time"], trade["exit_time"],
                                                                        trade["pnl"])
        assert trip["source"] == "backtest" and trip["mae"] <= 0 <= trip["mfe"] and trip["r_multiple"] is None
    assert main(["--db", db_with_a_run, "journal", "ls", "--source", "sim", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_csv_export_tag_and_stats(db_with_a_run, capsys, tmp_path):
    out = tmp_path / "journal.csv"
    assert main(["--db", db_with_a_run, "journal", "export", "-o", str(out)]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert rows and rows[0]["key"].startswith("backtest:")
    key = rows[0]["key"]
    assert main(["--db", db_with_a_run, "journal", "tag", key, "--tags", "early,trend", "--notes", "first cross"]) == 0
    capsys.readouterr()
    assert main(["--db", db_with_a_run, "journal", "stats", "--by", "tag"]) == 0
    table = capsys.readouterr().out
    assert "early" in table and "(untagged)" in table
    assert main(["--db", db_with_a_run, "journal", "ls", "--limit", "0"]) == 0
    listing = capsys.readouterr().out
    assert listing.count("\n") == len(rows) + 1 and "early,trend" in listing


def test_bad_input_is_one_line(db_with_a_run, capsys):
    assert main(["--db", db_with_a_run, "journal", "tag", "no-such-trade", "--tags", "x"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no round trip 'no-such-trade'" in err
    assert main(["--db", db_with_a_run, "journal", "ls", "--source", "bogus"]) == 2
    assert "invalid choice: 'bogus'" in capsys.readouterr().err


def test_compare_the_accounts_fills_with_the_run(db_with_a_run, capsys):
    """Three of the run's trades taken by hand on the simulator (worse by 0.10 on each leg, entered an hour
    after the backtest's open) and one the run never made: 3 matched with their slippage, the rest missed,
    1 extra."""
    from datetime import timedelta

    from terminal.domain import Fill, Instrument, OrderSide, Provenance

    store = Store.open(db_with_a_run)
    [run] = store.backtest_runs.list()
    trades = run.result["trades"][:3]
    goog = Instrument("GOOG", primary_exchange="NASDAQ", contract_id=208813720)
    n = 0

    def fill(side, qty, price, when):
        nonlocal n
        n += 1
        store.fills.save(Fill(f"x{n}", n, goog, side, qty, price, when, 1.0, "DU1", f"c{n}",
                              provenance=Provenance.SIMULATOR))

    from datetime import datetime
    for t in trades:
        long = t["size"] > 0
        entry, exit_ = datetime.fromisoformat(t["entry_time"]), datetime.fromisoformat(t["exit_time"])
        fill(OrderSide.BUY if long else OrderSide.SELL, 10, t["entry_price"] + (0.1 if long else -0.1),
             entry + timedelta(hours=1))
        fill(OrderSide.SELL if long else OrderSide.BUY, 10, t["exit_price"] - (0.1 if long else -0.1),
             exit_ - timedelta(hours=2))
    extra = datetime.fromisoformat(run.result["trades"][5]["entry_time"]) + timedelta(days=2)
    fill(OrderSide.BUY, 5, 300.0, extra)
    fill(OrderSide.SELL, 5, 301.0, extra + timedelta(days=1))
    store.close()
    assert main(["--db", db_with_a_run, "journal", "compare", "--run", str(run.id), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["matched"]) == 3 and len(result["extra"]) == 1
    assert len(result["missed"]) == len(run.result["trades"]) - 3
    for m in result["matched"]:
        assert m["entry_slippage"] == pytest.approx(0.1) and m["exit_slippage"] == pytest.approx(0.1)
        assert m["slippage_cost"] == pytest.approx(2.0)
    assert result["slippage_cost"] == pytest.approx(6.0)
    assert main(["--db", db_with_a_run, "journal", "compare", "--run", str(run.id), "--tolerance-bars", "0.01"]) == 0
    assert "0 matched" in capsys.readouterr().out  # an hour late is not within 0.01 of a daily bar
    assert main(["--db", db_with_a_run, "journal", "compare", "--run", "99"]) == 1
    assert "no saved backtest run 99" in capsys.readouterr().err


def test_a_live_run_is_listed_and_compared_with_its_backtest_headless(tmp_path, capsys):
    """A run of the flip strategy stored as the Strategies dock stores one (its bars, and the fills of its orders
    a bar after each decision, 0.01 worse): 'journal live' lists it, 'journal compare --live' re-runs it as a
    backtest in a worker and pairs every trade, each leg 0.01 worse."""
    from datetime import UTC, datetime, timedelta

    from terminal.domain import Fill, Instrument, OrderSide, Provenance
    from terminal.store import LiveRunRecord
    from tests.strategies_live.conftest import FLIP

    db = f"sqlite:///{tmp_path / 'live.sqlite'}"
    store = Store.open(db)
    aapl = Instrument("AAPL", primary_exchange="NASDAQ", contract_id=265598)
    store.live_runs.add(LiveRunRecord("L1test", "flip", FLIP, {"units": 10}, "AAPL", "5 secs", 100_000.0,
                                      instrument_key=aapl.key, status="stopped", started="2026-12-01T15:00:00+00:00"))
    start = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    opens = [190 + (n % 7) * 0.1 for n in range(21)]
    rows = [(int((start + timedelta(seconds=5 * n)).timestamp() * 1e9), o, o + 0.2, o - 0.2, o + 0.05, 100.0)
            for n, o in enumerate(opens)]
    store.live_runs.add_bars("L1test", rows, [float(10 * (n % 2)) for n in range(len(rows))], False)
    for n in range(1, len(rows)):  # the decision at bar n-1, filled at bar n's open
        side = OrderSide.BUY if n % 2 else OrderSide.SELL
        price = opens[n] + (0.01 if side is OrderSide.BUY else -0.01)
        when = start + timedelta(seconds=5 * n, milliseconds=40)
        epoch = int((start + timedelta(seconds=5 * (n - 1))).timestamp())
        store.fills.save(Fill(f"e{n}", n, aapl, side, 10, price, when, 0.0, "DU1", f"L1test-{epoch}-0",
                              provenance=Provenance.SIMULATOR))
    store.close()

    assert main(["--db", db, "journal", "live", "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert (listed["run"], listed["strategy"], listed["status"], listed["position"], listed["fills"]) == \
        ("L1test", "flip", "stopped", 0, 20)
    assert main(["--db", db, "journal", "compare", "--live", "L1test", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["matched"]) == 10 and out["missed"] == [] and out["extra"] == []
    assert all(m["entry_slippage"] == pytest.approx(0.01) and m["exit_slippage"] == pytest.approx(0.01)
               for m in out["matched"])
    assert out["slippage_cost"] == pytest.approx(10 * 0.02 * 10)
    assert main(["--db", db, "journal", "compare", "--live", "L9nope"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no live strategy run 'L9nope'" in err
