"""Strategy source text: what it declares, read without running it; and loading it into a class (workers only).

The terminal and the CLI never execute a user's strategy: they read its ``params`` (and
optional ``limits``) from the syntax tree, and everything that runs the module — the
check on save, a backtest, every grid point — happens in a worker process under a time
limit (``terminal.backtest.runner``). ``load_strategy`` is what those workers call.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "strategies"
ALLOWED_PARAM_TYPES = (int, float, bool, str)
PARAMS_HINT = "params = {'fast': 10, 'slow': 30} (a dict literal of int, float, bool or str)"


class StrategyError(ValueError):
    """The strategy source or a parameter cannot be used; the message names the line or the parameter."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.line = line

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


@dataclass(frozen=True)
class Problem:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


@dataclass(frozen=True)
class Declaration:
    """What a strategy declares, read from its source without running it."""

    class_name: str
    params: dict[str, Any]
    limits: dict[str, tuple[float, float]] = field(default_factory=dict)
    line: int = 0
    vectorized: bool = False  # the class (or a base in the source) defines signals(): the vectorized hook
    exits: bool = False  # it attaches stop or target exits to orders (buy(..., stop=...)): event engines only


def template_names() -> list[str]:
    return sorted(p.stem for p in TEMPLATES_DIR.glob("*.py") if not p.stem.startswith("_"))


def template_source(name: str) -> str:
    path = TEMPLATES_DIR / f"{name}.py"
    if not path.exists():
        raise StrategyError(f"no built-in strategy {name!r}; built-ins: {', '.join(template_names())}")
    return path.read_text(encoding="utf-8")


# --- static reading ------------------------------------------------------------------------------

def read_declaration(source: str, name: str = "strategy") -> Declaration:
    """The last module-level class derived from Strategy, its ``params`` and ``limits`` literals.

    Raises StrategyError (with the line) when the source does not parse, defines no strategy, or
    declares parameters the terminal cannot read without running the code."""
    try:
        tree = ast.parse(source, filename=f"<{name}>")
    except SyntaxError as exc:
        raise StrategyError(f"syntax error: {exc.msg}", exc.lineno or 0) from None
    except ValueError as exc:  # e.g. NUL bytes in the source
        raise StrategyError(f"the source cannot be parsed: {exc}") from None
    strategies: dict[str, ast.ClassDef] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and any(_base_name(b) == "Strategy" or _base_name(b) in strategies
                                                  for b in node.bases):
            strategies[node.name] = node
    if not strategies:
        raise StrategyError("no class derived from Strategy (from terminal.backtest.api import Strategy)")
    node = list(strategies.values())[-1]
    params: dict[str, Any] = {}
    limits: dict[str, tuple[float, float]] = {}
    lineage = _lineage(node, strategies)
    for cls in lineage:  # base classes first: a subclass overrides what it redeclares
        params.update(_literal(cls, "params", _check_params) or {})
        limits.update(_literal(cls, "limits", lambda value, line: _check_limits(value, line, params)) or {})
    vectorized = any(isinstance(s, ast.FunctionDef) and s.name == "signals" for cls in lineage for s in cls.body)
    exits = any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in ("buy", "sell")
                and any(k.arg in ("stop", "target") for k in n.keywords) for cls in lineage for n in ast.walk(cls))
    return Declaration(node.name, params, limits, node.lineno, vectorized, exits)


def _base_name(base: ast.expr) -> str:
    if isinstance(base, ast.Name):
        return base.id
    if isinstance(base, ast.Attribute):
        return base.attr
    return ""


def _lineage(node: ast.ClassDef, strategies: dict[str, ast.ClassDef]) -> list[ast.ClassDef]:
    chain = [node]
    seen = {node.name}
    while True:
        parent = next((strategies[_base_name(b)] for b in chain[0].bases
                       if _base_name(b) in strategies and _base_name(b) not in seen), None)
        if parent is None:
            return chain
        seen.add(parent.name)
        chain.insert(0, parent)


def _literal(cls: ast.ClassDef, attribute: str, check) -> Any:  # type: ignore[no-untyped-def]
    for statement in cls.body:
        targets = statement.targets if isinstance(statement, ast.Assign) else (
            [statement.target] if isinstance(statement, ast.AnnAssign) and statement.value is not None else [])
        if not any(isinstance(t, ast.Name) and t.id == attribute for t in targets):
            continue
        value_node = statement.value
        try:
            value = ast.literal_eval(value_node)  # type: ignore[arg-type]
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            raise StrategyError(f"{cls.name}.{attribute} must be a literal the terminal can read without running "
                                f"your code, e.g. {PARAMS_HINT if attribute == 'params' else LIMITS_HINT}",
                                statement.lineno) from None
        return check(value, statement.lineno)
    return None


LIMITS_HINT = "limits = {'fast': (2, 500)} (lowest and highest allowed value of a numeric parameter)"


def _check_params(value: Any, line: int) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise StrategyError(f"params must be a dict, e.g. {PARAMS_HINT}", line)
    for key, default in value.items():
        if not isinstance(key, str) or not key.isidentifier():
            raise StrategyError(f"parameter name {key!r} must be a Python identifier", line)
        if not isinstance(default, ALLOWED_PARAM_TYPES):
            raise StrategyError(f"parameter {key!r} = {default!r}: defaults must be int, float, bool or str", line)
        if isinstance(default, float) and not math.isfinite(default):
            raise StrategyError(f"parameter {key!r} = {default!r}: a default must be a finite number", line)
    return value


def _check_limits(value: Any, line: int, params: dict[str, Any]) -> dict[str, tuple[float, float]]:
    if not isinstance(value, dict):
        raise StrategyError(f"limits must be a dict, e.g. {LIMITS_HINT}", line)
    result: dict[str, tuple[float, float]] = {}
    for key, bounds in value.items():
        if key not in params:
            raise StrategyError(f"limits names {key!r}, which is not in params", line)
        default = params[key]
        if isinstance(default, bool) or not isinstance(default, int | float):
            raise StrategyError(f"limits of {key!r}: only numeric parameters have limits", line)
        if (not isinstance(bounds, tuple | list) or len(bounds) != 2
                or not all(isinstance(b, int | float) and not isinstance(b, bool) for b in bounds)
                or not bounds[0] <= bounds[1]):
            raise StrategyError(f"limits of {key!r} must be (lowest, highest), e.g. {LIMITS_HINT}", line)
        if not bounds[0] <= default <= bounds[1]:
            raise StrategyError(f"the default {key}={default!r} is outside its limits {bounds[0]:g}..{bounds[1]:g}",
                                line)
        result[key] = (float(bounds[0]), float(bounds[1]))
    return result


def check_strategy_source(source: str, name: str = "strategy") -> list[Problem]:
    """The static checks (syntax, a Strategy subclass, readable params and limits); empty means they pass.
    The module itself is run only by ``runner.check_in_worker``."""
    try:
        read_declaration(source, name)
    except StrategyError as exc:
        return [Problem(exc.line, exc.message)]
    return []


def coerce_params(declaration: Declaration, given: dict[str, Any]) -> dict[str, Any]:
    """Parameters from text (``--param fast=10``, the editor's table) converted to the declared types and
    checked against the declared limits; StrategyError names the parameter and what would be valid."""
    result: dict[str, Any] = {}
    for key, raw in given.items():
        if key not in declaration.params:
            raise StrategyError(f"unknown parameter {key!r}; {declaration.class_name} declares: "
                                f"{', '.join(declaration.params) or 'none'}")
        result[key] = coerce_value(declaration, key, raw)
    return result


def coerce_value(declaration: Declaration, key: str, raw: Any) -> Any:
    kind = type(declaration.params[key])
    text = str(raw).strip()
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        if text.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
            raise StrategyError(f"parameter {key}={text!r} is not valid: give true or false")
        return text.lower() in ("1", "true", "yes", "on")
    if kind is str:
        return text
    wanted = "a whole number" if kind is int else "a number"
    try:
        number = float(raw)
    except (TypeError, ValueError):
        raise StrategyError(f"parameter {key}={text!r} is not a number: give {wanted} "
                            f"(default {declaration.params[key]!r})") from None
    if not math.isfinite(number):
        raise StrategyError(f"parameter {key}={text!r} is not a finite number: give {wanted}")
    if kind is int and number != int(number):
        raise StrategyError(f"parameter {key}={text!r} must be a whole number (default {declaration.params[key]!r})")
    value = kind(number)
    if key in declaration.limits:
        low, high = declaration.limits[key]
        if not low <= value <= high:
            raise StrategyError(f"parameter {key}={text} is out of range: {declaration.class_name} allows "
                                f"{low:g} to {high:g}")
    return value


# --- loading (worker processes only) -------------------------------------------------------------

def load_strategy(source: str, name: str = "strategy") -> type:
    """Execute the source in its own namespace and return the Strategy subclass it declares.

    Runs user code: call it only inside a worker process (see ``terminal.backtest.runner``)."""
    from terminal.backtest.api import Strategy

    declaration = read_declaration(source, name)
    namespace: dict = {"__name__": f"strategy_{name}"}
    try:
        code = compile(source, f"<{name}>", "exec")
        exec(code, namespace)  # noqa: S102 - running the user's own strategy code is the point (in a worker)
    except SystemExit as exc:
        raise StrategyError(f"the strategy module called sys.exit({exc.code!r}) while loading; remove it") from None
    except Exception as exc:
        raise StrategyError(f"the strategy module failed while loading: {type(exc).__name__}: {exc}") from exc
    cls = namespace.get(declaration.class_name)
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise StrategyError(f"{declaration.class_name} is not derived from terminal.backtest.api.Strategy",
                            declaration.line)
    cls.params = dict(declaration.params)  # the declaration the terminal read is the one that runs
    return cls
