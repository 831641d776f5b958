"""Local store: SQLite by default (WAL), MySQL/MariaDB by URL; one Store object owns the engine."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from terminal.store.bars import BarRepository, rows_to_frame
from terminal.store.migrations import CURRENT_VERSION, SchemaTooNew, current_version, migrate
from terminal.store.records import InstrumentRepository, KeyValueRepository, WatchlistRepository
from terminal.store.research import (
    BacktestRunRepository,
    StoredRun,
    StoredStrategy,
    StrategyRepository,
)
from terminal.store.trading import (
    FillRepository,
    OrderRepository,
    PositionBookRepository,
    TradingRecords,
)

__all__ = [
    "CURRENT_VERSION",
    "SchemaTooNew",
    "Store",
    "StoreError",
    "StoredRun",
    "StoredStrategy",
    "rows_to_frame",
]


class StoreError(RuntimeError):
    """The database cannot be opened or used; the message says which URL and why."""


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    # WAL lets the UI read while a history download writes; NORMAL sync is safe with WAL.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def create_store_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"database URL {url!r} is not valid; use sqlite:///PATH or mysql+pymysql://USER:PASS@HOST/DB") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if backend in ("mysql", "mariadb"):
        if parsed.drivername in ("mysql", "mariadb"):
            parsed = parsed.set(drivername=f"{backend}+pymysql")
        query = dict(parsed.query)
        query.setdefault("charset", "utf8mb4")
        return create_engine(parsed.set(query=query), pool_pre_ping=True, pool_recycle=3600)
    raise StoreError(f"database URL {url!r}: backend {backend!r} is not supported; use sqlite or mysql")


class Store:
    """The database and its repositories. Calls block: services run them off the event loop."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.instruments = InstrumentRepository(engine)
        self.bars = BarRepository(engine, self.instruments.id_for)
        self.watchlists = WatchlistRepository(engine)
        self.orders = OrderRepository(engine, self.instruments)
        self.fills = FillRepository(engine, self.instruments)
        self.position_book = PositionBookRepository(engine)
        self.trading = TradingRecords(engine, self.instruments)
        self.key_values = KeyValueRepository(engine)
        self.strategies = StrategyRepository(engine)
        self.backtest_runs = BacktestRunRepository(engine)

    @classmethod
    def open(cls, url: str) -> Store:
        """Open (creating or upgrading the schema) the database at ``url``."""
        engine = create_store_engine(url)
        try:
            migrate(engine)
        except OperationalError as exc:
            engine.dispose()
            safe = make_url(url).render_as_string(hide_password=True)
            raise StoreError(f"cannot open database {safe}: {exc.orig}") from exc
        return cls(engine)

    @property
    def schema_version(self) -> int:
        return current_version(self.engine)

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        self.engine.dispose()
