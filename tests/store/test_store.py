"""The store behaves the same on SQLite and on a real MariaDB server."""

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from terminal.domain import (
    Bar,
    BarSize,
    Fill,
    Instrument,
    Order,
    OrderSide,
    OrderStatus,
    OrderType,
    SecType,
)
from terminal.store import CURRENT_VERSION, SchemaTooNew, Store

AAPL = Instrument("AAPL", primary_exchange="NASDAQ", contract_id=265598)
ES = Instrument("ES", SecType.FUTURE, "CME", tick_size=0.25, multiplier=50)


def _frame(n: int, start="2024-01-02 14:30", freq="min") -> pd.DataFrame:
    index = pd.date_range(start, periods=n, freq=freq, tz="UTC", name="time")
    close = 100 + np.cumsum(np.random.default_rng(1).normal(0, 0.1, n))
    return pd.DataFrame(
        {"open": close, "high": close + 0.2, "low": close - 0.2, "close": close, "volume": np.arange(n, dtype=float)},
        index=index,
    )


def test_bars_round_trip_exactly(store):
    frame = _frame(1000)
    assert store.bars.write_frame(AAPL, BarSize.MIN_1, frame) == 1000
    loaded = store.bars.load_frame(AAPL, BarSize.MIN_1)
    pd.testing.assert_frame_equal(loaded, frame, check_freq=False, check_index_type=False)
    assert str(loaded.index.tz) == "UTC"


def test_bar_upsert_replaces_rows_with_the_same_time(store):
    store.bars.write_frame(AAPL, BarSize.MIN_1, _frame(10))
    changed = _frame(10).iloc[5:] * 1.0
    changed["close"] = changed["low"]
    store.bars.write_frame(AAPL, BarSize.MIN_1, changed)
    loaded = store.bars.load_frame(AAPL, BarSize.MIN_1)
    assert len(loaded) == 10
    assert (loaded["close"].iloc[5:] == changed["low"]).all()


def test_bars_are_kept_apart_per_instrument_and_bar_size(store):
    store.bars.write_frame(AAPL, BarSize.MIN_1, _frame(30))
    store.bars.write_frame(AAPL, BarSize.DAY_1, _frame(5, freq="D"))
    store.bars.write_frame(ES, BarSize.MIN_1, _frame(7))
    assert store.bars.count(AAPL, BarSize.MIN_1) == 30
    assert store.bars.count(AAPL, BarSize.DAY_1) == 5
    assert store.bars.count(ES) == 7
    summary = {(k, s): n for k, s, n, *_ in store.bars.summary()}
    assert summary[(AAPL.key, BarSize.MIN_1)] == 30


def test_range_and_newest_limit_queries(store):
    store.bars.write_frame(AAPL, BarSize.MIN_1, _frame(100))
    start = datetime(2024, 1, 2, 14, 40, tzinfo=UTC)
    end = datetime(2024, 1, 2, 14, 49, tzinfo=UTC)
    assert len(store.bars.load_frame(AAPL, BarSize.MIN_1, start=start, end=end)) == 10
    newest = store.bars.load_frame(AAPL, BarSize.MIN_1, limit=3)
    assert list(newest.index.minute) == [7, 8, 9] and newest.index.is_monotonic_increasing


def test_a_span_query_returns_exactly_the_stored_bars_in_the_span(store):
    frame = _frame(20_000, start="2024-01-01 00:00")
    frame = frame.drop(frame.index[5000:9000])  # a hole, as over a weekend
    store.bars.write_frame(AAPL, BarSize.MIN_1, frame)
    store.bars.write_frame(AAPL, BarSize.MIN_5, _frame(50, start="2024-01-05"))  # other sizes stay out
    store.bars.write_frame(ES, BarSize.MIN_1, _frame(50, start="2024-01-05"))  # and other instruments
    for start, end in (("2024-01-03 10:17:30", None), ("2024-01-04 12:00", "2024-01-05 03:01"),
                       ("2024-01-04 12:00", "2024-01-04 13:00"), ("2023-12-31", "2024-01-01 00:09"),
                       ("2024-02-01", None)):
        start = pd.Timestamp(start, tz="UTC")
        end = None if end is None else pd.Timestamp(end, tz="UTC")
        loaded = store.bars.load_frame(AAPL, BarSize.MIN_1, start=start.to_pydatetime(),
                                       end=None if end is None else end.to_pydatetime())
        mask = (frame.index >= start) & ((frame.index <= end) if end is not None else True)
        pd.testing.assert_frame_equal(loaded, frame[mask], check_freq=False, check_index_type=False)
    newest = store.bars.load_frame(AAPL, BarSize.MIN_1, start=datetime(2024, 1, 4, tzinfo=UTC), limit=100)
    pd.testing.assert_frame_equal(newest, frame.iloc[-100:], check_freq=False, check_index_type=False)


def test_first_time_is_the_oldest_stored_bar_of_that_size(store):
    assert store.bars.first_time(AAPL, BarSize.MIN_1) is None
    store.bars.write_frame(AAPL, BarSize.MIN_1, _frame(30, start="2024-01-02 14:30"))
    store.bars.write_frame(AAPL, BarSize.DAY_1, _frame(5, start="2023-06-01", freq="D"))
    assert store.bars.first_time(AAPL, BarSize.MIN_1) == datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
    assert store.bars.first_time(AAPL, BarSize.DAY_1) == datetime(2023, 6, 1, tzinfo=UTC)


def test_domain_bars_round_trip(store):
    bars = [Bar(datetime(2024, 1, d, tzinfo=UTC), 10, 11, 9, 10.5, 1000, BarSize.DAY_1) for d in (2, 3, 4)]
    store.bars.write_bars(AAPL, bars)
    assert store.bars.load_bars(AAPL, BarSize.DAY_1) == bars


def test_instruments_keep_contract_details(store):
    store.instruments.save(ES)
    assert store.instruments.get(ES.key) == ES
    assert store.instruments.find_symbol("es") == [ES]


def test_watchlists_keep_order_and_names(store):
    store.watchlists.set_items("Tech", ["MSFT:STK:SMART:USD", AAPL.key, "NVDA:STK:SMART:USD"])
    store.watchlists.set_items("Futures", [ES.key])
    store.watchlists.set_items("Tech", [AAPL.key, "MSFT:STK:SMART:USD"])
    assert store.watchlists.names() == ["Tech", "Futures"]
    assert store.watchlists.items("Tech") == [AAPL.key, "MSFT:STK:SMART:USD"]
    store.watchlists.delete("Futures")
    assert store.watchlists.names() == ["Tech"]


def test_orders_and_fills_survive_reopening(store):
    order = Order(AAPL, OrderSide.BUY, 100, OrderType.LIMIT, limit_price=187.5, client_order_id="qt-1", order_id=7)
    store.orders.save(order)
    store.orders.save(order.with_status(OrderStatus.SUBMITTED))
    fill = Fill("0001.01", 7, AAPL, OrderSide.BUY, 100, 187.5, datetime(2024, 1, 2, 15, tzinfo=UTC), 0.5,
                client_order_id="qt-1")
    assert store.fills.save(fill) is True
    assert store.fills.save(fill) is False  # replayed execution after a reconnect
    reopened = Store.open(store.engine.url.render_as_string(hide_password=False))
    try:
        [saved] = reopened.orders.list()
        assert saved.status is OrderStatus.SUBMITTED and saved.limit_price == 187.5
        assert reopened.orders.list(working_only=True) == [saved]
        assert reopened.fills.list() == [fill]
    finally:
        reopened.close()


def test_strategy_versions_and_backtest_runs(store):
    v1 = store.strategies.save("sma", "class S: pass\n", {"fast": 10})
    same = store.strategies.save("sma", "class S: pass\n", {"fast": 10})
    v2 = store.strategies.save("sma", "class S:\n    x = 1\n", {"fast": 10})
    assert (v1.version, same.version, v2.version) == (1, 1, 2)
    assert store.strategies.versions("sma") == [1, 2]
    big = "x" * 200_000  # strategy sources and results exceed MySQL's 64 KiB TEXT
    run_id = store.backtest_runs.start("sma", 2, "backtrader", ["AAPL"], {"fast": 10})
    store.backtest_runs.finish(run_id, "done", {"sharpe": 1.2}, {"equity": big})
    run = store.backtest_runs.get(run_id)
    assert run.status == "done" and run.statistics == {"sharpe": 1.2} and len(run.result["equity"]) == 200_000


def test_key_values_hold_json(store):
    store.key_values.set("workspace", {"theme": "dark", "docks": [1, 2]})
    store.key_values.set("workspace", {"theme": "light"})
    assert store.key_values.get("workspace") == {"theme": "light"}
    assert store.key_values.get("missing", 5) == 5


def test_schema_version_is_recorded_and_a_newer_file_is_refused(sqlite_store):
    assert sqlite_store.schema_version == CURRENT_VERSION
    with sqlite_store.engine.begin() as conn:
        from terminal.store.schema import schema_version

        conn.execute(schema_version.insert().values(version=CURRENT_VERSION + 1, applied_at="future"))
    with pytest.raises(SchemaTooNew, match="newer than this release"):
        Store.open(sqlite_store.engine.url.render_as_string())


def test_sqlite_runs_in_wal_mode(sqlite_store):
    with sqlite_store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_orders_and_fills_keep_their_provenance(store):
    from terminal.domain import Provenance

    when = datetime(2024, 1, 2, 15, tzinfo=UTC)
    store.orders.save(Order(AAPL, OrderSide.BUY, 1, client_order_id="qt-sim", provenance=Provenance.SIMULATOR))
    store.orders.save(Order(AAPL, OrderSide.BUY, 1, client_order_id="qt-old"))  # a caller that passes none
    store.fills.save(Fill("sim.01", 1, AAPL, OrderSide.BUY, 1, 100.0, when, provenance=Provenance.SIMULATOR))
    store.fills.save(Fill("live.01", 2, AAPL, OrderSide.BUY, 1, 100.0, when, provenance=Provenance.LIVE))
    assert {o.client_order_id: o.provenance for o in store.orders.list()} == {
        "qt-sim": Provenance.SIMULATOR, "qt-old": Provenance.UNKNOWN}
    assert {f.execution_id: f.provenance for f in store.fills.list()} == {
        "sim.01": Provenance.SIMULATOR, "live.01": Provenance.LIVE}


def test_a_bar_series_knows_which_sources_wrote_which_span(store):
    from terminal.domain import Provenance

    csv_bars = _frame(100, start="2024-01-02 14:30")
    simulated = _frame(50, start="2024-01-03 14:30")
    store.bars.write_frame(AAPL, BarSize.MIN_1, csv_bars, Provenance.CSV)
    store.bars.write_frame(AAPL, BarSize.MIN_1, simulated, Provenance.SIMULATOR)
    store.bars.write_frame(AAPL, BarSize.DAY_1, _frame(5, freq="D"))  # no provenance given: unknown
    day2 = datetime(2024, 1, 2, 23, tzinfo=UTC)
    assert store.bars.provenance(AAPL, BarSize.MIN_1, end=day2) is Provenance.CSV
    assert store.bars.provenance(AAPL, BarSize.MIN_1, start=day2) is Provenance.SIMULATOR
    assert store.bars.sources(AAPL, BarSize.MIN_1) == {Provenance.CSV, Provenance.SIMULATOR}
    assert store.bars.provenance(AAPL, BarSize.MIN_1) is Provenance.SIMULATOR  # any synthetic bar taints the range
    assert store.bars.provenance(AAPL, BarSize.DAY_1) is Provenance.UNKNOWN
    store.bars.write_frame(AAPL, BarSize.MIN_1, simulated, Provenance.LIVE)  # real bars over the synthetic ones
    assert store.bars.sources(AAPL, BarSize.MIN_1, start=day2) == {Provenance.SIMULATOR, Provenance.LIVE}


def test_schema_v3_marks_what_was_stored_before_as_unknown_provenance(store):
    """A v2 database (no provenance anywhere) with bars, an order and a fill, upgraded when it is opened."""
    from sqlalchemy import text

    from terminal.domain import Provenance
    from terminal.store.schema import schema_version

    store.bars.write_frame(AAPL, BarSize.MIN_1, _frame(30), Provenance.CSV)
    store.orders.save(Order(AAPL, OrderSide.BUY, 1, client_order_id="qt-1", provenance=Provenance.SIMULATOR))
    store.fills.save(Fill("0001.01", 1, AAPL, OrderSide.BUY, 1, 100.0, datetime(2024, 1, 2, 15, tzinfo=UTC),
                          client_order_id="qt-1", provenance=Provenance.SIMULATOR))
    with store.engine.begin() as conn:  # back to what v2 left
        conn.execute(text("DROP TABLE bar_sources"))
        conn.execute(text("ALTER TABLE orders DROP COLUMN provenance"))
        conn.execute(text("ALTER TABLE fills DROP COLUMN provenance"))
        conn.execute(schema_version.delete().where(schema_version.c.version >= 3))
    url = store.engine.url.render_as_string(hide_password=False)
    store.close()
    upgraded = Store.open(url)
    try:
        assert upgraded.schema_version == CURRENT_VERSION == 6
        assert [o.provenance for o in upgraded.orders.list()] == [Provenance.UNKNOWN]
        assert [f.provenance for f in upgraded.fills.list()] == [Provenance.UNKNOWN]
        assert upgraded.bars.sources(AAPL, BarSize.MIN_1) == {Provenance.UNKNOWN}
        first = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
        assert upgraded.bars.sources(AAPL, BarSize.MIN_1, end=first) == {Provenance.UNKNOWN}
        assert upgraded.bars.sources(AAPL, BarSize.MIN_1, start=datetime(2024, 1, 2, 15, 0, tzinfo=UTC)) == set()
        upgraded.bars.write_frame(AAPL, BarSize.MIN_1, _frame(30), Provenance.CSV)
        assert upgraded.bars.sources(AAPL, BarSize.MIN_1) == {Provenance.UNKNOWN, Provenance.CSV}
    finally:
        upgraded.close()
