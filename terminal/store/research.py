"""Repositories for strategy sources (versioned) and backtest runs with their results."""

from __future__ import annotations

import builtins
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, insert, select, update

from terminal.store.schema import backtest_runs, strategies


@dataclass(frozen=True)
class StoredStrategy:
    name: str
    version: int
    source: str
    params: dict[str, Any]
    created: str


class StrategyRepository:
    """Each save of changed source creates a new version; old versions stay readable."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def save(self, name: str, source: str, params: dict[str, Any]) -> StoredStrategy:
        name = name.strip()
        if not name:
            raise ValueError("strategy name is empty")
        latest = self.latest(name)
        if latest is not None and latest.source == source and latest.params == params:
            return latest
        version = 1 if latest is None else latest.version + 1
        created = datetime.now(UTC).isoformat()
        with self._engine.begin() as conn:
            conn.execute(
                insert(strategies).values(
                    name=name, version=version, source=source, params=json.dumps(params), created=created
                )
            )
        return StoredStrategy(name, version, source, params, created)

    def latest(self, name: str) -> StoredStrategy | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                select(strategies).where(strategies.c.name == name).order_by(strategies.c.version.desc()).limit(1)
            ).mappings().first()
        return _strategy(row) if row else None

    def get(self, name: str, version: int) -> StoredStrategy | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                select(strategies).where(strategies.c.name == name, strategies.c.version == version)
            ).mappings().first()
        return _strategy(row) if row else None

    def names(self) -> list[str]:
        with self._engine.connect() as conn:
            return list(conn.execute(select(strategies.c.name).distinct().order_by(strategies.c.name)).scalars())

    def versions(self, name: str) -> list[int]:
        with self._engine.connect() as conn:
            return list(
                conn.execute(
                    select(strategies.c.version).where(strategies.c.name == name).order_by(strategies.c.version)
                ).scalars()
            )


def _strategy(row: Any) -> StoredStrategy:
    return StoredStrategy(row["name"], int(row["version"]), row["source"], json.loads(row["params"]), row["created"])


@dataclass(frozen=True)
class StoredRun:
    id: int
    strategy_name: str
    strategy_version: int
    engine: str
    symbols: list[str]
    params: dict[str, Any]
    started: str
    finished: str
    status: str
    statistics: dict[str, Any]
    result: dict[str, Any]
    error: str


class BacktestRunRepository:
    """Saved backtest runs: parameters, statistics and the full JSON result for review and comparison."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def start(self, strategy_name: str, strategy_version: int, engine: str, symbols: list[str],
              params: dict[str, Any]) -> int:
        with self._engine.begin() as conn:
            return int(
                conn.execute(
                    insert(backtest_runs).values(
                        strategy_name=strategy_name,
                        strategy_version=strategy_version,
                        engine=engine,
                        symbols=",".join(symbols),
                        params=json.dumps(params),
                        started=datetime.now(UTC).isoformat(),
                        status="running",
                    )
                ).inserted_primary_key[0]
            )

    def finish(self, run_id: int, status: str, statistics: dict[str, Any], result: dict[str, Any],
               error: str = "") -> None:
        with self._engine.begin() as conn:
            conn.execute(
                update(backtest_runs)
                .where(backtest_runs.c.id == run_id)
                .values(
                    status=status,
                    finished=datetime.now(UTC).isoformat(),
                    statistics=json.dumps(statistics, default=str),
                    result=json.dumps(result, default=str),
                    error=error,
                )
            )

    def get(self, run_id: int) -> StoredRun | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(backtest_runs).where(backtest_runs.c.id == run_id)).mappings().first()
        return _run(row) if row else None

    def list(self, limit: int = 200) -> list[StoredRun]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(backtest_runs).order_by(backtest_runs.c.id.desc()).limit(limit)).mappings().all()
        return [_run(r) for r in rows]

    def count(self) -> int:
        with self._engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(backtest_runs)).scalar_one())

    def summaries(self, limit: int = 20) -> builtins.list[StoredRun]:  # builtins: the class has a list()
        """The newest runs without their full result (equity curves and trades stay in the database)."""
        columns = [c for c in backtest_runs.c if c.name != "result"]
        with self._engine.connect() as conn:
            rows = conn.execute(select(*columns).order_by(backtest_runs.c.id.desc()).limit(limit)).mappings().all()
        return [_run({**r, "result": "{}"}) for r in rows]


def _run(row: Any) -> StoredRun:
    return StoredRun(
        id=int(row["id"]),
        strategy_name=row["strategy_name"],
        strategy_version=int(row["strategy_version"]),
        engine=row["engine"],
        symbols=[s for s in row["symbols"].split(",") if s],
        params=json.loads(row["params"]),
        started=row["started"],
        finished=row["finished"],
        status=row["status"],
        statistics=json.loads(row["statistics"] or "{}"),
        result=json.loads(row["result"] or "{}"),
        error=row["error"],
    )
