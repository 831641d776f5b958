"""SQLAlchemy table definitions of the local store (SQLite by default, MySQL/MariaDB by URL)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.mysql import LONGBLOB, LONGTEXT

metadata = MetaData()

# Long text: MySQL's TEXT stops at 64 KiB, too small for strategy sources and equity curves.
LongText = Text().with_variant(LONGTEXT(), "mysql", "mariadb")
LongBlob = LargeBinary().with_variant(LONGBLOB(), "mysql", "mariadb")

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("applied_at", String(32), nullable=False),
)

instruments = Table(
    "instruments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(96), nullable=False, unique=True),
    Column("symbol", String(32), nullable=False),
    Column("sec_type", String(8), nullable=False),
    Column("exchange", String(32), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("tick_size", Double, nullable=False),
    Column("multiplier", Double, nullable=False),
    Column("lot_size", Double, nullable=False, default=1.0),
    Column("contract_id", BigInteger, nullable=False, default=0),
    Column("primary_exchange", String(32), nullable=False, default=""),
    Column("local_symbol", String(32), nullable=False, default=""),
    Column("last_trade_date", String(16), nullable=False, default=""),
    Column("description", String(200), nullable=False, default=""),
)

# Bars: integer epoch seconds and a small bar-size code keep rows narrow and the
# composite primary key makes upserts and range scans one index walk.
bars = Table(
    "bars",
    metadata,
    Column("instrument_id", Integer, ForeignKey("instruments.id"), nullable=False),
    Column("bar_size", Integer, nullable=False),  # BarSize.seconds
    Column("time", BigInteger, nullable=False),
    Column("open", Double, nullable=False),
    Column("high", Double, nullable=False),
    Column("low", Double, nullable=False),
    Column("close", Double, nullable=False),
    Column("volume", Double, nullable=False),
    PrimaryKeyConstraint("instrument_id", "bar_size", "time", name="pk_bars"),
    sqlite_with_rowid=False,
)

# Where a bar series came from (schema v3): per instrument, bar size and provenance (Provenance.value), the
# span of bar times written from that source. A series holds one row per source it ever received; a
# row is never narrowed when another source overwrites some of its bars, so a range that once held
# simulator bars stays marked as such (a false "synthetic" warning is safe, a missed one is not).
bar_sources = Table(
    "bar_sources",
    metadata,
    Column("instrument_id", Integer, ForeignKey("instruments.id"), nullable=False),
    Column("bar_size", Integer, nullable=False),
    Column("provenance", String(16), nullable=False),
    Column("first_time", BigInteger, nullable=False),
    Column("last_time", BigInteger, nullable=False),
    PrimaryKeyConstraint("instrument_id", "bar_size", "provenance", name="pk_bar_sources"),
)

watchlists = Table(
    "watchlists",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("position", Integer, nullable=False, default=0),
)

watchlist_items = Table(
    "watchlist_items",
    metadata,
    Column("watchlist_id", Integer, ForeignKey("watchlists.id", ondelete="CASCADE"), nullable=False),
    Column("instrument_key", String(96), nullable=False),
    Column("position", Integer, nullable=False),
    PrimaryKeyConstraint("watchlist_id", "instrument_key", name="pk_watchlist_items"),
)

orders = Table(
    "orders",
    metadata,
    Column("client_order_id", String(64), primary_key=True),
    Column("order_id", BigInteger, nullable=False, default=0),
    Column("instrument_key", String(96), nullable=False),
    Column("side", String(4), nullable=False),
    Column("quantity", Double, nullable=False),
    Column("order_type", String(8), nullable=False),
    Column("limit_price", Double),
    Column("stop_price", Double),
    Column("trail_amount", Double),
    Column("trail_percent", Double),
    Column("time_in_force", String(4), nullable=False),
    Column("outside_rth", Boolean, nullable=False, default=False),
    Column("parent_id", BigInteger, nullable=False, default=0),
    Column("oca_group", String(64), nullable=False, default=""),
    Column("account", String(32), nullable=False, default=""),
    Column("status", String(16), nullable=False),
    Column("filled_quantity", Double, nullable=False, default=0.0),
    Column("average_fill_price", Double, nullable=False, default=0.0),
    Column("created", String(32), nullable=False),
    Column("updated", String(32), nullable=False),
    Column("reason", String(500), nullable=False, default=""),
    Column("source", String(64), nullable=False, default="manual"),
    Column("perm_id", BigInteger, nullable=False, default=0),  # schema v2
    Column("parent_ref", String(64), nullable=False, default=""),  # schema v2
    Column("provenance", String(16), nullable=False, default="unknown"),  # schema v3: Provenance.value
    Index("ix_orders_status", "status"),
)

fills = Table(
    "fills",
    metadata,
    Column("execution_id", String(64), primary_key=True),
    Column("order_id", BigInteger, nullable=False),
    Column("client_order_id", String(64), nullable=False, default=""),
    Column("instrument_key", String(96), nullable=False),
    Column("side", String(4), nullable=False),
    Column("quantity", Double, nullable=False),
    Column("price", Double, nullable=False),
    Column("commission", Double, nullable=False, default=0.0),
    Column("realized_pnl", Double, nullable=False, default=0.0),
    Column("time", String(32), nullable=False),
    Column("account", String(32), nullable=False, default=""),
    Column("perm_id", BigInteger, nullable=False, default=0),  # schema v2
    Column("provenance", String(16), nullable=False, default="unknown"),  # schema v3: Provenance.value
    Index("ix_fills_time", "time"),
)

# What our applied fills say each position should be (schema v2), compared with the broker's
# positions at every connect; written in the same transaction as the fill that moves it.
position_book = Table(
    "position_book",
    metadata,
    Column("account", String(32), nullable=False),
    Column("instrument_key", String(96), nullable=False),
    Column("quantity", Double, nullable=False),
    Column("updated", String(32), nullable=False),
    PrimaryKeyConstraint("account", "instrument_key", name="pk_position_book"),
)

strategies = Table(
    "strategies",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False),
    Column("version", Integer, nullable=False),
    Column("source", LongText, nullable=False),
    Column("params", Text, nullable=False),  # JSON
    Column("created", String(32), nullable=False),
    UniqueConstraint("name", "version", name="uq_strategy_version"),
)

backtest_runs = Table(
    "backtest_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("strategy_name", String(100), nullable=False),
    Column("strategy_version", Integer, nullable=False, default=0),
    Column("engine", String(32), nullable=False),
    Column("symbols", String(500), nullable=False),
    Column("params", Text, nullable=False),  # JSON
    Column("started", String(32), nullable=False),
    Column("finished", String(32), nullable=False, default=""),
    Column("status", String(16), nullable=False),
    Column("statistics", Text, nullable=False, default="{}"),  # JSON
    Column("result", LongText, nullable=False, default="{}"),  # JSON: equity, trades, settings
    Column("error", Text, nullable=False, default=""),
)

# Small per-user state: workspace layout, chart drawings per symbol, alerts.
# The desk hub's journal of who sent each order command (trader, terminal): whom its updates go to and who
# may cancel it, after a restart of the hub too.
order_owners = Table(
    "order_owners",
    metadata,
    Column("client_order_id", String(64), primary_key=True),
    Column("trader", String(64), nullable=False),
    Column("terminal", String(64), nullable=False),
    Column("received", String(32), nullable=False),
)

key_values = Table(
    "key_values",
    metadata,
    Column("key", String(190), primary_key=True),
    Column("value", LongText, nullable=False),
)

# The trade journal (schema v5): round trips from every source (live, paper, sim, replay fills; saved backtest
# runs), with the trader's tags and notes; shared by a desk on MySQL.
journal_trades = Table(
    "journal_trades",
    metadata,
    Column("trade_key", String(160), primary_key=True),
    Column("source", String(16), nullable=False),
    Column("account", String(32), nullable=False, default=""),
    Column("symbol", String(32), nullable=False),
    Column("instrument_key", String(96), nullable=False, default=""),
    Column("side", String(5), nullable=False),
    Column("quantity", Double, nullable=False),
    Column("entry_time", String(32), nullable=False),
    Column("exit_time", String(32), nullable=False),
    Column("entry_price", Double, nullable=False),
    Column("exit_price", Double, nullable=False),
    Column("pnl", Double, nullable=False),
    Column("commission", Double, nullable=False, default=0.0),
    Column("entry_order", String(64), nullable=False, default=""),
    Column("stop_price", Double),
    Column("r_multiple", Double),
    Column("mae", Double),
    Column("mfe", Double),
    Column("run_id", Integer),
    Column("strategy", String(100), nullable=False, default=""),
    Column("tags", Text, nullable=False, default="[]"),  # JSON list
    Column("notes", Text, nullable=False, default=""),
    Index("ix_journal_exit", "exit_time"),
    Index("ix_journal_run", "run_id"),
)

# The chart as the trader saw it when a fill came in (schema v5): a round trip's entry and exit snapshots are
# those of its two executions. PNG bytes, in the store so that a desk on MySQL shares them.
journal_snapshots = Table(
    "journal_snapshots",
    metadata,
    Column("execution_id", String(64), primary_key=True),
    Column("taken", String(32), nullable=False),
    Column("png", LongBlob, nullable=False),
)

# Strategies trading live (schema v6): each run's settings and state, and every bar it decided on (warm-up
# included) with the position it held then, so a run resumes after a restart and is re-run as a backtest
# over exactly the bars it saw.
live_runs = Table(
    "live_runs",
    metadata,
    Column("run_id", String(40), primary_key=True),
    Column("strategy", String(100), nullable=False),
    Column("source", LongText, nullable=False),
    Column("params", Text, nullable=False),  # JSON
    Column("symbol", String(32), nullable=False),
    Column("instrument_key", String(96), nullable=False, default=""),
    Column("bar_size", String(16), nullable=False),
    Column("units", Double, nullable=False, default=0.0),
    Column("capital", Double, nullable=False),
    Column("status", String(16), nullable=False),  # running | stopped | failed | interrupted
    Column("message", Text, nullable=False, default=""),
    Column("started", String(32), nullable=False),
    Column("stopped", String(32), nullable=False, default=""),
    Column("account", String(32), nullable=False, default=""),
)

live_bars = Table(
    "live_bars",
    metadata,
    Column("run_id", String(40), nullable=False),
    Column("time", BigInteger, nullable=False),  # ns since the epoch, UTC: the bar's start
    Column("open", Double, nullable=False),
    Column("high", Double, nullable=False),
    Column("low", Double, nullable=False),
    Column("close", Double, nullable=False),
    Column("volume", Double, nullable=False),
    Column("position", Double, nullable=False, default=0.0),  # the strategy's position when it decided
    Column("warmup", Boolean, nullable=False, default=False),
    PrimaryKeyConstraint("run_id", "time", name="pk_live_bars"),
)
