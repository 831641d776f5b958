"""Simulator accounts: cash, average cost, realized P&L and net liquidation follow the fills."""

from __future__ import annotations

from datetime import UTC, datetime

from terminal.domain import Fill, Instrument, OrderSide
from terminal.sim.matching import Accounts

AAPL = Instrument("AAPL", contract_id=265598)
T0 = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)


def fill(side: OrderSide, quantity: float, price: float, commission: float = 1.0) -> Fill:
    return Fill("e", 1, AAPL, side, quantity, price, T0, commission=commission, account="DU1234567")


def test_stock_round_trip_moves_cash_and_realizes_pnl() -> None:
    accounts = Accounts(starting_cash=100_000.0)
    accounts.apply(fill(OrderSide.BUY, 100, 50.0))
    assert accounts.cash["DU1234567"] == 100_000.0 - 5_000.0 - 1.0
    closed = accounts.apply(fill(OrderSide.SELL, 100, 55.0))
    assert closed.realized_pnl == 500.0
    assert accounts.cash["DU1234567"] == 100_000.0 + 500.0 - 2.0


def test_net_liquidation_is_cash_plus_marked_stock_value() -> None:
    accounts = Accounts(starting_cash=100_000.0)
    accounts.apply(fill(OrderSide.BUY, 100, 50.0))
    accounts.mark(AAPL.contract_id, 60.0)
    assert accounts.net_liquidation("DU1234567") == 100_000.0 - 5_001.0 + 6_000.0
