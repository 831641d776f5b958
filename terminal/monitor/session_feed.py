"""Feeds the monitor from a running terminal's session: listens to its services, publishes at a fixed rate.

Runs on the session's loop (the Qt loop in the GUI). Service events only mark sections
dirty; a timer builds the dirty sections four times a second and hands them to the
``MonitorState`` in one call, so a tick flood costs the UI loop a few dict builds per
second, and JSON encoding happens on the monitor's own thread.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from terminal.domain import Fill
from terminal.monitor.rows import account_row, fill_row, order_row, position_row
from terminal.monitor.state import MonitorState, iso
from terminal.services.log import LogEntry, Severity
from terminal.services.session import ConnectionStatus, TradingSession
from terminal.services.signal import Signal
from terminal.services.trading_day import day_start

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.25
EQUITY_EVERY_SECONDS = 5.0  # one point of the intraday equity curve at most this often (~4,700 in 6.5 h)
RECENT_EVENTS = 50  # warnings and errors of the log shown with the alerts
RECENT_RUNS = 20
DESK_KEY = "monitor.terminal."  # + account: the terminal's latest state, for a desk monitor on a shared store


class SessionFeed:
    """Publishes a ``TradingSession``'s connection, account, positions, orders, fills, equity, alerts and runs."""

    def __init__(self, session: TradingSession, state: MonitorState | None,
                 loop: asyncio.AbstractEventLoop | None = None, store_every: float = 0.0,
                 flush_seconds: float = FLUSH_SECONDS) -> None:
        """``state`` None: publish only to the store; ``store_every`` > 0: write the desk snapshot this often;
        ``flush_seconds``: how often dirty sections are built (with no server to read them, as seldom as
        the snapshot is written)."""
        self.session = session
        self.state = state or MonitorState("terminal")
        self.store_every = store_every
        self.flush_seconds = flush_seconds
        self._realized_today: dict[str, float] = {}  # the day's realized P&L by ledger, summed as fills arrive
        self._last_stored = 0.0
        self._loop = loop or asyncio.get_event_loop_policy().get_event_loop()
        self._dirty: set[str] = set()
        self._new_fills: list[Fill] = []
        self._events: deque[dict[str, Any]] = deque(maxlen=RECENT_EVENTS)
        self._runs: list[dict[str, Any]] = []
        self._day: datetime | None = None
        self._last_equity = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._connected = False

    def start(self) -> None:
        if self._connected:
            return
        self._connected = True
        for signal, listener in self._listeners():
            signal.connect(listener)
        self._dirty.update(("connection", "account", "positions", "orders", "alerts"))
        self._restart_day(datetime.now(UTC))
        self._load_runs()
        self._schedule()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._connected:
            return
        self._connected = False
        for signal, listener in self._listeners():
            signal.disconnect(listener)

    def _listeners(self) -> list[tuple[Signal[Any], Callable[[Any], None]]]:
        session = self.session
        return [(session.status_changed, self._on_status),
                (session.portfolio.position_changed, self._mark_positions),
                (session.portfolio.account_changed, self._mark_account),
                (session.orders.order_changed, self._mark_orders),
                (session.orders.fill_added, self._on_fill),
                (session.alerts.changed, self._mark_alerts),
                (session.log.added, self._on_log),
                (session.backtests.run_recorded, self._on_run)]

    # --- events only mark ---------------------------------------------------------------------
    def _on_status(self, _status: ConnectionStatus) -> None:
        self._dirty.add("connection")

    def _mark_positions(self, _value: object) -> None:
        self._dirty.update(("positions", "account"))

    def _mark_account(self, _value: object) -> None:
        self._dirty.add("account")

    def _mark_orders(self, _value: object) -> None:
        self._dirty.add("orders")

    def _mark_alerts(self, _value: object) -> None:
        self._dirty.add("alerts")

    def _on_fill(self, fill: Fill) -> None:
        self._new_fills.append(fill)
        self._dirty.add("account")

    def _on_log(self, entry: LogEntry) -> None:
        if entry.severity >= Severity.WARNING:
            self._events.append({"time": iso(entry.time), "severity": entry.severity.name.lower(),
                                 "source": entry.source, "message": entry.message})
            self._dirty.add("alerts")

    def _on_run(self, _run_id: int) -> None:
        self._load_runs()

    def _load_runs(self) -> None:
        store = self.session.store

        async def load() -> None:
            try:
                runs = await asyncio.to_thread(store.backtest_runs.summaries, RECENT_RUNS)
            except Exception as exc:  # a store that is gone must not stop the monitor
                log.warning("monitor: recent backtest runs not read: %s", exc)
                return
            self._runs = [run_summary(r) for r in runs]
            self._dirty.add("runs")
        self._loop.create_task(load())

    # --- the timer builds -----------------------------------------------------------------------
    def _schedule(self) -> None:
        self._timer = self._loop.call_later(self.flush_seconds, self._flush)

    def _flush(self) -> None:
        try:
            self.flush()
        except Exception:  # the monitor must never take the terminal down
            log.exception("monitor: publishing the session's state failed")
        if self._connected:
            self._schedule()

    def flush(self) -> None:
        """Publish every dirty section now (the timer calls this; tests may too)."""
        now = datetime.now(UTC)
        portfolio = self.session.portfolio
        start = day_start(now, portfolio.trading_day.at, portfolio.trading_day.zone)
        if start != self._day:
            self._restart_day(now)
        if self._new_fills:
            fresh = [f for f in self._new_fills if _utc(f.time) >= start]
            self._new_fills.clear()
            for fill in fresh:
                self._realized_today[fill.ledger] = self._realized_today.get(fill.ledger, 0.0) + fill.realized_pnl
            self.state.append("fills", [fill_row(f) for f in fresh])
        values: dict[str, dict[str, Any]] = {}
        dirty, self._dirty = self._dirty, set()
        for name in dirty:
            values[name] = getattr(self, f"_build_{name}")()
        if values:
            self.state.publish_many(values)
        monotonic = time.monotonic()
        net = portfolio.account.net_liquidation
        if math.isfinite(net) and monotonic - self._last_equity >= EQUITY_EVERY_SECONDS:
            self._last_equity = monotonic
            self.state.append("equity", [{"time": iso(now), "net_liquidation": net,
                                          "daily_pnl": portfolio.daily_pnl()}])
        if self.store_every > 0 and monotonic - self._last_stored >= self.store_every:
            self._last_stored = monotonic
            self.store_snapshot(now)

    def store_snapshot(self, now: datetime) -> None:
        """The terminal's connection, account and marked positions into the store (``monitor.terminal.<account>``),
        where a desk's ``quant-terminal monitor`` reads every terminal's latest state."""
        account = self.session.portfolio.account.account or self.session.status.account
        if not account:
            return
        snapshot = {"as_of": iso(now), "connection": self.state.section("connection").value,
                    "account": self.state.section("account").value,
                    "positions": self.state.section("positions").value.get("positions", [])}
        self.session.records.save_value(DESK_KEY + account, snapshot)

    def _restart_day(self, now: datetime) -> None:
        portfolio = self.session.portfolio
        self._day = day_start(now, portfolio.trading_day.at, portfolio.trading_day.zone)
        today = [f for f in self.session.orders.fills if _utc(f.time) >= self._day]
        self._new_fills.clear()
        self._realized_today = realized_by_ledger(today)
        self.state.append("fills", [fill_row(f) for f in today], restart=True)
        self.state.append("equity", [], restart=True)
        self._last_equity = 0.0

    def _build_connection(self) -> dict[str, Any]:
        status = self.session.status
        return {"state": status.state, "endpoint": status.endpoint, "message": status.message,
                "account": status.account or self.session.portfolio.account.account,
                "broker": "simulator" if status.provenance.is_simulated else "IB",
                "provenance": status.provenance.value,
                "next_retry_seconds": status.next_retry_seconds}

    def _build_account(self) -> dict[str, Any]:
        portfolio = self.session.portfolio
        positions = list(portfolio.positions.values())
        unrealized = sum(p.unrealized_pnl for p in positions if math.isfinite(p.unrealized_pnl))
        realized = self._realized_today.get(portfolio.account.ledger, 0.0)  # this account's fills, no other's
        row = account_row(portfolio.account, portfolio.daily_pnl(), realized, unrealized)
        row["values"] = {tag: value.value for tag, value in portfolio.values.items()}
        return row

    def _build_positions(self) -> dict[str, Any]:
        held = [p for p in self.session.portfolio.positions.values() if p.quantity != 0]
        return {"positions": [position_row(p) for p in sorted(held, key=lambda p: p.instrument.display_name)]}

    def _build_orders(self) -> dict[str, Any]:
        working = sorted(self.session.orders.working(), key=lambda o: o.created or datetime.min.replace(tzinfo=UTC))
        return {"orders": [order_row(o) for o in working]}

    def _build_alerts(self) -> dict[str, Any]:
        alerts = [{"id": a.alert_id, "symbol": a.instrument.display_name, "price": a.price,
                   "direction": "above" if a.above else "below", "fired": a.fired, "description": a.describe()}
                  for a in self.session.alerts.alerts.values()]
        return {"alerts": alerts, "events": list(self._events)}

    def _build_runs(self) -> dict[str, Any]:
        return {"runs": list(self._runs)}


def realized_by_ledger(fills: Any) -> dict[str, float]:
    """Realized P&L of ``fills`` per ledger (``Fill.ledger``): a simulator fill never adds to a live account's."""
    totals: dict[str, float] = {}
    for fill in fills:
        totals[fill.ledger] = totals.get(fill.ledger, 0.0) + fill.realized_pnl
    return totals


def run_summary(run: Any) -> dict[str, Any]:
    """A saved backtest run for the monitor: who, what, when and its headline statistics."""
    stats = run.statistics or {}
    keep = ("total_return", "sharpe", "max_drawdown", "trades", "win_rate", "profit_factor")
    return {"id": run.id, "strategy": run.strategy_name, "version": run.strategy_version, "engine": run.engine,
            "symbols": list(run.symbols), "started": run.started, "finished": run.finished, "status": run.status,
            "statistics": {k: stats[k] for k in keep if k in stats}}


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
