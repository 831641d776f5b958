"""Repositories for instruments, watchlists, orders, fills and small key/value state."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select, update

from terminal.domain import (
    Fill,
    Instrument,
    Order,
    OrderSide,
    OrderStatus,
    OrderType,
    SecType,
    TimeInForce,
)
from terminal.store.schema import (
    fills,
    instruments,
    key_values,
    orders,
    watchlist_items,
    watchlists,
)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _parse_time(text: str) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


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


def _order_row(order: Order) -> dict[str, Any]:
    return {
        "client_order_id": order.client_order_id,
        "order_id": order.order_id,
        "instrument_key": order.instrument.key,
        "side": order.side.value,
        "quantity": order.quantity,
        "order_type": order.order_type.value,
        "limit_price": order.limit_price,
        "stop_price": order.stop_price,
        "trail_amount": order.trail_amount,
        "trail_percent": order.trail_percent,
        "time_in_force": order.time_in_force.value,
        "outside_rth": order.outside_rth,
        "parent_id": order.parent_id,
        "oca_group": order.oca_group,
        "account": order.account,
        "status": order.status.value,
        "filled_quantity": order.filled_quantity,
        "average_fill_price": order.average_fill_price,
        "created": (order.created.isoformat() if order.created else _now()),
        "updated": (order.updated.isoformat() if order.updated else _now()),
        "reason": order.reason[:500],
        "source": order.source[:64],
    }


class OrderRepository:
    """Orders by our client order id, so the blotter survives a restart."""

    def __init__(self, engine: Engine, instruments_repo: InstrumentRepository) -> None:
        self._engine = engine
        self._instruments = instruments_repo

    def save(self, order: Order) -> None:
        if not order.client_order_id:
            raise ValueError("order has no client_order_id; the order service assigns one before saving")
        self._instruments.id_for(order.instrument)
        row = _order_row(order)
        with self._engine.begin() as conn:
            exists = conn.execute(
                select(orders.c.client_order_id).where(orders.c.client_order_id == order.client_order_id)
            ).first()
            if exists:
                row.pop("created")
                conn.execute(update(orders).where(orders.c.client_order_id == order.client_order_id).values(**row))
            else:
                conn.execute(insert(orders).values(**row))

    def get(self, client_order_id: str) -> Order | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(orders).where(orders.c.client_order_id == client_order_id)).mappings().first()
        return self._order(row) if row else None

    def list(self, working_only: bool = False, limit: int = 1000) -> list[Order]:
        query = select(orders).order_by(orders.c.created.desc()).limit(limit)
        if working_only:
            done = [s.value for s in OrderStatus if s.is_done]
            query = query.where(orders.c.status.not_in(done))
        with self._engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [o for o in (self._order(r) for r in rows) if o is not None]

    def _order(self, row: Any) -> Order | None:
        instrument = self._instruments.get(row["instrument_key"])
        if instrument is None:
            return None
        return Order(
            instrument=instrument,
            side=OrderSide(row["side"]),
            quantity=row["quantity"],
            order_type=OrderType(row["order_type"]),
            limit_price=row["limit_price"],
            stop_price=row["stop_price"],
            trail_amount=row["trail_amount"],
            trail_percent=row["trail_percent"],
            time_in_force=TimeInForce(row["time_in_force"]),
            outside_rth=bool(row["outside_rth"]),
            parent_id=int(row["parent_id"]),
            oca_group=row["oca_group"],
            client_order_id=row["client_order_id"],
            order_id=int(row["order_id"]),
            account=row["account"],
            status=OrderStatus(row["status"]),
            filled_quantity=row["filled_quantity"],
            average_fill_price=row["average_fill_price"],
            created=_parse_time(row["created"]),
            updated=_parse_time(row["updated"]),
            reason=row["reason"],
            source=row["source"],
        )


class FillRepository:
    """Executions; saving the same execution id twice is a no-op (reconnects replay executions)."""

    def __init__(self, engine: Engine, instruments_repo: InstrumentRepository) -> None:
        self._engine = engine
        self._instruments = instruments_repo

    def save(self, fill: Fill) -> bool:
        """Store the fill; False if it was already stored."""
        self._instruments.id_for(fill.instrument)
        with self._engine.begin() as conn:
            if conn.execute(select(fills.c.execution_id).where(fills.c.execution_id == fill.execution_id)).first():
                return False
            conn.execute(
                insert(fills).values(
                    execution_id=fill.execution_id,
                    order_id=fill.order_id,
                    client_order_id=fill.client_order_id,
                    instrument_key=fill.instrument.key,
                    side=fill.side.value,
                    quantity=fill.quantity,
                    price=fill.price,
                    commission=fill.commission,
                    realized_pnl=fill.realized_pnl,
                    time=fill.time.isoformat(),
                    account=fill.account,
                )
            )
        return True

    def list(self, limit: int = 1000) -> list[Fill]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(fills).order_by(fills.c.time.desc()).limit(limit)).mappings().all()
        result = []
        for r in rows:
            instrument = self._instruments.get(r["instrument_key"])
            if instrument is None:
                continue
            result.append(
                Fill(
                    execution_id=r["execution_id"],
                    order_id=int(r["order_id"]),
                    instrument=instrument,
                    side=OrderSide(r["side"]),
                    quantity=r["quantity"],
                    price=r["price"],
                    time=datetime.fromisoformat(r["time"]),
                    commission=r["commission"],
                    account=r["account"],
                    client_order_id=r["client_order_id"],
                    realized_pnl=r["realized_pnl"],
                )
            )
        return result


class KeyValueRepository:
    """JSON values by key: workspace layout, drawings per symbol, alerts, ticket preferences."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def get(self, key: str, default: Any = None) -> Any:
        with self._engine.connect() as conn:
            value = conn.execute(select(key_values.c.value).where(key_values.c.key == key)).scalar()
        return default if value is None else json.loads(value)

    def set(self, key: str, value: Any) -> None:
        payload = json.dumps(value)
        with self._engine.begin() as conn:
            if conn.execute(select(key_values.c.key).where(key_values.c.key == key)).first():
                conn.execute(update(key_values).where(key_values.c.key == key).values(value=payload))
            else:
                conn.execute(insert(key_values).values(key=key, value=payload))
