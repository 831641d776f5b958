"""The trade journal's rows: round trips by their unique key; adding one already there keeps its tags and notes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, insert, select, update

from terminal.domain.journal import RoundTrip
from terminal.store.schema import journal_snapshots, journal_trades


def _row(trip: RoundTrip) -> dict[str, Any]:
    return {
        "trade_key": trip.key, "source": trip.source, "account": trip.account, "symbol": trip.symbol,
        "instrument_key": trip.instrument_key, "side": trip.side, "quantity": trip.quantity,
        "entry_time": trip.entry_time.isoformat(), "exit_time": trip.exit_time.isoformat(),
        "entry_price": trip.entry_price, "exit_price": trip.exit_price, "pnl": trip.pnl,
        "commission": trip.commission, "entry_order": trip.entry_order, "stop_price": trip.stop_price,
        "r_multiple": trip.r_multiple, "mae": trip.mae, "mfe": trip.mfe, "run_id": trip.run_id,
        "strategy": trip.strategy, "tags": json.dumps(list(trip.tags)), "notes": trip.notes,
    }


def _trip(row: Any) -> RoundTrip:
    return RoundTrip(
        key=row["trade_key"], source=row["source"], account=row["account"], symbol=row["symbol"],
        instrument_key=row["instrument_key"], side=row["side"], quantity=float(row["quantity"]),
        entry_time=datetime.fromisoformat(row["entry_time"]), exit_time=datetime.fromisoformat(row["exit_time"]),
        entry_price=float(row["entry_price"]), exit_price=float(row["exit_price"]), pnl=float(row["pnl"]),
        commission=float(row["commission"]), entry_order=row["entry_order"], stop_price=row["stop_price"],
        r_multiple=row["r_multiple"], mae=row["mae"], mfe=row["mfe"], run_id=row["run_id"],
        strategy=row["strategy"], tags=tuple(json.loads(row["tags"] or "[]")), notes=row["notes"])


class JournalRepository:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(self, trips: list[RoundTrip]) -> int:
        """Insert the round trips not stored yet (by key); returns how many were new. A stored one keeps
        the trader's tags and notes, and takes the new one's measures (stop, R, MAE/MFE) if it had none."""
        if not trips:
            return 0
        keys = [t.key for t in trips]
        with self._engine.begin() as conn:
            stored = {r["trade_key"]: r for r in conn.execute(
                select(journal_trades).where(journal_trades.c.trade_key.in_(keys))).mappings()}
            new = [_row(t) for t in trips if t.key not in stored]
            if new:
                conn.execute(insert(journal_trades), new)
            for t in trips:
                old = stored.get(t.key)
                if old is None:
                    continue
                filled = {k: v for k, v in (("stop_price", t.stop_price), ("r_multiple", t.r_multiple),
                                            ("mae", t.mae), ("mfe", t.mfe)) if v is not None and old[k] is None}
                if filled:
                    conn.execute(update(journal_trades).where(journal_trades.c.trade_key == t.key).values(**filled))
        return len(new)

    def list(self, source: str | None = None, symbol: str | None = None, run_id: int | None = None,
             limit: int | None = None) -> list[RoundTrip]:
        """Oldest exit first."""
        query = select(journal_trades).order_by(journal_trades.c.exit_time, journal_trades.c.trade_key)
        if source:
            query = query.where(journal_trades.c.source == source)
        if symbol:
            query = query.where(journal_trades.c.symbol == symbol)
        if run_id is not None:
            query = query.where(journal_trades.c.run_id == run_id)
        with self._engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        trips = [_trip(r) for r in rows]
        return trips[-limit:] if limit else trips

    def keys(self) -> set[str]:
        with self._engine.connect() as conn:
            return set(conn.execute(select(journal_trades.c.trade_key)).scalars())

    def run_ids(self) -> set[int]:
        with self._engine.connect() as conn:
            return {int(r[0]) for r in conn.execute(select(journal_trades.c.run_id).distinct()) if r[0] is not None}

    def annotate(self, key: str, tags: list[str] | None = None, notes: str | None = None) -> RoundTrip:
        values: dict[str, Any] = {}
        if tags is not None:
            values["tags"] = json.dumps(sorted({t.strip() for t in tags if t.strip()}))
        if notes is not None:
            values["notes"] = notes
        with self._engine.begin() as conn:
            if values:
                done = conn.execute(update(journal_trades).where(journal_trades.c.trade_key == key).values(**values))
                if done.rowcount == 0:
                    raise KeyError(key)
            row = conn.execute(select(journal_trades).where(journal_trades.c.trade_key == key)).mappings().first()
        if row is None:
            raise KeyError(key)
        return _trip(row)

    def save_snapshot(self, execution_id: str, png: bytes) -> None:
        """The chart at a fill (the first one taken is kept: a reconnect replays executions)."""
        with self._engine.begin() as conn:
            if conn.execute(select(journal_snapshots.c.execution_id)
                            .where(journal_snapshots.c.execution_id == execution_id)).first() is None:
                conn.execute(insert(journal_snapshots).values(execution_id=execution_id, png=png,
                                                              taken=datetime.now(UTC).isoformat()))

    def snapshot(self, execution_id: str) -> bytes | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(journal_snapshots.c.png)
                               .where(journal_snapshots.c.execution_id == execution_id)).first()
        return bytes(row[0]) if row is not None else None

    def count(self) -> int:
        with self._engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(journal_trades)).scalar_one())

