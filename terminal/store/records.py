"""Repositories for instruments, watchlists and small key/value state (orders and fills: ``trading.py``)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select, update

from terminal.domain import Instrument, SecType
from terminal.store.schema import instruments, key_values, watchlist_items, watchlists


class InstrumentRepository:
    """Instruments by key; ids are cached because every bar write needs one."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._ids: dict[str, int] = {}
        self._lock = threading.Lock()

    def save(self, instrument: Instrument) -> int:
        """Insert or update the instrument; returns its row id."""
        row = {
            "key": instrument.key,
            "symbol": instrument.symbol,
            "sec_type": instrument.sec_type.value,
            "exchange": instrument.exchange,
            "currency": instrument.currency,
            "tick_size": instrument.tick_size,
            "multiplier": instrument.multiplier,
            "lot_size": instrument.lot_size,
            "contract_id": instrument.contract_id,
            "primary_exchange": instrument.primary_exchange,
            "local_symbol": instrument.local_symbol,
            "last_trade_date": instrument.last_trade_date,
            "description": instrument.description[:200],
        }
        with self._lock, self._engine.begin() as conn:
            found = conn.execute(select(instruments.c.id).where(instruments.c.key == instrument.key)).first()
            if found:
                conn.execute(update(instruments).where(instruments.c.id == found[0]).values(**row))
                iid = int(found[0])
            else:
                iid = int(conn.execute(insert(instruments).values(**row)).inserted_primary_key[0])
            self._ids[instrument.key] = iid
            return iid

    def id_for(self, instrument: Instrument) -> int:
        """Row id, creating the row the first time an instrument is seen."""
        iid = self._ids.get(instrument.key)
        if iid is not None:
            return iid
        with self._engine.connect() as conn:
            found = conn.execute(select(instruments.c.id).where(instruments.c.key == instrument.key)).first()
        if found:
            self._ids[instrument.key] = int(found[0])
            return int(found[0])
        return self.save(instrument)

    def get(self, key: str) -> Instrument | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(instruments).where(instruments.c.key == key)).mappings().first()
        return _instrument(row) if row else None

    def by_keys(self, keys: Iterable[str]) -> dict[str, Instrument]:
        """The instruments of ``keys`` that exist, by key, in one query (for lists of orders and fills)."""
        wanted = set(keys)
        if not wanted:
            return {}
        with self._engine.connect() as conn:
            rows = conn.execute(select(instruments).where(instruments.c.key.in_(wanted))).mappings().all()
        return {row["key"]: _instrument(row) for row in rows}

    def find_symbol(self, symbol: str) -> list[Instrument]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(instruments).where(instruments.c.symbol == symbol.strip().upper())
            ).mappings().all()
        return [_instrument(r) for r in rows]

    def all(self) -> list[Instrument]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(instruments).order_by(instruments.c.key)).mappings().all()
        return [_instrument(r) for r in rows]


def _instrument(row: Any) -> Instrument:
    return Instrument(
        symbol=row["symbol"],
        sec_type=SecType(row["sec_type"]),
        exchange=row["exchange"],
        currency=row["currency"],
        tick_size=row["tick_size"],
        multiplier=row["multiplier"],
        lot_size=row["lot_size"],
        contract_id=int(row["contract_id"]),
        primary_exchange=row["primary_exchange"],
        local_symbol=row["local_symbol"],
        last_trade_date=row["last_trade_date"],
        description=row["description"],
    )


class WatchlistRepository:
    """Named, ordered lists of instrument keys."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def names(self) -> list[str]:
        with self._engine.connect() as conn:
            return list(conn.execute(select(watchlists.c.name).order_by(watchlists.c.position, watchlists.c.id)).scalars())

    def create(self, name: str) -> None:
        name = name.strip()
        if not name:
            raise ValueError("watchlist name is empty")
        with self._engine.begin() as conn:
            if conn.execute(select(watchlists.c.id).where(watchlists.c.name == name)).first():
                return
            position = conn.execute(select(func.count()).select_from(watchlists)).scalar_one()
            conn.execute(insert(watchlists).values(name=name, position=position))

    def delete(self, name: str) -> None:
        with self._engine.begin() as conn:
            wid = conn.execute(select(watchlists.c.id).where(watchlists.c.name == name)).scalar()
            if wid is not None:
                conn.execute(delete(watchlist_items).where(watchlist_items.c.watchlist_id == wid))
                conn.execute(delete(watchlists).where(watchlists.c.id == wid))

    def items(self, name: str) -> list[str]:
        with self._engine.connect() as conn:
            wid = conn.execute(select(watchlists.c.id).where(watchlists.c.name == name)).scalar()
            if wid is None:
                return []
            return list(
                conn.execute(
                    select(watchlist_items.c.instrument_key)
                    .where(watchlist_items.c.watchlist_id == wid)
                    .order_by(watchlist_items.c.position)
                ).scalars()
            )

    def set_items(self, name: str, keys: list[str]) -> None:
        """Replace the list's contents with ``keys`` in this order (add, remove, reorder)."""
        self.create(name)
        unique = list(dict.fromkeys(keys))
        with self._engine.begin() as conn:
            wid = conn.execute(select(watchlists.c.id).where(watchlists.c.name == name)).scalar_one()
            conn.execute(delete(watchlist_items).where(watchlist_items.c.watchlist_id == wid))
            if unique:
                conn.execute(
                    insert(watchlist_items),
                    [{"watchlist_id": wid, "instrument_key": k, "position": i} for i, k in enumerate(unique)],
                )


class KeyValueRepository:
    """JSON values by key: workspace layout, drawings per symbol, alerts, ticket preferences."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def get(self, key: str, default: Any = None) -> Any:
        with self._engine.connect() as conn:
            value = conn.execute(select(key_values.c.value).where(key_values.c.key == key)).scalar()
        return default if value is None else json.loads(value)

    def with_prefix(self, prefix: str) -> dict[str, Any]:
        """Every value whose key starts with ``prefix``, by key."""
        # '/' as the LIKE escape: a backslash means different things to SQLite and MySQL string literals.
        pattern = prefix.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"
        with self._engine.connect() as conn:
            rows = conn.execute(select(key_values.c.key, key_values.c.value)
                                .where(key_values.c.key.like(pattern, escape="/"))).all()
        return {key: json.loads(value) for key, value in rows}

    def set(self, key: str, value: Any) -> None:
        payload = json.dumps(value)
        with self._engine.begin() as conn:
            if conn.execute(select(key_values.c.key).where(key_values.c.key == key)).first():
                conn.execute(update(key_values).where(key_values.c.key == key).values(value=payload))
            else:
                conn.execute(insert(key_values).values(key=key, value=payload))
