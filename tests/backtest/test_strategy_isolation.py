"""User strategy code runs only in worker processes: parameters are read from the source, checks and runs load
it in a worker under a time limit, and whatever the module does ends only that worker."""

from __future__ import annotations

import time
import tracemalloc

import pytest

from terminal.backtest.loader import (
    StrategyError,
    coerce_params,
    read_declaration,
    template_names,
    template_source,
)
from terminal.backtest.optimize import (
    MAX_COMBINATIONS,
    OptimizationAborted,
    grid,
    optimize,
    parse_values,
)
from terminal.backtest.runner import BacktestRequest, check_in_worker, run_in_worker
from terminal.data import read_bars_csv

HEADER = "import os\nimport sys\nfrom terminal.backtest.api import Strategy\n\n"


def strategy(module_code: str = "", next_code: str = "pass", params: str = "{'n': 1}") -> str:
    return (HEADER + module_code + "\n\nclass S(Strategy):\n    params = " + params
            + "\n    limits = {'n': (0, 9)}\n\n    def next(self):\n        " + next_code + "\n")


@pytest.fixture(scope="module")
def goog(real_csv_dir):
    return read_bars_csv(real_csv_dir / "GOOG.csv").iloc[:300]


def test_parameters_are_read_without_running_the_module():
    source = strategy("while True:\n    pass")  # would never return if it ran here
    started = time.monotonic()
    declaration = read_declaration(source, "spin")
    assert time.monotonic() - started < 1
    assert declaration.class_name == "S" and declaration.params == {"n": 1} and declaration.limits == {"n": (0, 9)}


def test_every_template_declares_its_parameters_and_limits_statically():
    for name in template_names():
        declaration = read_declaration(template_source(name), name)
        assert declaration.params and set(declaration.limits) <= set(declaration.params)
        numeric = {k for k, v in declaration.params.items() if isinstance(v, int | float) and not isinstance(v, bool)}
        assert numeric <= set(declaration.limits), f"{name}: every numeric parameter has limits"


def test_subclass_params_extend_the_base_class():
    source = (HEADER + "class Base(Strategy):\n    params = {'a': 1, 'b': 2.0}\n\n"
              "class Child(Base):\n    params = {'b': 3.0, 'c': True}\n")
    assert read_declaration(source).params == {"a": 1, "b": 3.0, "c": True}


@pytest.mark.parametrize("params, words", [
    ("dict(n=1)", "must be a literal"),
    ("{'n': 1 + os.getpid()}", "must be a literal"),
    ("{'n': [1, 2]}", "must be int, float, bool or str"),
    ("{'n': float('inf')}", "must be a literal"),
    ("[1, 2]", "params must be a dict"),
])
def test_params_the_terminal_cannot_read_are_refused_with_their_line(params, words):
    source = strategy(params=params)
    with pytest.raises(StrategyError, match=words) as caught:
        read_declaration(source)
    assert caught.value.line == source.splitlines().index(f"    params = {params}") + 1


@pytest.mark.parametrize("raw, words", [
    ("-5", "n=-5 is out of range: S allows 0 to 9"),
    ("10", "out of range"),
    ("2.5", "must be a whole number"),
    ("abc", "is not a number"),
    ("inf", "not a finite number"),
    ("nan", "not a finite number"),
])
def test_parameter_values_are_checked_against_type_and_limits(raw, words):
    with pytest.raises(StrategyError, match=words):
        coerce_params(read_declaration(strategy()), {"n": raw})


def test_an_unknown_parameter_names_the_declared_ones():
    with pytest.raises(StrategyError, match="unknown parameter 'm'; S declares: n"):
        coerce_params(read_declaration(strategy()), {"m": "1"})


@pytest.mark.parametrize("module_code, words", [
    ("while True:\n    pass", "did not finish loading within 1 s"),
    ("os._exit(3)", "ended its worker process (exit code 3)"),
    ("raise SystemExit(0)", "called sys.exit(0)"),
    ("sys.exit('bye')", "called sys.exit('bye')"),
    ("1 / 0", "ZeroDivisionError"),
])
def test_the_check_runs_the_module_in_a_worker_and_survives_it(module_code, words):
    [problem] = check_in_worker(strategy(module_code), "hostile", load_time_limit=1.0)
    assert words in problem.message


def test_a_good_module_passes_the_worker_check():
    assert check_in_worker(template_source("sma_cross"), "sma_cross") == []


@pytest.mark.parametrize("module_code, next_code, words", [
    ("os._exit(3)", "pass", "ended its worker process (exit code 3)"),
    ("", "os._exit(4)", "ended its worker process (exit code 4)"),
    ("", "sys.exit(0)", "called sys.exit(0)"),
    ("while True:\n    pass", "pass", "did not finish loading within 1 s"),
])
def test_a_run_survives_whatever_the_strategy_does(goog, module_code, next_code, words):
    request = BacktestRequest(strategy(module_code, next_code), {"GOOG": goog}, "hostile", time_limit=30)
    result = run_in_worker(request, load_time_limit=1.0)
    assert not result.ok and words in result.error


def test_a_strategy_that_prints_does_not_write_to_our_stdout(goog, capfd):
    request = BacktestRequest(strategy("print('module says hi')", "print('bar', self.i)"), {"GOOG": goog}, "chatty",
                              time_limit=60)
    assert run_in_worker(request).ok
    out, err = capfd.readouterr()
    assert "module says hi" not in out and "bar 1" not in out
    assert "module says hi" in err


def test_a_grid_point_that_kills_its_worker_is_an_error_row_and_the_grid_goes_on(goog):
    request = BacktestRequest(strategy(next_code="if self.p.n == 2:\n            os._exit(5)"), {"GOOG": goog},
                              "sometimes", time_limit=60)
    table = optimize(request, {"n": [1, 2, 3, 4, 5, 6]}, workers=1)
    assert sorted(table["n"]) == [1, 2, 3, 4, 5, 6]
    errors = dict(zip(table["n"], table["error"], strict=True))
    assert "worker process ended" in errors[2]
    assert errors[6] == "" and errors[1] == ""


def test_a_strategy_that_always_kills_its_worker_stops_the_grid_with_a_message(goog):
    request = BacktestRequest(strategy(next_code="os._exit(5)"), {"GOOG": goog}, "always", time_limit=60)
    with pytest.raises(OptimizationAborted, match="ended its worker processes 3 times"):
        optimize(request, {"n": list(range(10))}, workers=1)


def test_a_huge_grid_is_refused_before_anything_is_built():
    tracemalloc.start()
    started = time.monotonic()
    fast = parse_values("1:10000:1", 10)
    slow = parse_values("1:10000:1", 30)
    with pytest.raises(ValueError, match=r"10,000 fast × 10,000 slow = 100,000,000 parameter sets"):
        grid({"fast": fast, "slow": slow})
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert time.monotonic() - started < 2
    assert peak < 20 * 2**20  # two axes of 10,000 numbers, not 10^8 dicts


def test_a_grid_at_the_cap_is_produced_lazily():
    space = {"a": list(range(100)), "b": list(range(MAX_COMBINATIONS // 100))}
    combos = grid(space)
    assert len(combos) == MAX_COMBINATIONS
    first = next(iter(combos))
    assert first == {"a": 0, "b": 0}
