"""Strategies trading live: a run's settings and state by its id, and the bars it decided on, in order."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update

from terminal.store.schema import live_bars, live_runs

RUN_ID_PREFIX = "L"  # a live run's id, and so every client order id of its orders (``<run>-…``), starts with it


def run_id_of(client_order_id: str) -> str | None:
    """The live run a client order id belongs to, or None for an order no run placed."""
    return client_order_id.split("-", 1)[0] if client_order_id.startswith(RUN_ID_PREFIX) else None


@dataclass
class LiveRunRecord:
    run_id: str
    strategy: str
    source: str
    params: dict[str, Any]
    symbol: str
    bar_size: str
    capital: float
    units: float = 0.0
    instrument_key: str = ""
    status: str = "running"
    message: str = ""
    started: str = ""
    stopped: str = ""
    account: str = ""


def _record(row: Any) -> LiveRunRecord:
    return LiveRunRecord(run_id=row["run_id"], strategy=row["strategy"], source=row["source"],
                         params=json.loads(row["params"]), symbol=row["symbol"], bar_size=row["bar_size"],
                         capital=float(row["capital"]), units=float(row["units"]),
                         instrument_key=row["instrument_key"], status=row["status"], message=row["message"],
                         started=row["started"], stopped=row["stopped"], account=row["account"])


class LiveRunRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(self, run: LiveRunRecord) -> None:
        with self._engine.begin() as conn:
            conn.execute(insert(live_runs).values(
                run_id=run.run_id, strategy=run.strategy, source=run.source, params=json.dumps(run.params),
                symbol=run.symbol, instrument_key=run.instrument_key, bar_size=run.bar_size, units=run.units,
                capital=run.capital, status=run.status, message=run.message, started=run.started,
                stopped=run.stopped, account=run.account))

    def set_status(self, run_id: str, status: str, message: str = "", stopped: str = "") -> None:
        values: dict[str, Any] = {"status": status, "message": message}
        if stopped:
            values["stopped"] = stopped
        with self._engine.begin() as conn:
            conn.execute(update(live_runs).where(live_runs.c.run_id == run_id).values(**values))

    def get(self, run_id: str) -> LiveRunRecord | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(live_runs).where(live_runs.c.run_id == run_id)).mappings().first()
        return _record(row) if row else None

    def all(self) -> list[LiveRunRecord]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(live_runs).order_by(live_runs.c.started)).mappings().all()
        return [_record(r) for r in rows]

    def strategies(self) -> dict[str, str]:
        """Each run's strategy name by run id (no sources read)."""
        with self._engine.connect() as conn:
            return dict(conn.execute(select(live_runs.c.run_id, live_runs.c.strategy)).all())

    def add_bars(self, run_id: str, rows: list[tuple[int, float, float, float, float, float]],
                 positions: list[float], warmup: bool) -> None:
        """Append bars (time ns, o, h, l, c, v) with the position held at each; a bar already stored is kept."""
        if not rows:
            return
        with self._engine.begin() as conn:
            have = set(conn.execute(select(live_bars.c.time).where(
                live_bars.c.run_id == run_id, live_bars.c.time >= rows[0][0])).scalars())
            new = [{"run_id": run_id, "time": int(r[0]), "open": r[1], "high": r[2], "low": r[3], "close": r[4],
                    "volume": r[5], "position": float(p), "warmup": warmup}
                   for r, p in zip(rows, positions, strict=True) if int(r[0]) not in have]
            if new:
                conn.execute(insert(live_bars), new)

    def bars(self, run_id: str) -> list[dict[str, Any]]:
        """The run's bars, oldest first: time, open, high, low, close, volume, position, warmup."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(live_bars).where(live_bars.c.run_id == run_id)
                                .order_by(live_bars.c.time)).mappings().all()
        return [dict(r) for r in rows]

    def remove(self, run_id: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(delete(live_bars).where(live_bars.c.run_id == run_id))
            conn.execute(delete(live_runs).where(live_runs.c.run_id == run_id))
