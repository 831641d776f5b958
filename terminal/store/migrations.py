"""Schema versions of the store and the steps that upgrade an existing database file.

Why not Alembic: the store is embedded in a desktop app and created from
``schema.metadata``; an upgrade is an ordered list of small Python steps run at
open time in one transaction per step. Alembic's script directories, ini files
and autogenerate add moving parts without a use here. A step is a function
``(connection) -> None``; append new ones to ``MIGRATIONS`` and never edit old ones.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, inspect, select, text

from terminal.store.schema import (
    bar_sources,
    journal_snapshots,
    journal_trades,
    live_bars,
    live_runs,
    metadata,
    order_owners,
    position_book,
    schema_version,
)


class SchemaTooNew(RuntimeError):
    """The database was written by a newer release than this one."""


def _v1_initial(conn: Connection) -> None:
    metadata.create_all(conn)


def _add_column(conn: Connection, table: str, column: str, ddl: str) -> None:
    """ALTER TABLE … ADD COLUMN unless the column exists (a database created at v2 has it from v1's create_all)."""
    if column not in {c["name"] for c in inspect(conn).get_columns(table)}:
        conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {ddl}"))


def _v2_order_identity(conn: Connection) -> None:
    """IB permanent ids on orders and fills, the parent's client order id on bracket children,
    and the position book that reconciliation compares with the broker."""
    _add_column(conn, "orders", "perm_id", "BIGINT NOT NULL DEFAULT 0")
    _add_column(conn, "orders", "parent_ref", "VARCHAR(64) NOT NULL DEFAULT ''")
    _add_column(conn, "fills", "perm_id", "BIGINT NOT NULL DEFAULT 0")
    metadata.create_all(conn, tables=[position_book])


def _v3_provenance(conn: Connection) -> None:
    """Where orders, fills and bar series came from (live, paper, simulator, replay, csv, quandl): rows
    written before are 'unknown', as nothing stored says whether they came from the simulator (its
    account id looks like an IB paper account's)."""
    _add_column(conn, "orders", "provenance", "VARCHAR(16) NOT NULL DEFAULT 'unknown'")
    _add_column(conn, "fills", "provenance", "VARCHAR(16) NOT NULL DEFAULT 'unknown'")
    metadata.create_all(conn, tables=[bar_sources])
    conn.execute(text("INSERT INTO bar_sources (instrument_id, bar_size, provenance, first_time, last_time) "
                      "SELECT instrument_id, bar_size, 'unknown', MIN(time), MAX(time) FROM bars "
                      "GROUP BY instrument_id, bar_size"))


def _v4_order_owners(conn: Connection) -> None:
    """The desk hub's record of which trader and terminal sent each order command."""
    metadata.create_all(conn, tables=[order_owners])


def _v5_journal(conn: Connection) -> None:
    """The trade journal: round trips from fills and saved backtests, with tags and notes, and chart snapshots."""
    metadata.create_all(conn, tables=[journal_trades, journal_snapshots])


def _v6_live_runs(conn: Connection) -> None:
    """Strategies trading live: their runs and the bars each decided on."""
    metadata.create_all(conn, tables=[live_runs, live_bars])


MIGRATIONS: list[Callable[[Connection], None]] = [_v1_initial, _v2_order_identity, _v3_provenance, _v4_order_owners,
                                                  _v5_journal, _v6_live_runs]
CURRENT_VERSION = len(MIGRATIONS)


def current_version(engine: Engine) -> int:
    if not inspect(engine).has_table(schema_version.name):
        return 0
    with engine.connect() as conn:
        found = conn.execute(select(schema_version.c.version).order_by(schema_version.c.version.desc())).first()
    return int(found[0]) if found else 0


def migrate(engine: Engine) -> int:
    """Bring the database to CURRENT_VERSION; returns the number of steps applied."""
    version = current_version(engine)
    if version > CURRENT_VERSION:
        raise SchemaTooNew(
            f"database schema version {version} is newer than this release supports ({CURRENT_VERSION}); "
            "upgrade quant-terminal or point --db at another database"
        )
    applied = 0
    for number in range(version + 1, CURRENT_VERSION + 1):
        with engine.begin() as conn:
            MIGRATIONS[number - 1](conn)
            conn.execute(schema_version.insert().values(version=number, applied_at=datetime.now(UTC).isoformat()))
        applied += 1
    return applied
