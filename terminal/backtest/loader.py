"""Loading strategy source text into a Strategy class, and the checks the editor runs on save."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from terminal.backtest.api import Strategy

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "strategies"
ALLOWED_PARAM_TYPES = (int, float, bool, str)


class StrategyError(ValueError):
    """The strategy source cannot be used; the message names the line."""


@dataclass(frozen=True)
class Problem:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


def template_names() -> list[str]:
    return sorted(p.stem for p in TEMPLATES_DIR.glob("*.py") if not p.stem.startswith("_"))


def template_source(name: str) -> str:
    path = TEMPLATES_DIR / f"{name}.py"
    if not path.exists():
        raise StrategyError(f"no built-in strategy {name!r}; built-ins: {', '.join(template_names())}")
    return path.read_text(encoding="utf-8")


def check_strategy_source(source: str, name: str = "strategy") -> list[Problem]:
    """Syntax, a Strategy subclass, and params of simple types; an empty list means the source is usable."""
    try:
        tree = ast.parse(source, filename=f"<{name}>")
    except SyntaxError as exc:
        return [Problem(exc.lineno or 0, f"syntax error: {exc.msg}")]
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef)
               and any(getattr(b, "id", getattr(b, "attr", "")) == "Strategy" for b in n.bases)]
    if not classes:
        return [Problem(0, "no class derived from Strategy (from terminal.backtest.api import Strategy)")]
    try:
        load_strategy(source, name)
    except StrategyError as exc:
        return [Problem(getattr(exc, "line", 0), str(exc))]
    return []


def load_strategy(source: str, name: str = "strategy") -> type[Strategy]:
    """Execute the source in its own namespace and return the (last) Strategy subclass it defines."""
    namespace: dict = {"__name__": f"strategy_{name}"}
    try:
        code = compile(source, f"<{name}>", "exec")
        exec(code, namespace)  # noqa: S102 - running the user's own strategy code is the point
    except SyntaxError as exc:
        error = StrategyError(f"line {exc.lineno}: syntax error: {exc.msg}")
        error.line = exc.lineno or 0  # type: ignore[attr-defined]
        raise error from exc
    except Exception as exc:
        raise StrategyError(f"the strategy module failed while loading: {type(exc).__name__}: {exc}") from exc
    found = [v for v in namespace.values() if isinstance(v, type) and issubclass(v, Strategy) and v is not Strategy]
    if not found:
        raise StrategyError("no class derived from Strategy (from terminal.backtest.api import Strategy)")
    cls = found[-1]
    for key, value in cls.params.items():
        if not isinstance(value, ALLOWED_PARAM_TYPES):
            raise StrategyError(f"parameter {key!r} = {value!r}: defaults must be int, float, bool or str")
    return cls


def coerce_params(cls: type[Strategy], given: dict[str, str | float | int | bool]) -> dict[str, object]:
    """Parameters from text (``--param fast=10``) converted to the declared types."""
    result: dict[str, object] = {}
    for key, raw in given.items():
        if key not in cls.params:
            raise StrategyError(f"unknown parameter {key!r}; declared: {', '.join(cls.params) or 'none'}")
        kind = type(cls.params[key])
        try:
            if kind is bool and isinstance(raw, str):
                result[key] = raw.strip().lower() in ("1", "true", "yes", "on")
            else:
                result[key] = kind(raw)
        except (TypeError, ValueError) as exc:
            raise StrategyError(f"parameter {key}={raw!r} is not a valid {kind.__name__}") from exc
    return result
