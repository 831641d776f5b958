"""What the monitor shows: a terminal's session on the simulator, and a desk's shared store (SQLite and MariaDB)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from terminal.domain import Fill, Instrument, Order, OrderSide, OrderStatus, OrderType
from terminal.monitor import MonitorState
from terminal.monitor.session_feed import DESK_KEY, SessionFeed
from terminal.monitor.store_feed import StoreFeed
from tests.support.trading import fill_order, wait


def _flushed(loop, feed: SessionFeed) -> None:
    async def flush() -> None:
        feed.flush()
    loop.run_until_complete(flush())


@pytest.fixture
def fed(loop, sims, sessions):
    """(session, state, feed): a session on the simulator and the monitor state its started feed publishes to."""
    session = sessions(sims().port)
    state = MonitorState("terminal")
    feed = SessionFeed(session, state, loop)
    feed.start()
    yield session, state, feed
    feed.stop()


def test_session_feed_shows_the_fill_the_position_and_the_working_order(loop, fed):
    session, state, _feed = fed
    aapl = loop.run_until_complete(session.market.qualify("AAPL"))
    filled = fill_order(loop, session, Order(aapl, OrderSide.BUY, 100))
    working = loop.run_until_complete(session.orders.place(
        Order(aapl, OrderSide.BUY, 10, OrderType.LIMIT, limit_price=round(filled.average_fill_price * 0.97, 2))))
    wait(loop, lambda: session.orders.orders[working.client_order_id].status is OrderStatus.SUBMITTED)
    wait(loop, lambda: any(p["quantity"] == 100 for p in state.section("positions").value["positions"]),
         what="the position in the monitor")
    wait(loop, lambda: state.section("orders").value["orders"], what="the working order in the monitor")
    position = state.section("positions").value["positions"][0]
    assert position["symbol"] == "AAPL" and position["average_cost"] == pytest.approx(filled.average_fill_price)
    assert position["account"] == "DU1234567"
    [order] = state.section("orders").value["orders"]
    assert (order["client_order_id"], order["side"], order["quantity"], order["status"]) == (
        working.client_order_id, "BUY", 10, "Submitted")
    [fill] = state.section("fills").value
    assert (fill["symbol"], fill["side"], fill["quantity"], fill["client_order_id"]) == (
        "AAPL", "BUY", 100, filled.client_order_id)
    connection = state.section("connection").value
    # reached by --ib HOST:PORT, and still the simulator: it says so, the port does not make it IB
    assert connection["state"] == "CONNECTED" and connection["broker"] == "simulator"
    assert connection["provenance"] == "simulator" and fill["provenance"] == order["provenance"] == "simulator"
    wait(loop, lambda: state.section("account").value.get("net_liquidation") is not None, what="account values")


def test_session_feed_lists_the_logs_warnings_but_not_its_info(loop, fed):
    session, state, feed = fed
    session.log.warning("risk", "daily loss at 80 % of the limit")
    session.log.info("session", "nothing to see")
    _flushed(loop, feed)
    events = state.section("alerts").value["events"]
    assert [e["message"] for e in events if e["source"] == "risk"] == ["daily loss at 80 % of the limit"]
    assert not any(e["message"] == "nothing to see" for e in events)


def test_a_desk_monitor_reads_a_terminals_state_from_the_shared_store(loop, sims, sessions):
    sim = sims()
    session = sessions(sim.port)
    feed = SessionFeed(session, None, loop, store_every=0.2)
    feed.start()
    aapl = loop.run_until_complete(session.market.qualify("AAPL"))
    filled = fill_order(loop, session, Order(aapl, OrderSide.BUY, 100))
    wait(loop, lambda: session.store.key_values.get(DESK_KEY + "DU1234567", {}).get("positions"),
         what="the terminal's snapshot in the store")
    desk = MonitorState("store")
    store_feed = StoreFeed(session.store, desk)
    store_feed.poll()
    [position] = desk.section("positions").value["positions"]
    assert (position["symbol"], position["quantity"], position["account"]) == ("AAPL", 100, "DU1234567")
    assert [f["client_order_id"] for f in desk.section("fills").value] == [filled.client_order_id]
    connection = desk.section("connection").value
    assert connection["broker"] == "store" and connection["terminals"][0]["state"] == "CONNECTED"
    assert desk.section("account").value["net_liquidation"] is not None
    feed.stop()
    # The terminal goes quiet: after a while the desk sees it as stale, never as live.
    later = datetime.now(UTC) + timedelta(minutes=5)
    store_feed.poll(now=later)
    assert desk.section("connection").value["state"] == "STALE"
    assert desk.section("positions").value["positions"] == []


def _fill(instrument: Instrument, execution_id: str, when: datetime, quantity: float = 10) -> Fill:
    return Fill(execution_id, 1, instrument, OrderSide.BUY, quantity, 101.5, when, commission=1.0,
                account="DU7654321", client_order_id=f"qt-{execution_id}")


def test_store_feed_shows_working_orders_and_only_todays_new_fills(store):
    aapl = Instrument("AAPL", contract_id=265598)
    store.instruments.save(aapl)
    now = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)  # 13:00 in New York: the day started at 09:30
    store.fills.save(_fill(aapl, "yesterday", now - timedelta(days=1)))
    store.fills.save(_fill(aapl, "morning", now - timedelta(hours=3)))
    store.orders.save(Order(aapl, OrderSide.SELL, 5, OrderType.LIMIT, limit_price=250.0, client_order_id="qt-w",
                            status=OrderStatus.SUBMITTED, created=now - timedelta(minutes=5)))
    store.orders.save(Order(aapl, OrderSide.BUY, 10, client_order_id="qt-done", status=OrderStatus.FILLED,
                            created=now - timedelta(hours=3)))
    state = MonitorState("store")
    feed = StoreFeed(store, state)
    feed.poll(now)
    assert [f["execution_id"] for f in state.section("fills").value] == ["morning"]
    assert [o["client_order_id"] for o in state.section("orders").value["orders"]] == ["qt-w"]
    version = state.versions()["fills"]
    feed.poll(now + timedelta(seconds=1))
    assert state.versions()["fills"] == version  # nothing new: nothing re-sent
    store.fills.save(_fill(aapl, "afternoon", now + timedelta(seconds=2)))
    feed.poll(now + timedelta(seconds=3))
    assert [f["execution_id"] for f in state.section("fills").value] == ["morning", "afternoon"]
    # the next trading day starts empty
    feed.poll(now + timedelta(days=1))
    assert state.section("fills").value == ()
    assert state.section("connection").value["message"] == "no terminal has published to this store yet"


def test_a_desk_monitor_adds_up_real_accounts_only_and_lists_the_simulators(sqlite_store):
    now = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)

    def snapshot(account: str, provenance: str, net: float) -> dict:
        return {"as_of": now.isoformat(), "connection": {"state": "CONNECTED"}, "positions": [],
                "account": {"account": account, "provenance": provenance, "net_liquidation": net,
                            "daily_pnl": -1_000.0}}

    sqlite_store.key_values.set(DESK_KEY + "U7654321", snapshot("U7654321", "live", 250_000.0))
    sqlite_store.key_values.set(DESK_KEY + "DU1234567", snapshot("DU1234567", "simulator", 1_000_000.0))
    state = MonitorState("store")
    StoreFeed(sqlite_store, state).poll(now)
    account = state.section("account").value
    assert account["net_liquidation"] == 250_000.0 and account["daily_pnl"] == -1_000.0  # no simulator money
    assert account["not_counted"] == ["DU1234567"] and len(account["accounts"]) == 2  # listed, not added
    assert state.section("equity").value[-1]["net_liquidation"] == 250_000.0
