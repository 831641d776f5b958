"""Local store: SQLite by default (WAL), MySQL/MariaDB by URL; one Store object owns the engine."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DatabaseError

from terminal.store.bars import BarRepository, rows_to_frame
from terminal.store.journal import JournalRepository
from terminal.store.live_runs import RUN_ID_PREFIX, LiveRunRecord, LiveRunRepository, run_id_of
from terminal.store.migrations import CURRENT_VERSION, SchemaTooNew, current_version, migrate
from terminal.store.netfs import network_filesystem
from terminal.store.records import InstrumentRepository, KeyValueRepository, WatchlistRepository
from terminal.store.research import (
    BacktestRunRepository,
    StoredRun,
    StoredStrategy,
    StrategyRepository,
)
from terminal.store.trading import (
    FillRepository,
    OrderOwnerRepository,
    OrderRepository,
    PositionBookRepository,
    TradingRecords,
)

__all__ = [
    "CURRENT_VERSION",
    "RUN_ID_PREFIX",
    "LiveRunRecord",
    "SchemaTooNew",
    "Store",
    "StoreError",
    "StoredRun",
    "StoredStrategy",
    "rows_to_frame",
    "run_id_of",
    "safe_url",
]

# scheme://user:password@ — the same split as SQLAlchemy's make_url, for URLs it cannot parse
_PASSWORD_IN_URL = re.compile(r"^(?P<head>[^:/]+://[^:/@]*:)[^@]*@")


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


def safe_url(url: str) -> str:
    """``url`` with its password shown as ***, whether or not the URL is valid."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return _PASSWORD_IN_URL.sub(r"\g<head>***@", url)


def _sqlite_file(url: str, database: str) -> None:
    """Check the file of an SQLite URL before SQLite sees it, so that the message can say what is wrong."""
    path = Path(database).expanduser()
    kind = network_filesystem(path)
    if kind is not None:
        raise StoreError(f"cannot open database {url}: {path} is on a network filesystem ({kind}), where SQLite's "
                         "locks do not hold and a second writer corrupts it; keep the SQLite file on a local disk, "
                         "or share a MySQL/MariaDB database (--db mysql+pymysql://…)")
    if path.is_dir():
        raise StoreError(f"cannot open database {url}: {path} is a folder; give the path of a database file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot open database {url}: cannot create the folder {path.parent} "
                         f"({exc.strerror}); give a path in a writable folder") from exc


def _engine(url: str, parsed: URL, **options: Any) -> Engine:
    try:
        return create_engine(parsed, **options)
    except ArgumentError as exc:  # NoSuchModuleError: an unknown driver such as mysql+nodriver
        raise StoreError(f"database URL {safe_url(url)!r}: driver {parsed.drivername!r} is not available; "
                         "use sqlite:///PATH or mysql+pymysql://USER:PASS@HOST/DB") from exc
    except ImportError as exc:  # a known driver whose package is not installed
        raise StoreError(f"database URL {safe_url(url)!r}: {exc}; install the driver or use sqlite:///PATH") from exc


def create_store_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:  # a non-numeric port is a ValueError
        raise StoreError(f"database URL {safe_url(url)!r} is not valid; "
                         "use sqlite:///PATH or mysql+pymysql://USER:PASS@HOST/DB") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and parsed.query.get("uri") != "true":  # a file: URI is SQLite's
            _sqlite_file(safe_url(url), database)
        engine = _engine(url, parsed, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if backend in ("mysql", "mariadb"):
        if parsed.drivername in ("mysql", "mariadb"):
            parsed = parsed.set(drivername=f"{backend}+pymysql")
        query = dict(parsed.query)
        query.setdefault("charset", "utf8mb4")
        return _engine(url, parsed.set(query=query), pool_pre_ping=True, pool_recycle=3600)
    raise StoreError(f"database URL {safe_url(url)!r}: backend {backend!r} is not supported; use sqlite or mysql")


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
        self.order_owners = OrderOwnerRepository(engine)
        self.trading = TradingRecords(engine, self.instruments)
        self.key_values = KeyValueRepository(engine)
        self.strategies = StrategyRepository(engine)
        self.backtest_runs = BacktestRunRepository(engine)
        self.journal = JournalRepository(engine)
        self.live_runs = LiveRunRepository(engine)

    @classmethod
    def open(cls, url: str) -> Store:
        """Open (creating or upgrading the schema) the database at ``url``."""
        engine = create_store_engine(url)
        try:
            migrate(engine)
        except DatabaseError as exc:  # OperationalError, or "file is not a database"
            engine.dispose()
            hint = "; give a new file name or an SQLite database" if "not a database" in str(exc.orig) else ""
            raise StoreError(f"cannot open database {safe_url(url)}: {exc.orig}{hint}") from exc
        except SchemaTooNew:
            engine.dispose()
            raise
        return cls(engine)

    @property
    def schema_version(self) -> int:
        return current_version(self.engine)

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        self.engine.dispose()
