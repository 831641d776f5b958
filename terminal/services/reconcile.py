"""Reconciliation results and the position book: what our fills say each position is, against the broker's.

The book starts from the broker's positions the first time an account is seen (a baseline)
and from then on moves only with fills this terminal applies, each in the same store
transaction as the fill. At every connect it is compared with the broker's positions; a
difference (a fill we never got, a trade made elsewhere, a broker that lost state) is a
``PositionMismatch`` that blocks new orders in that instrument until the user acknowledges
it, which adopts the broker's quantity.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from terminal.domain import Fill, Instrument, Position

# A book row with this key only says "this account is tracked" (an account may hold nothing).
TRACKED = ""


@dataclass(frozen=True)
class PositionMismatch:
    account: str
    instrument: Instrument
    broker: float
    expected: float

    def describe(self) -> str:
        return (f"{self.instrument.display_name}: the broker reports {self.broker:+g}, "
                f"the fills this terminal applied imply {self.expected:+g}")


@dataclass(frozen=True)
class ReconcileReport:
    """What one reconciliation with the broker found and did."""

    open_orders: int = 0
    completed_orders: int = 0
    executions: int = 0
    new_fills: int = 0
    updated: tuple[str, ...] = ()  # client order ids whose state changed
    inactivated: tuple[str, ...] = ()  # working here, unknown at the broker
    mismatches: tuple[PositionMismatch, ...] = field(default=())

    def describe(self) -> str:
        parts = [f"{self.open_orders} open and {self.completed_orders} completed order(s) at the broker",
                 f"{self.new_fills} new of {self.executions} execution(s) applied"]
        if self.updated:
            parts.append(f"{len(self.updated)} order(s) updated")
        if self.inactivated:
            parts.append(f"{len(self.inactivated)} order(s) no longer at the broker: {', '.join(self.inactivated)}")
        if self.mismatches:
            parts.append("POSITION MISMATCH " + "; ".join(m.describe() for m in self.mismatches))
        return "reconciled: " + ", ".join(parts)


class PositionBook:
    """Expected quantity per (account, instrument key), for accounts with a baseline."""

    def __init__(self) -> None:
        self.expected: dict[tuple[str, str], float] = {}
        self.accounts: set[str] = set()
        self.mismatches: dict[str, PositionMismatch] = {}

    def load(self, rows: dict[tuple[str, str], float]) -> None:
        self.accounts = {account for account, _ in rows}
        self.expected = {k: q for k, q in rows.items() if k[1] != TRACKED}

    def tracks(self, account: str) -> bool:
        return account in self.accounts

    def quantity(self, account: str, instrument_key: str) -> float | None:
        """What the applied fills say the position is (None for an account without a baseline)."""
        return self.expected.get((account, instrument_key), 0.0) if account in self.accounts else None

    def on_fill(self, fill: Fill) -> str | None:
        """Move the book by ``fill``; returns the account if it is tracked (its row must be written)."""
        if fill.account not in self.accounts:
            return None
        key = (fill.account, fill.instrument.key)
        self.expected[key] = self.expected.get(key, 0.0) + fill.signed_quantity
        return fill.account

    def adopt(self, account: str, positions: list[Position]) -> dict[str, float]:
        """Start tracking ``account`` from the broker's positions; returns the rows to store."""
        self.accounts.add(account)
        quantities = {p.instrument.key: p.quantity for p in positions if p.account in (account, "")}
        for key, quantity in quantities.items():
            self.expected[(account, key)] = quantity
        return {TRACKED: 0.0, **quantities}

    def compare(self, account: str, positions: list[Position]) -> list[PositionMismatch]:
        """Differences between the broker's positions and the book for a tracked ``account``."""
        broker = {p.instrument.key: p for p in positions if p.account in (account, "")}
        instruments = {key: p.instrument for key, p in broker.items()}
        keys = set(broker) | {k for (a, k) in self.expected if a == account}
        found = []
        for key in sorted(keys):
            held = broker[key].quantity if key in broker else 0.0
            expected = self.expected.get((account, key), 0.0)
            if abs(held - expected) > 1e-9:
                instrument = instruments.get(key) or _instrument_from_key(key)
                found.append(PositionMismatch(account, instrument, held, expected))
        return found

    def forget(self, account: str) -> None:
        """Stop tracking ``account`` (its next reconciliation adopts what the broker holds as a new baseline)."""
        self.accounts.discard(account)
        self.expected = {k: q for k, q in self.expected.items() if k[0] != account}
        self.mismatches = {k: m for k, m in self.mismatches.items() if m.account != account}

    def acknowledge(self, instrument_key: str) -> PositionMismatch | None:
        """Adopt the broker's quantity for ``instrument_key``; returns the mismatch it resolved."""
        mismatch = self.mismatches.pop(instrument_key, None)
        if mismatch is not None:
            self.expected[(mismatch.account, instrument_key)] = mismatch.broker
        return mismatch


def _instrument_from_key(key: str) -> Instrument:
    from terminal.domain import SecType

    symbol, sec_type, exchange, currency = (key.split(":") + ["", "", "", ""])[:4]
    try:
        kind = SecType(sec_type)
    except ValueError:
        kind = SecType.STOCK
    return Instrument(symbol or "?", kind, exchange or "SMART", currency or "USD")
