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

from sqlalchemy import Connection, Engine, inspect, select

from terminal.store.schema import metadata, schema_version


class SchemaTooNew(RuntimeError):
    """The database was written by a newer release than this one."""


def _v1_initial(conn: Connection) -> None:
    metadata.create_all(conn)


MIGRATIONS: list[Callable[[Connection], None]] = [_v1_initial]
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
