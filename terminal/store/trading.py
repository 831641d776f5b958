"""The terminal's trading records: orders, fills and the position book, each fill written with what it causes.

A fill, the order status it moves and the position it changes are written in one
transaction (``TradingRecords.apply_fill``), and a fill whose execution id is already
stored changes nothing, so replays after a reconnect or a crash apply each fill once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from terminal.domain import (
    Fill,
    Instrument,
    Order,
    OrderSide,
    OrderStatus,
    OrderType,
    Provenance,
    TimeInForce,
)
from terminal.store.records import InstrumentRepository
from terminal.store.schema import fills, order_owners, orders, position_book


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _parse_time(text: str) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


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
        "perm_id": order.perm_id,
        "parent_ref": order.parent_ref,
        "provenance": order.provenance.value,
    }


def _upsert_order(conn: Connection, order: Order) -> None:
    if not order.client_order_id:
        raise ValueError("order has no client_order_id; the order service assigns one before saving")
    row = _order_row(order)
    exists = conn.execute(
        select(orders.c.client_order_id).where(orders.c.client_order_id == order.client_order_id)
    ).first()
    if exists:
        row.pop("created")
        conn.execute(update(orders).where(orders.c.client_order_id == order.client_order_id).values(**row))
    else:
        conn.execute(insert(orders).values(**row))


def _fill_row(fill: Fill) -> dict[str, Any]:
    return {
        "execution_id": fill.execution_id,
        "order_id": fill.order_id,
        "client_order_id": fill.client_order_id,
        "instrument_key": fill.instrument.key,
        "side": fill.side.value,
        "quantity": fill.quantity,
        "price": fill.price,
        "commission": fill.commission,
        "realized_pnl": fill.realized_pnl,
        "time": fill.time.isoformat(),
        "account": fill.account,
        "perm_id": fill.perm_id,
        "provenance": fill.provenance.value,
    }


def _insert_fill(conn: Connection, fill: Fill) -> bool:
    """Insert the fill unless its execution id is stored already (then False, nothing written)."""
    if conn.execute(select(fills.c.execution_id).where(fills.c.execution_id == fill.execution_id)).first():
        return False
    conn.execute(insert(fills).values(**_fill_row(fill)))
    return True


class OrderRepository:
    """Orders by our client order id, so the blotter survives a restart."""

    def __init__(self, engine: Engine, instruments_repo: InstrumentRepository) -> None:
        self._engine = engine
        self._instruments = instruments_repo

    def save(self, order: Order) -> None:
        """Insert or update; committed when this returns (the order service writes ahead of sending)."""
        self._instruments.id_for(order.instrument)
        with self._engine.begin() as conn:
            _upsert_order(conn, order)

    def get(self, client_order_id: str) -> Order | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(orders).where(orders.c.client_order_id == client_order_id)).mappings().first()
        if row is None:
            return None
        instrument = self._instruments.get(row["instrument_key"])
        return _order(row, instrument) if instrument else None

    def list(self, working_only: bool = False, limit: int = 1000) -> list[Order]:
        """Newest first; ``working_only`` lists every order not in a final state, however old."""
        query = select(orders).order_by(orders.c.created.desc())
        if working_only:
            done = [s.value for s in OrderStatus if s.is_done]
            query = query.where(orders.c.status.not_in(done))
        else:
            query = query.limit(limit)
        with self._engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        known = self._instruments.by_keys(r["instrument_key"] for r in rows)
        return [_order(r, known[r["instrument_key"]]) for r in rows if r["instrument_key"] in known]


def _order(row: Any, instrument: Instrument) -> Order:
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
        perm_id=int(row["perm_id"] or 0),
        parent_ref=row["parent_ref"] or "",
        provenance=Provenance.parse(row["provenance"]),
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
            return _insert_fill(conn, fill)

    def list(self, limit: int = 1000, client_order_id: str | None = None,
             since: datetime | None = None, ref_prefix: str | None = None) -> list[Fill]:
        """Newest first (all fills of one order when ``client_order_id`` is given, of every order whose id starts
        with ``ref_prefix`` when that is; none before ``since``)."""
        query = select(fills).order_by(fills.c.time.desc())
        if ref_prefix:
            query = query.where(fills.c.client_order_id.startswith(ref_prefix, autoescape=True))
        if since is not None:  # times are stored as ISO 8601 UTC text, which sorts as time does
            query = query.where(fills.c.time >= since.astimezone(UTC).isoformat())
        if client_order_id is not None:
            query = query.where(fills.c.client_order_id == client_order_id)
        elif not ref_prefix:
            query = query.limit(limit)
        with self._engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        known = self._instruments.by_keys(r["instrument_key"] for r in rows)
        result = []
        for r in rows:
            instrument = known.get(r["instrument_key"])
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
                    perm_id=int(r["perm_id"] or 0),
                    provenance=Provenance.parse(r["provenance"]),
                )
            )
        return result

    def execution_ids_since(self, since: datetime) -> set[str]:
        """Execution ids of fills at or after ``since``: what a broker may still replay."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(fills.c.execution_id).where(fills.c.time >= since.isoformat())).scalars()
            return set(rows)


class PositionBookRepository:
    """What our applied fills say each position is, per account and instrument key."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def all(self) -> dict[tuple[str, str], float]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(position_book)).mappings().all()
        return {(r["account"], r["instrument_key"]): float(r["quantity"]) for r in rows}

    def set(self, account: str, instrument_key: str, quantity: float) -> None:
        with self._engine.begin() as conn:
            _set_book(conn, account, instrument_key, quantity, relative=False)

    def replace_account(self, account: str, quantities: dict[str, float]) -> None:
        """Adopt ``quantities`` as the whole book of ``account`` (a new baseline)."""
        with self._engine.begin() as conn:
            conn.execute(position_book.delete().where(position_book.c.account == account))
            for key, quantity in quantities.items():
                conn.execute(insert(position_book).values(account=account, instrument_key=key, quantity=quantity,
                                                          updated=_now()))


class OrderOwnerRepository:
    """Who sent each order command to the desk hub: client order id -> (trader, terminal)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def record(self, client_order_ids: list[str], trader: str, terminal: str) -> None:
        with self._engine.begin() as conn:
            for key in client_order_ids:
                if conn.execute(select(order_owners.c.client_order_id)
                                .where(order_owners.c.client_order_id == key)).first() is None:
                    conn.execute(insert(order_owners).values(client_order_id=key, trader=trader[:64],
                                                             terminal=terminal[:64], received=_now()))

    def all(self) -> dict[str, tuple[str, str]]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(order_owners)).mappings().all()
        return {r["client_order_id"]: (r["trader"], r["terminal"]) for r in rows}


def _set_book(conn: Connection, account: str, key: str, quantity: float, relative: bool) -> None:
    where = (position_book.c.account == account) & (position_book.c.instrument_key == key)
    current = conn.execute(select(position_book.c.quantity).where(where)).scalar()
    if current is None:
        conn.execute(insert(position_book).values(account=account, instrument_key=key, quantity=quantity,
                                                  updated=_now()))
    else:
        value = float(current) + quantity if relative else quantity
        conn.execute(update(position_book).where(where).values(quantity=value, updated=_now()))


def attach_fills(conn: Connection, execution_ids: list[str], client_order_id: str) -> None:
    for execution_id in execution_ids:
        conn.execute(update(fills).where(fills.c.execution_id == execution_id).values(client_order_id=client_order_id))


class TradingRecords:
    """Writes that must land together: a fill with the order status and the position it causes."""

    def __init__(self, engine: Engine, instruments_repo: InstrumentRepository) -> None:
        self._engine = engine
        self._instruments = instruments_repo

    def apply_fill(self, fill: Fill, order: Order | None = None, book_account: str | None = None) -> bool:
        """One transaction: the fill, ``order`` as the fill leaves it, and ``book_account``'s position
        moved by the fill. False (and nothing written) if the execution id is already stored."""
        self._instruments.id_for(fill.instrument)
        if order is not None:
            self._instruments.id_for(order.instrument)
        with self._engine.begin() as conn:
            if not _insert_fill(conn, fill):
                return False
            if order is not None:
                _upsert_order(conn, order)
            if book_account is not None:
                _set_book(conn, book_account, fill.instrument.key, fill.signed_quantity, relative=True)
        return True

    def attach_fills(self, execution_ids: list[str], order: Order) -> None:
        """Fills that arrived before their order now belong to it: one transaction with the order they fill."""
        self._instruments.id_for(order.instrument)
        with self._engine.begin() as conn:
            attach_fills(conn, execution_ids, order.client_order_id)
            _upsert_order(conn, order)
