"""Feeds a desk's standalone monitor from the shared store (MySQL/MariaDB, or SQLite on one machine).

Orders, fills and backtest runs are read from their tables, which every terminal of the
desk writes. Account values and marked positions are what each terminal last published
under ``monitor.terminal.<account>`` (every 5 s while it runs): a terminal that stopped
publishing shows as STALE with the time of its last word, never as live. The intraday
equity curve is the sum of the terminals' net liquidation, sampled by this monitor from
the time it starts (the terminals do not store their curves).
"""

from __future__ import annotations

import asyncio
import logging
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from terminal.domain import Provenance
from terminal.monitor.rows import fill_row, order_row
from terminal.monitor.session_feed import DESK_KEY, EQUITY_EVERY_SECONDS, RECENT_RUNS, run_summary
from terminal.monitor.state import MonitorState, iso
from terminal.services.trading_day import day_start, parse_reset
from terminal.store import Store

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
STALE_AFTER = timedelta(seconds=20)  # a terminal silent this long is shown as stale
FILL_LIMIT = 5000
SIMULATED = {p.value for p in Provenance if p.is_simulated}


class StoreFeed:
    """Polls the store off the loop and publishes what changed; ``run`` until cancelled."""

    def __init__(self, store: Store, state: MonitorState, reset_time: str = "09:30",
                 timezone: str = "America/New_York", poll_seconds: float = POLL_SECONDS) -> None:
        self.store = store
        self.state = state
        self.poll_seconds = poll_seconds
        self._reset = parse_reset(reset_time, timezone)
        self._published: dict[str, Any] = {}
        self._fill_ids: set[str] = set()
        self._day: datetime | None = None
        self._last_equity: datetime | None = None
        self._newest_fill: datetime | None = None
        self.polls = 0
        self.failures = 0

    async def run(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.poll)
            except Exception as exc:  # the store is briefly gone: say so, keep the last state, try again
                self.failures += 1
                if self.failures == 1 or self.failures % 30 == 0:
                    log.warning("monitor: the store could not be read (%d time(s)): %s", self.failures,
                                str(exc).splitlines()[0])
                self._publish("connection", {"state": "DISCONNECTED", "endpoint": self.store.url,
                                             "message": "the store cannot be read", "account": "",
                                             "broker": "store", "terminals": []})
            await asyncio.sleep(self.poll_seconds)

    def poll(self, now: datetime | None = None) -> None:
        """Read the store once and publish every section that changed (a thread may call this)."""
        now = now or datetime.now(UTC)
        self.polls += 1
        start = day_start(now, *self._reset)
        terminals = self.store.key_values.with_prefix(DESK_KEY)
        self._publish_terminals(terminals, now)
        self._publish("orders", {"orders": [order_row(o) for o in
                                            reversed(self.store.orders.list(working_only=True))]})
        self._publish_fills(start)
        if self.polls % 10 == 1:
            self._publish("runs", {"runs": [run_summary(r) for r in self.store.backtest_runs.summaries(RECENT_RUNS)]})

    def _publish(self, name: str, value: dict[str, Any]) -> None:
        if self._published.get(name) != value:
            self._published[name] = value
            self.state.publish(name, value)

    def _publish_terminals(self, terminals: dict[str, Any], now: datetime) -> None:
        rows: list[dict[str, Any]] = []
        positions: list[dict[str, Any]] = []
        accounts: list[dict[str, Any]] = []
        for key, snapshot in sorted(terminals.items()):
            account = key.removeprefix(DESK_KEY)
            as_of = _parse(snapshot.get("as_of"))
            fresh = as_of is not None and now - as_of <= STALE_AFTER
            state = (snapshot.get("connection") or {}).get("state", "UNKNOWN") if fresh else "STALE"
            rows.append({"account": account, "state": state, "as_of": iso(as_of)})
            if fresh:
                positions += snapshot.get("positions") or []
                accounts.append(snapshot.get("account") or {})
        live = [r for r in rows if r["state"] == "CONNECTED"]
        state = "CONNECTED" if live else ("STALE" if rows else "UNKNOWN")
        message = (f"{len(live)} of {len(rows)} terminal(s) publishing" if rows else
                   "no terminal has published to this store yet")
        self._publish("connection", {"state": state, "endpoint": self.store.url, "message": message,
                                     "account": rows[0]["account"] if len(rows) == 1 else "",
                                     "broker": "store", "terminals": rows})
        self._publish("positions", {"positions": positions})
        self._publish("account", _desk_account(accounts))
        accounts = _counted(accounts)
        total = sum(a.get("net_liquidation") or 0.0 for a in accounts)
        if accounts and math.isfinite(total) and (
                self._last_equity is None or now - self._last_equity >= timedelta(seconds=EQUITY_EVERY_SECONDS)):
            self._last_equity = now
            daily = [a.get("daily_pnl") for a in accounts]
            self.state.append("equity", [{"time": iso(now), "net_liquidation": total,
                                          "daily_pnl": sum(d for d in daily if d is not None)
                                          if any(d is not None for d in daily) else None}])

    def _publish_fills(self, start: datetime) -> None:
        if start != self._day:
            self._day = start
            self._fill_ids.clear()
            self._newest_fill = None
            self.state.append("fills", [], restart=True)
        since = max(start, self._newest_fill or start)  # only what is new since the last poll (same second too)
        fills = [f for f in self.store.fills.list(limit=FILL_LIMIT, since=since)
                 if _utc(f.time) >= start and f.execution_id not in self._fill_ids]
        self._fill_ids.update(f.execution_id for f in fills)
        if fills:
            self._newest_fill = max(_utc(f.time) for f in fills)
        self.state.append("fills", [fill_row(f) for f in sorted(fills, key=lambda f: f.time)])


def _counted(accounts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The accounts whose money the desk's totals add up: real ones only when there are any (a terminal on
    the simulator is listed, never added to live money); all of them on a desk that only simulates."""
    real = [a for a in accounts if a.get("provenance") not in SIMULATED]
    return real or accounts


def _desk_account(accounts: list[dict[str, Any]]) -> dict[str, Any]:
    if len(accounts) == 1:
        return accounts[0]
    if not accounts:
        return {}
    counted = _counted(accounts)
    summed = {name: sum(a.get(name) or 0.0 for a in counted)
              for name in ("net_liquidation", "total_cash", "buying_power", "daily_pnl", "realized_pnl",
                           "unrealized_pnl")}
    return {"account": f"{len(counted)} accounts", **summed, "accounts": accounts,
            "not_counted": [a.get("account", "") for a in accounts if a not in counted]}


def _parse(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return _utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return None


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)

