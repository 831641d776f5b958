"""Bad command-line input: one corpus row per case, each ending in one clear line on stderr.

Every row runs the real ``quant-terminal`` entry point (``terminal.cli.main``) on a store that already holds
two bars of X, and checks the exit code (2 for a usage error, 1 for a failed command), that stderr is exactly
one line naming the words that matter, that no traceback is shown, and that the store is unchanged. A few rows
also run as a separate ``python -m terminal`` process, as does whatever needs a real process (a closed pipe,
the safety net around an unexpected exception).
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from terminal.cli import build_parser, main
from tests.support.quandl_server import QuandlServer

GOOD_CSV = "Date,Open,High,Low,Close,Volume\n2024-01-02,10,11,9,10.5,100\n2024-01-03,10.5,12,10,11.5,200\n"
FILES = {
    "good.csv": GOOD_CSV,
    "universe_bad.csv": "symbol,price,sector\nAAPL,190.5,Technology\nMSFT,lots,Technology\n",
    "universe_twice.csv": "symbol,price\nAAPL,190.5\nAAPL,191\n",
    "dst.csv": "Time,Open,High,Low,Close,Volume\n2024-03-08 09:30:00-0500,10,11,9,10.5,100\n"
               "2024-03-11 09:30:00-0400,10.5,12,10,11.5,200\n",
    "half_offsets.csv": "Time,Open,High,Low,Close\n2024-03-08 09:30:00-0500,10,11,9,10.5\n"
                        "2024-03-11 09:30:00,10.5,12,10,11.5\n",
    "skipped_hour.csv": "Time,Open,High,Low,Close\n2024-03-10 02:30,10,11,9,10.5\n",
    "empty.csv": "",
    "header_only.csv": "Date,Open,High,Low,Close\n",
    "no_high.csv": "Date,Open,Low,Close\n2024-01-02,10,9,10.5\n",
    "bad_rows.csv": GOOD_CSV + "2024-01-04,10,9,11,10,1\nsoon,1,2,0.5,1,1\n",
    "ragged.csv": GOOD_CSV + "2024-01-04,10,11,9,10.5,100,7\n",
    "notes.txt": "not a database\n",
    "bad.toml": "theme = [\n",
}


@dataclass(frozen=True)
class Case:
    name: str
    argv: tuple[str, ...]  # {db}, {dir}, {closed_port} are filled in per test
    exit_code: int
    words: tuple[str, ...]  # each must appear in the one stderr line
    env: tuple[tuple[str, str], ...] = ()


def case(name: str, argv: str, exit_code: int, *words: str, env: dict[str, str] | None = None) -> Case:
    return Case(name, tuple(argv.split()), exit_code, words, tuple((env or {}).items()))


IMPORT = "--db {db} import csv"
FETCH = "--db {db} fetch quandl WIKI/AAPL"
CORPUS = [
    # CSV files
    case("csv_offset_on_some_times_only", f"{IMPORT} {{dir}}/half_offsets.csv --symbol X", 1,
         "line 3", "no UTC offset", "line 2"),
    case("csv_time_skipped_by_dst", f"{IMPORT} {{dir}}/skipped_hour.csv --symbol X --tz America/New_York", 1,
         "line 2", "skipped", "America/New_York"),
    case("csv_is_a_folder", f"{IMPORT} {{dir}} --symbol X", 1, "is a folder", "CSV file"),
    case("csv_missing", f"{IMPORT} {{dir}}/nope.csv --symbol X", 1, "nope.csv", "file not found"),
    case("csv_empty", f"{IMPORT} {{dir}}/empty.csv --symbol X", 1, "empty.csv", "empty"),
    case("csv_header_only", f"{IMPORT} {{dir}}/header_only.csv --symbol X", 1, "header", "no rows"),
    case("csv_missing_column", f"{IMPORT} {{dir}}/no_high.csv --symbol X", 1, "missing column(s) high"),
    case("csv_bad_rows_all_named", f"{IMPORT} {{dir}}/bad_rows.csv --symbol X", 1,
         "2 bad row(s)", "line 4, high/low", "line 5, Date: 'soon'", "nothing was imported"),
    case("csv_ragged_row", f"{IMPORT} {{dir}}/ragged.csv --symbol X", 1, "line 4", "Expected 6 fields"),
    case("csv_unknown_time_zone", f"{IMPORT} {{dir}}/good.csv --symbol X --tz Mars/Olympus", 2,
         "--tz", "Mars/Olympus", "not a known time zone", "America/New_York"),
    case("csv_time_zone_in_wrong_case", f"{IMPORT} {{dir}}/good.csv --symbol X --tz utc", 2, "did you mean UTC"),
    case("csv_bad_bar_size", f"{IMPORT} {{dir}}/good.csv --symbol X --bar-size 7q", 1, "bar size '7q'", "1D"),
    case("csv_negative_tick_size", f"{IMPORT} {{dir}}/good.csv --symbol X --tick-size -1", 2,
         "--tick-size", "-1", "> 0"),
    case("csv_nan_multiplier", f"{IMPORT} {{dir}}/good.csv --symbol X --multiplier nan", 2, "--multiplier", "nan"),
    case("csv_unknown_sec_type", f"{IMPORT} {{dir}}/good.csv --symbol X --sec-type BOND", 2,
         "--sec-type", "BOND", "STK"),
    case("csv_without_symbol", f"{IMPORT} {{dir}}/good.csv", 2, "required", "--symbol"),
    # quandl
    case("fetch_impossible_date", f"{FETCH} --start 2020-13-45", 2, "--start", "2020-13-45", "YYYY-MM-DD"),
    case("fetch_date_in_another_form", f"{FETCH} --end 01/02/2020", 2, "--end", "01/02/2020", "YYYY-MM-DD"),
    case("fetch_reversed_range", f"{FETCH} --start 2020-02-01 --end 2020-01-01", 1,
         "--start 2020-02-01", "--end 2020-01-01", "reversed"),
    case("fetch_code_without_database", "--db {db} fetch quandl AAPL", 1, "'AAPL'", "DATABASE/DATASET"),
    case("fetch_api_base_not_a_url", f"{FETCH} --api-base nowhere", 2, "--api-base", "nowhere", "http"),
    case("fetch_api_base_unreachable", f"{FETCH} --api-base http://127.0.0.1:{{closed_port}}/api/v3", 1,
         "cannot reach quandl", "Connection refused"),
    # the database
    case("db_is_a_text_file", "--db sqlite:///{dir}/notes.txt bars", 1, "notes.txt", "not a database"),
    case("db_folder_cannot_be_made", "--db sqlite:///{dir}/notes.txt/store.sqlite bars", 1,
         "cannot create the folder", "notes.txt"),
    case("db_is_a_folder", "--db sqlite:///{dir} bars", 1, "is a folder", "database file"),
    case("db_url_unparseable", "--db mysql+pymysql://trader:hunter2@host:port/db bars", 1,
         "not valid", "trader:***@", "sqlite:///PATH"),
    case("db_backend_unsupported", "--db postgresql://trader:hunter2@host/db bars", 1,
         "'postgresql' is not supported", "trader:***@"),
    case("db_driver_unknown", "--db mysql+nodriver://trader:hunter2@host/db bars", 1,
         "'mysql+nodriver' is not available"),
    case("db_read_only", "--db sqlite:///file:{dir}/store.sqlite?mode=ro&uri=true import csv {dir}/dst.csv --symbol X",
         1, "cannot write to database", "readonly", "no bars were stored"),
    case("data_dir_cannot_be_made", "--data-dir {dir}/notes.txt/data bars", 1, "cannot create the folder"),
    # bars
    case("bars_negative_tail", "--db {db} bars X --tail -5", 2, "--tail", "-5", "whole number ≥ 1"),
    case("bars_zero_tail", "--db {db} bars X --tail 0", 2, "--tail", "0", "≥ 1"),
    case("bars_word_tail", "--db {db} bars X --tail many", 2, "--tail", "many", "whole number"),
    case("bars_bad_bar_size", "--db {db} bars X --bar-size 2D", 1, "bar size '2D'"),
    case("bars_unknown_symbol", "--db {db} bars NOPE", 1, "no stored instrument NOPE"),
    case("bars_size_not_stored", "--db {db} bars X --bar-size 1h", 1, "no 1h bars of X", "1D"),
    # sim
    case("sim_port_too_big", "--db {db} sim --port 70000", 2, "--port", "70000", "65535"),
    case("sim_negative_seed", "--db {db} sim --seed -3", 2, "--seed", "-3", "≥ 0"),
    case("sim_unknown_symbol", "--db {db} sim --symbols AAPL,NOPE", 1, "NOPE", "universe", "AAPL"),
    case("sim_no_symbol", "--db {db} sim --symbols ,", 1, "--symbols", "no symbol given"),
    case("sim_replay_not_offered", "--db {db} sim --replay X", 1, "--replay X", "does not offer X"),
    case("sim_replay_not_stored", "--db {db} sim --replay AAPL", 1, "--replay AAPL", "no stored 1D bars"),
    case("sim_universe_bad_price", "--db {db} sim --universe {dir}/universe_bad.csv", 1, "--universe",
         "universe_bad.csv line 3, price", "'lots'"),
    case("sim_universe_listed_twice", "--db {db} sim --universe {dir}/universe_twice.csv", 1,
         "line 3, symbol", "twice"),
    case("sim_universe_missing", "--db {db} sim --universe {dir}/none.csv", 1, "none.csv", "no such file"),
    case("sim_tick_rate_zero", "--db {db} sim --tick-rate 0", 2, "--tick-rate", "0 is not valid", "> 0"),
    case("sim_tick_rate_too_high", "--tick-rate 5000 --db {db} config", 2, "sim_tick_rate", "5000", "1000"),
    case("sim_replay_bad_bar_size", "--db {db} sim --replay AAPL --replay-bar-size 3h", 1, "bar size '3h'"),
    # backfill
    case("backfill_bad_bar_size", "--db {db} backfill AAPL --bar-size 7m --from 2026-11-02", 1, "bar size '7m'", "1m"),
    case("backfill_reversed_range", "--db {db} backfill AAPL --from 2026-11-20 --to 2026-11-02", 1,
         "--from 2026-11-20", "--to 2026-11-02", "reversed"),
    case("backfill_without_from", "--db {db} backfill AAPL --bar-size 1m", 1, "--from is missing"),
    case("backfill_impossible_date", "--db {db} backfill AAPL --from 2026-02-30", 2, "--from", "2026-02-30"),
    case("backfill_unknown_symbol", "--db {db} backfill NOPE --from 2026-11-02", 1, "unknown symbol NOPE"),
    case("backfill_status_unknown_symbol", "--db {db} backfill --status NOPE", 1, "no stored instrument NOPE"),
    # the desk bus
    case("feed_without_port", "--db {db} --feed kafka://nohost config", 2, "feed", "HOST:PORT"),
    case("feed_and_ib", "--db {db} --feed kafka://127.0.0.1:9092 --ib 127.0.0.1:7497 config", 2,
         "feed", "ib", "give one of them"),
    case("hub_bad_kafka", "--db {db} hub --kafka 127.0.0.1", 1, "hub --kafka", "HOST:PORT"),
    case("hub_kafka_unreachable", "--db {db} hub --kafka 127.0.0.1:{closed_port}", 1, "hub", "Kafka at 127.0.0.1:",
         "not reachable", "Connection refused"),
    case("order_without_feed", "--db {db} order ls", 1, "order ls", "--feed kafka://HOST:PORT"),
    case("order_negative_quantity", "--db {db} order place --symbol AAPL --side BUY --qty -5", 2, "--qty", "-5"),
    case("order_bad_side", "--db {db} order place --symbol AAPL --side HOLD --qty 5", 2, "--side", "HOLD"),
    case("order_kafka_unreachable", "--db {db} order ls --feed kafka://127.0.0.1:{closed_port}", 1, "order ls",
         "Kafka at 127.0.0.1:", "not reachable", "Connection refused"),
    case("desk_role_unknown", "--db {db} --desk-role boss config", 2, "--desk-role", "boss"),
    # settings, before or after the command
    case("client_id_negative", "--db {db} --client-id -1 config", 2, "--client-id", "-1", "≥ 0"),
    case("client_id_after_command", "--db {db} config --client-id x", 2, "--client-id", "x"),
    case("sim_seed_word", "--sim-seed lots --db {db} bars", 2, "--sim-seed", "lots"),
    case("theme_unknown", "--db {db} bars --theme blue", 2, "--theme", "blue", "dark"),
    case("log_level_unknown", "--db {db} --log-level loud bars", 2, "--log-level", "loud", "DEBUG"),
    case("log_level_unknown_in_env", "--db {db} bars", 2, "QT_LOG_LEVEL", "LOUD", "DEBUG",
         env={"QT_LOG_LEVEL": "loud"}),
    case("ib_without_port", "--db {db} --ib nohost config", 2, "HOST:PORT"),
    case("config_missing", "--db {db} --config {dir}/none.toml config", 2, "--config", "none.toml", "no such file"),
    case("config_is_a_folder", "--db {db} --config {dir} config", 2, "is a folder", "TOML"),
    case("config_not_toml", "--db {db} --config {dir}/bad.toml config", 2, "bad.toml", "not valid TOML"),
    # the command line itself
    case("unknown_command", "--db {db} sell", 2, "invalid choice: 'sell'", "bars"),
    case("unknown_option", "--db {db} bars X --colour red", 2, "unrecognized arguments: --colour red"),
    case("import_without_kind", "--db {db} import", 2, "required", "KIND"),
]
IN_A_PROCESS_TOO = {"csv_offset_on_some_times_only", "csv_unknown_time_zone", "fetch_impossible_date",
                    "db_is_a_text_file", "bars_negative_tail", "sim_port_too_big"}


@pytest.fixture
def place(tmp_path, monkeypatch):
    """Input files, a store with two bars of X, no config or keyring of the machine, and a closed port."""
    for name, text in FILES.items():
        (tmp_path / name).write_text(text)
    monkeypatch.setenv("QT_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("QT_NO_KEYRING", "1")
    monkeypatch.delenv("QT_LOG_LEVEL", raising=False)
    db = f"sqlite:///{tmp_path / 'store.sqlite'}"
    assert main(["--db", db, "import", "csv", str(tmp_path / "good.csv"), "--symbol", "X"]) == 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    return {"db": db, "dir": str(tmp_path), "closed_port": str(closed_port), "path": tmp_path}


def snapshot(folder: Path) -> dict[str, str]:
    """Every row of the store, and the bytes of every other file the cases may touch."""
    with contextlib.closing(sqlite3.connect(folder / "store.sqlite")) as connection:
        seen = {"store": "\n".join(connection.iterdump())}
    for file in folder.iterdir():
        if file.is_file() and not file.name.startswith("store.sqlite"):
            seen[file.name] = file.read_text()
    return seen


def one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].strip(), f"expected one line on stderr, got {err!r}"
    assert "Traceback" not in err
    return lines[0]


def run_process(*argv: str, script: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", script, *argv] if script else [sys.executable, "-m", "terminal", *argv]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=Path(__file__).parents[2],
                          env={**os.environ, **(env or {})})


def fill(row: Case, place: dict) -> list[str]:
    return [part.format(**place) for part in row.argv]


@pytest.mark.parametrize("row", CORPUS, ids=[c.name for c in CORPUS])
def test_bad_input_gets_one_clear_line(row, place, capsys, monkeypatch):
    for name, value in row.env:
        monkeypatch.setenv(name, value)
    before = snapshot(place["path"])
    code = main(fill(row, place))
    out, err = capsys.readouterr()
    line = one_line(err)
    assert code == row.exit_code, line
    for word in row.words:
        assert word in line
    assert "hunter2" not in line
    assert snapshot(place["path"]) == before


@pytest.mark.parametrize("row", [c for c in CORPUS if c.name in IN_A_PROCESS_TOO], ids=lambda c: c.name)
def test_bad_input_gets_one_clear_line_from_the_installed_entry_point(row, place):
    before = snapshot(place["path"])
    done = run_process(*fill(row, place), env=dict(row.env))
    line = one_line(done.stderr)
    assert done.returncode == row.exit_code, line
    assert all(word in line for word in row.words), line
    assert snapshot(place["path"]) == before


def test_times_with_a_changing_utc_offset_are_imported_in_utc(place):
    done = run_process("--db", place["db"], "import", "csv", f"{place['dir']}/dst.csv", "--symbol", "Y")
    assert done.returncode == 0 and done.stderr == ""
    assert "imported 2 1D bars of Y (2024-03-08 14:30 .. 2024-03-11 13:30 UTC)" in done.stdout


def test_a_failed_import_does_not_create_a_database(place, capsys):
    fresh = place["path"] / "fresh" / "new.sqlite"
    assert main(["--db", f"sqlite:///{fresh}", "import", "csv", f"{place['dir']}/bad_rows.csv", "--symbol", "X"]) == 1
    assert not fresh.parent.exists()


def test_quandl_without_the_dataset_says_so(place, capsys):
    before = snapshot(place["path"])
    with QuandlServer() as server:
        assert main(["--db", place["db"], "fetch", "quandl", "WIKI/NOPE", "--api-base", server.api_base]) == 1
    assert "quandl has no dataset WIKI/NOPE" in one_line(capsys.readouterr().err)
    assert snapshot(place["path"]) == before


def test_config_masks_the_database_password(place, capsys):
    url = "mysql+pymysql://trader:hunter2@db.example/terminal"
    assert main(["--db", url, "config"]) == 0
    out = capsys.readouterr().out
    assert "hunter2" not in out
    assert "mysql+pymysql://trader:***@db.example/terminal" in out


@pytest.mark.parametrize("argv, expected", [
    (["--db", "sqlite:///a", "bars"], "sqlite:///a"),
    (["bars", "--db", "sqlite:///b"], "sqlite:///b"),
    (["--db", "sqlite:///a", "bars", "X", "--db", "sqlite:///b"], "sqlite:///b"),
    (["import", "csv", "f.csv", "--symbol", "X", "--db", "sqlite:///c"], "sqlite:///c"),
    (["backtest", "sma_cross", "--symbol", "X", "--db", "sqlite:///d"], "sqlite:///d"),
    (["--db", "sqlite:///a", "optimize", "sma_cross", "--symbol", "X", "--grid", "fast=5,10", "--db", "sqlite:///e"],
     "sqlite:///e"),
    (["config"], None),
])
def test_settings_flags_are_accepted_before_and_after_the_command(argv, expected):
    assert build_parser().parse_args(argv).db_url == expected


def test_every_settings_flag_follows_every_command():
    args = build_parser().parse_args([
        "fetch", "quandl", "A/B", "--config", "c.toml", "--data-dir", "d", "--ib", "h:1", "--client-id", "3",
        "--theme", "light", "--sim-seed", "5", "--log-level", "debug"])
    assert (str(args.config), args.data_dir, args.ib, args.client_id, args.theme, args.sim_seed, args.log_level) == (
        "c.toml", "d", "h:1", 3, "light", 5, "DEBUG")


def test_output_into_a_closed_pipe_ends_quietly(place, real_csv_dir):
    assert main(["--db", place["db"], "import", "csv", str(real_csv_dir / "GOOG.csv"), "--symbol", "GOOG"]) == 0
    command = [sys.executable, "-m", "terminal", "--db", place["db"], "bars", "GOOG", "--tail", "3000"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        assert process.stdout.readline().startswith("GOOG 1D: 2148 bars stored")
        process.stdout.close()  # like `| head -1`: ~190 kB are still to be written
        err = process.stderr.read()
        code = process.wait(timeout=60)
    assert err == "" and code == 141


BOOM = """
import sys
import terminal.cli_commands as commands
def fail(args, settings):
    raise KeyError("no bar at index 7")
commands.run_bars = fail
from terminal.cli import main
raise SystemExit(main(sys.argv[1:]))
"""


def test_an_unexpected_error_is_one_line_that_offers_the_traceback(place):
    done = run_process("--db", place["db"], "bars", script=BOOM)
    line = one_line(done.stderr)
    assert done.returncode == 1
    assert line == ("quant-terminal: bars failed: KeyError: 'no bar at index 7' "
                    "(run with --log-level DEBUG for the traceback)")


def test_with_debug_logging_an_unexpected_error_shows_its_traceback(place):
    done = run_process("--db", place["db"], "bars", "--log-level", "DEBUG", script=BOOM)
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr and ", in fail" in done.stderr
    assert done.stderr.splitlines()[-1] == "quant-terminal: bars failed: KeyError: 'no bar at index 7'"


def test_usage_errors_keep_exit_code_2_and_help_exits_0(capsys):
    assert main(["bars", "--tail", "-1"]) == 2
    assert main(["--help"]) == 0
    assert "usage: quant-terminal" in capsys.readouterr().out
