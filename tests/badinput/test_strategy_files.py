"""Bad strategies and bad backtest/optimize options on the command line: one clear line on stderr, exit 1, no
traceback, nothing stored; and whatever a strategy file does at import (raise, sys.exit(0), os._exit, print)
happens in a worker process, never in the CLI's own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from terminal.cli import main
from terminal.store import Store

ROOT = Path(__file__).resolve().parents[2]
HEADER = "import os\nimport sys\nfrom terminal.backtest.api import Strategy\n\n"
CLASS = "\n\nclass S(Strategy):\n    params = {'n': 2}\n    limits = {'n': (1, 9)}\n\n    def next(self):\n        {next}\n"


def source(module: str = "", next_code: str = "pass") -> str:
    return HEADER + module + CLASS.replace("{next}", next_code)


FILES = {
    "syntax.py": "from terminal.backtest.api import Strategy\nclass S(Strategy)\n    pass\n",
    "no_class.py": "x = 1\n",
    "dynamic_params.py": HEADER + "class S(Strategy):\n    params = dict(n=2)\n",
    "raises.py": source("raise RuntimeError('no data feed configured')"),
    "exits_zero.py": source("raise SystemExit(0)"),
    "hard_exit.py": source("os._exit(0)"),
    "next_raises.py": source(next_code="raise ValueError('bad signal')"),
    "chatty.py": source("print('hello from the module')", "print('bar', self.i)"),
    "latin1.py": None,  # bytes that are not UTF-8
}

# (case, arguments after the global options, exit code, words on the one stderr line)
CASES = [
    ("syntax error", ["backtest", "{syntax.py}"], 1, "line 2: syntax error"),
    ("no strategy class", ["backtest", "{no_class.py}"], 1, "no class derived from Strategy"),
    ("params not a literal", ["backtest", "{dynamic_params.py}"], 1, "S.params must be a literal"),
    ("raises at import", ["backtest", "{raises.py}"], 1, "no data feed configured"),
    ("sys.exit(0) at import", ["backtest", "{exits_zero.py}"], 1, "called sys.exit(0)"),
    ("os._exit(0) at import", ["backtest", "{hard_exit.py}"], 1, "ended its worker process (exit code 0)"),
    ("raises in next", ["backtest", "{next_raises.py}"], 1, "bad signal (line 12 of next_raises)"),
    ("not UTF-8", ["backtest", "{latin1.py}"], 1, "cannot read strategy file"),
    ("missing file", ["backtest", "{missing.py}"], 1, "does not exist"),
    ("unknown strategy", ["backtest", "nope"], 1, "no strategy 'nope'"),
    ("negative window", ["backtest", "sma_cross", "--param", "fast=-5"], 1,
     "parameter fast=-5 is out of range: SmaCross allows 1 to 1000"),
    ("param of the wrong type", ["backtest", "sma_cross", "--param", "long_only=maybe"], 1,
     "long_only='maybe' is not valid: give true or false"),
    ("unknown param", ["backtest", "sma_cross", "--param", "speed=3"], 1, "unknown parameter 'speed'"),
    ("param without =", ["backtest", "sma_cross", "--param", "fast"], 1, "must look like name=value"),
    ("negative cash", ["backtest", "sma_cross", "--cash", "-1"], 1, "cash -1 is not valid: give a number > 0"),
    ("NaN cash", ["backtest", "sma_cross", "--cash", "nan"], 1, "cash nan is not valid"),
    ("500 % commission", ["backtest", "sma_cross", "--commission", "5"], 1, "commission 5 is not valid"),
    ("negative slippage", ["backtest", "sma_cross", "--slippage", "-0.1"], 1, "slippage -0.1 is not valid"),
    ("negative units", ["backtest", "sma_cross", "--units", "-3"], 1, "units -3 is not valid"),
    ("reversed range", ["backtest", "sma_cross", "--from", "2012-01-01", "--to", "2010-01-01"], 1,
     "the range is reversed"),
    ("range without bars", ["backtest", "sma_cross", "--from", "2030-01-01"], 1, "no stored 1D bars of GOOG"),
    ("unknown symbol", ["backtest", "sma_cross", "--symbol", "ZZZ"], 1, "no stored 1D bars of ZZZ"),
    ("10^8 grid", ["optimize", "sma_cross", "--grid", "fast=1:10000:1", "--grid", "slow=1:10000:1"], 1,
     "100,000,000 parameter sets is more than 20,000"),
    ("grid of an undeclared param", ["optimize", "sma_cross", "--grid", "speed=1:3:1"], 1,
     "declares no such parameter"),
    ("grid values out of limits", ["optimize", "sma_cross", "--grid", "fast=-5:5:5"], 1,
     "fast=-5 is out of range"),
    ("unknown metric", ["optimize", "sma_cross", "--grid", "fast=5:10:5", "--metric", "luck"], 1,
     "--metric 'luck' is not a statistic"),
    ("bad walk-forward share", ["optimize", "sma_cross", "--grid", "fast=5:10:5", "--walk-forward", "2"], 1,
     "--walk-forward 2 is not valid"),
    ("zero workers", ["optimize", "sma_cross", "--grid", "fast=5:10:5", "--workers", "0"], 1,
     "--workers 0 is not valid"),
    ("grid that kills its workers", ["optimize", "{hard_exit.py}", "--grid", "n=1:3:1"], 1,
     "ended its worker process"),
]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, real_csv_dir):
    folder = tmp_path_factory.mktemp("strategies")
    for name, text in FILES.items():
        path = folder / name
        if text is None:
            path.write_bytes(HEADER.encode() + b"# caf\xe9\n" + CLASS.replace("{next}", "pass").encode())
        else:
            path.write_text(text, encoding="utf-8")
    db = f"sqlite:///{folder / 'store.sqlite'}"
    assert main(["--db", db, "import", "csv", str(real_csv_dir / "GOOG.csv"), "--symbol", "GOOG"]) == 0
    return folder, db


def _argv(workspace, arguments: list[str]) -> list[str]:
    folder, db = workspace
    argv = [a.replace("{", str(folder) + "/").replace("}", "") if a.startswith("{") else a for a in arguments]
    if "--symbol" not in argv:
        argv += ["--symbol", "GOOG"]
    return ["--db", db, *argv]


def _runs(db: str) -> tuple[int, list[str]]:
    store = Store.open(db)
    try:
        return store.backtest_runs.count(), store.strategies.names()
    finally:
        store.close()


@pytest.mark.parametrize("case, arguments, code, words", CASES, ids=[c[0] for c in CASES])
def test_bad_strategy_or_option_gives_one_line(workspace, capsys, case, arguments, code, words):
    before = _runs(workspace[1])
    started = time.monotonic()
    assert main(_argv(workspace, arguments)) == code
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"{case}: {err!r}"
    assert words in lines[0], f"{case}: {lines[0]!r}"
    assert lines[0].startswith("quant-terminal: ")
    assert "Traceback" not in err + out
    assert _runs(workspace[1]) == before
    if case == "10^8 grid":
        assert time.monotonic() - started < 5  # refused before a single grid point was built


def _subprocess(workspace, arguments: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "terminal", *_argv(workspace, arguments)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name, words", [("exits_zero.py", "called sys.exit(0)"),
                                         ("hard_exit.py", "ended its worker process (exit code 0)")])
def test_a_strategy_that_exits_at_import_cannot_end_the_cli_with_success(workspace, name, words):
    result = _subprocess(workspace, ["backtest", "{" + name + "}"])
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"quant-terminal: backtest failed: backtest of "
                                                  f"{name[:-3]}: {words}"] or words in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_a_chatty_strategy_leaves_the_json_on_stdout_intact(workspace):
    result = _subprocess(workspace, ["backtest", "{chatty.py}", "--json"])
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["strategy_name"] == "chatty" and payload["error"] == ""
    assert "hello from the module" in result.stderr


@pytest.mark.parametrize("option", ["--from", "--to"])
def test_a_date_that_is_not_a_date_is_a_usage_error(workspace, capsys, option):
    assert main(_argv(workspace, ["backtest", "sma_cross", option, "2020-13-45"])) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and option in err[0] and "2020-13-45" in err[0] and "YYYY-MM-DD" in err[0]
