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
