"""Headless commands: import, fetch, bars, config — exit codes, messages, and what ends up stored."""

import pytest

from terminal.cli import main
from terminal.config import ConfigError, load_settings
from terminal.domain import BarSize, Instrument
from terminal.store import Store
from tests.support.quandl_server import QuandlServer


@pytest.fixture
def db(tmp_path):
    return f"sqlite:///{tmp_path / 'cli.sqlite'}"


def test_import_csv_then_bars_prints_them(db, real_csv_dir, capsys):
    assert main(["--db", db, "import", "csv", str(real_csv_dir / "GOOG.csv"), "--symbol", "goog"]) == 0
    assert "imported 2148 1D bars of GOOG" in capsys.readouterr().out
    assert main(["--db", db, "bars", "GOOG", "--tail", "2"]) == 0
    out = capsys.readouterr().out
    assert "GOOG 1D: 2148 bars stored" in out and "2013-03-01 00:00" in out and "806.19" in out
    assert main(["--db", db, "bars"]) == 0
    assert "GOOG:STK:SMART:USD" in capsys.readouterr().out


def test_malformed_csv_leaves_the_store_unchanged(db, tmp_path, capsys):
    good = tmp_path / "good.csv"
    good.write_text("Date,Open,High,Low,Close,Volume\n2024-01-02,10,11,9,10.5,100\n")
    assert main(["--db", db, "import", "csv", str(good), "--symbol", "X"]) == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("Date,Open,High,Low,Close,Volume\n2024-01-03,10,11,9,10.5,100\n2024-01-04,10,9,11,10,1\n")
    assert main(["--db", db, "import", "csv", str(bad), "--symbol", "X"]) == 1
    assert "line 3, high/low: high 9 is below low 11" in capsys.readouterr().err
    store = Store.open(db)
    assert store.bars.count(Instrument("X"), BarSize.DAY_1) == 1


def test_fetch_quandl_stores_daily_bars(db, capsys, monkeypatch):
    monkeypatch.setenv("QT_QUANDL_API_KEY", "k1")
    with QuandlServer() as server:
        assert main(["--db", db, "fetch", "quandl", "WIKI/AAPL", "--api-base", server.api_base]) == 0
        assert server.requests[0][2] == "k1"
    assert "fetched 5 daily bars of WIKI/AAPL as AAPL" in capsys.readouterr().out
    assert Store.open(db).bars.count(Instrument("AAPL"), BarSize.DAY_1) == 5


def test_fetch_with_a_bad_key_fails_cleanly(db, capsys, monkeypatch):
    monkeypatch.setenv("QT_QUANDL_API_KEY", "bad-key")
    with QuandlServer() as server:
        assert main(["--db", db, "fetch", "quandl", "WIKI/AAPL", "--api-base", server.api_base]) == 1
    assert "refused the API key" in capsys.readouterr().err


def test_bars_of_unknown_symbol_says_what_is_stored(db, capsys):
    assert main(["--db", db, "bars", "NOPE"]) == 1
    assert "no stored instrument NOPE" in capsys.readouterr().err


def test_config_shows_value_and_source_of_each_setting(tmp_path, capsys, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text('theme = "light"\n[risk]\nmax_notional = 250000\n')
    monkeypatch.setenv("QT_SIM_SEED", "42")
    monkeypatch.setenv("QT_QUANDL_API_KEY", "secret-value")
    assert main(["--config", str(config), "--client-id", "9", "config"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "light" in lines["theme"] and f"file {config}" in lines["theme"]
    assert "250000.0" in lines["max_notional"]
    assert "42" in lines["sim_seed"] and "env QT_SIM_SEED" in lines["sim_seed"]
    assert "flag --client-id" in lines["client_id"]
    assert "secret-value" not in lines["quandl_api_key"] and "********" in lines["quandl_api_key"]


def test_api_key_in_the_plain_config_file_is_refused(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('quandl_api_key = "abc"\n')
    with pytest.raises(ConfigError, match="must not be stored in plain text"):
        load_settings(config_path=config, environ={})


def test_bad_settings_name_the_source(tmp_path, capsys):
    with pytest.raises(ConfigError, match="env QT_SIM_SEED"):
        load_settings(environ={"QT_SIM_SEED": "many"})
    with pytest.raises(ConfigError, match="HOST:PORT"):
        load_settings(environ={}, overrides={"ib": "localhost"})
    assert main(["--ib", "nohost", "config"]) == 2
    assert "HOST:PORT" in capsys.readouterr().err


def test_backtest_command_prints_statistics_and_json(db, real_csv_dir, capsys):
    import json

    assert main(["--db", db, "import", "csv", str(real_csv_dir / "GOOG.csv"), "--symbol", "GOOG"]) == 0
    capsys.readouterr()
    assert main(["--db", db, "backtest", "sma_cross", "--symbol", "GOOG", "--from", "2006-01-01",
                 "--to", "2010-12-31", "--param", "fast=15", "--json", "--save"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["params"] == {"fast": 15} and payload["statistics"]["trades"] > 0
    assert payload["equity"][0][0].startswith("2006-01-03")
    assert Store.open(db).backtest_runs.count() == 1
    assert main(["--db", db, "backtest", "sma_cross", "--symbol", "GOOG", "--param", "fast=x"]) == 1
    assert "parameter fast='x' is not a number: give a whole number" in capsys.readouterr().err
    assert main(["--db", db, "backtest", "nope", "--symbol", "GOOG"]) == 1
    assert "no strategy 'nope'" in capsys.readouterr().err


def test_optimize_command_ranks_the_grid_and_walks_forward(db, real_csv_dir, capsys):
    import json

    assert main(["--db", db, "import", "csv", str(real_csv_dir / "GOOG.csv"), "--symbol", "GOOG"]) == 0
    capsys.readouterr()
    assert main(["--db", db, "optimize", "sma_cross", "--symbol", "GOOG", "--grid", "fast=5:15:5",
                 "--grid", "slow=30,60", "--workers", "2", "--walk-forward", "0.7", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    rows = payload["rows"]
    assert len(rows) == 6 and {(r["fast"], r["slow"]) for r in rows} == {(f, s) for f in (5, 10, 15) for s in (30, 60)}
    sharpes = [r["sharpe"] for r in rows]
    assert sharpes == sorted(sharpes, reverse=True)
    best = payload["walk_forward"]["best_params"]
    assert (best["fast"], best["slow"]) == (rows[0]["fast"], rows[0]["slow"])
    assert "sharpe" in payload["walk_forward"]["out_of_sample"]
    # bad grids say what is wrong
    assert main(["--db", db, "optimize", "sma_cross", "--symbol", "GOOG", "--grid", "fats=5:15:5"]) == 1
    assert "declares no such parameter" in capsys.readouterr().err
    assert main(["--db", db, "optimize", "sma_cross", "--symbol", "GOOG", "--grid", "fast=5:1:1"]) == 1
    assert "step must be > 0" in capsys.readouterr().err
    # the table form
    assert main(["--db", db, "optimize", "sma_cross", "--symbol", "GOOG", "--grid", "fast=5,10", "--top", "2"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:2] == ["fast", "sharpe"] and len(out.splitlines()) == 3


def test_imported_and_fetched_bars_are_stored_as_csv_and_quandl(db, real_csv_dir, capsys, monkeypatch):
    from terminal.domain import Provenance

    assert main(["--db", db, "import", "csv", str(real_csv_dir / "GOOG.csv"), "--symbol", "GOOG"]) == 0
    monkeypatch.setenv("QT_QUANDL_API_KEY", "k1")
    with QuandlServer() as server:
        assert main(["--db", db, "fetch", "quandl", "WIKI/AAPL", "--api-base", server.api_base]) == 0
    store = Store.open(db)
    assert store.bars.sources(Instrument("GOOG"), BarSize.DAY_1) == {Provenance.CSV}
    assert store.bars.sources(Instrument("AAPL"), BarSize.DAY_1) == {Provenance.QUANDL}
    store.close()


def test_a_backtest_on_the_simulators_bars_says_they_are_synthetic(loop, sims, sessions, tmp_path, real_csv_dir,
                                                                   capsys):
    import json
    from datetime import timedelta

    from terminal.backtest.report import render_html

    session = sessions(sims().port, db="sim")  # a terminal on the simulator opened AAPL's daily chart
    aapl = loop.run_until_complete(session.market.qualify("AAPL"))
    loop.run_until_complete(session.history.bars(aapl, BarSize.DAY_1, timedelta(days=500)))
    db = session.settings.resolved_db_url
    assert main(["--db", db, "import", "csv", str(real_csv_dir / "GOOG.csv"), "--symbol", "GOOG"]) == 0
    capsys.readouterr()
    assert main(["--db", db, "backtest", "sma_cross", "--symbol", "AAPL", "--json"]) == 0
    out, err = capsys.readouterr()
    assert "quant-terminal: warning: synthetic data (simulator)" in err
    run = json.loads(out)
    assert run["data_provenance"] == "simulator"
    assert "Synthetic data (simulator)" in render_html(run)
    assert main(["--db", db, "optimize", "sma_cross", "--symbol", "AAPL", "--grid", "fast=5,10", "--json"]) == 0
    out, err = capsys.readouterr()
    assert "warning: synthetic data (simulator)" in err and json.loads(out)["data_provenance"] == "simulator"
    assert main(["--db", db, "backtest", "sma_cross", "--symbol", "GOOG", "--json"]) == 0  # real bars: no warning
    out, err = capsys.readouterr()
    assert "warning" not in err and json.loads(out)["data_provenance"] == "csv"
    report = render_html(json.loads(out))
    assert "Synthetic" not in report and "Data: CSV" in report


def test_backtest_without_stored_bars_fetches_them_from_the_built_in_simulator(db, capsys):
    """A first backtest on an empty store: the bars come from the simulator (no --ib) and are stored."""
    import pandas as pd

    # XNYS sessions of June-November 2026: weekdays but Juneteenth, July 3 (the 4th is a Saturday),
    # Labor Day and Thanksgiving
    holidays = {"2026-06-19", "2026-07-03", "2026-09-07", "2026-11-26"}
    sessions = [d for d in pd.bdate_range("2026-06-01", "2026-11-27") if f"{d:%Y-%m-%d}" not in holidays]
    run = ["--db", db, "backtest", "sma_cross", "--symbol", "AAPL", "--from", "2026-06-01", "--to", "2026-11-27"]
    assert main(run) == 0
    captured = capsys.readouterr()
    assert f"sma_cross on AAPL (backtrader, {len(sessions)} bars" in captured.out
    assert f"AAPL 1D: fetched {len(sessions)} bars in 1 requests" in captured.err
    stored = Store.open(db).bars.load_frame(Instrument("AAPL"), BarSize.DAY_1)
    assert [f"{t:%Y-%m-%d}" for t in stored.index] == [f"{d:%Y-%m-%d}" for d in sessions]
    assert main(run) == 0  # the second run has them stored: nothing is fetched
    assert "fetched" not in capsys.readouterr().err


def test_engine_is_chosen_said_and_refused_when_it_cannot_run(db, real_csv_dir, capsys):
    """auto picks an engine and says why; a named engine that cannot run the strategy fails in one line."""
    import json

    pytest.importorskip("vectorbt")
    assert main(["--db", db, "import", "csv", str(real_csv_dir / "GOOG.csv"), "--symbol", "GOOG"]) == 0
    capsys.readouterr()
    assert main(["--db", db, "backtest", "sma_cross", "--symbol", "GOOG", "--engine", "vectorized", "--json"]) == 0
    vectorized = json.loads(capsys.readouterr().out)
    assert vectorized["engine"] == "vectorized"
    assert main(["--db", db, "backtest", "sma_cross", "--symbol", "GOOG", "--json"]) == 0
    auto = json.loads(capsys.readouterr().out)
    assert auto["engine"] == "backtrader" and "fewer than" in auto["engine_reason"]
    assert auto["statistics"]["trades"] > 0 and vectorized["statistics"]["trades"] > 0
    # the default sizing asks for more than the cash at one open: vectorbt cuts it and the notes say so
    assert "cut to the cash" in vectorized["notes"] and "cut to the cash at the open" not in auto["notes"]
    assert main(["--db", db, "optimize", "sma_cross", "--symbol", "GOOG", "--grid", "fast=5,10"]) == 0
    assert "quant-terminal: 2 runs on backtrader (auto: " in capsys.readouterr().err
    assert main(["--db", db, "backtest", "pairs", "--symbol", "GOOG", "--engine", "vectorized"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "vectorized" in err[0], err
