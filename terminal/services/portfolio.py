"""Positions and account values as the broker reports them, with daily P&L for the risk checks."""

from __future__ import annotations

import math
from dataclasses import replace

from terminal.domain import Account, AccountValue, Instrument, Position, Quote
from terminal.services.signal import Signal


class PortfolioService:
    def __init__(self) -> None:
        self.positions: dict[str, Position] = {}
        self.account = Account(account="")
        self.values: dict[str, AccountValue] = {}
        self.position_changed: Signal[Position] = Signal("portfolio.position_changed")
        self.account_changed: Signal[Account] = Signal("portfolio.account_changed")

    def position_quantity(self, instrument: Instrument) -> float:
        position = self.positions.get(instrument.key)
        return position.quantity if position else 0.0

    def daily_pnl(self) -> float:
        return self.account.daily_pnl

    def on_position(self, position: Position) -> None:
        previous = self.positions.get(position.instrument.key)
        if previous is not None and not math.isfinite(position.market_price):
            position = replace(position, market_price=previous.market_price)
        self.positions[position.instrument.key] = position
        self.position_changed.emit(position)

    def on_quote(self, instrument: Instrument, quote: Quote) -> None:
        """Mark positions to the latest price between broker portfolio updates."""
        position = self.positions.get(instrument.key)
        price = quote.last if math.isfinite(quote.last) else quote.mid
        if position is None or not math.isfinite(price) or price == position.market_price:
            return
        updated = replace(position, market_price=price)
        self.positions[instrument.key] = updated
        self.position_changed.emit(updated)

    def on_account(self, account: Account) -> None:
        self.account = account
        self.account_changed.emit(account)

    def on_account_value(self, value: AccountValue) -> None:
        self.values[value.tag] = value
