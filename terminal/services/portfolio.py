"""Positions and account values as the broker reports them, with the trading day's P&L for the loss limit."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from terminal.domain import Account, AccountValue, Instrument, Position, Quote
from terminal.services.signal import Signal
from terminal.services.trading_day import TradingDay


class PortfolioService:
    """Broker positions by instrument key, the account, and the daily P&L since the configured day start."""

    def __init__(self, trading_day: TradingDay | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.positions: dict[str, Position] = {}
        self.account = Account(account="")
        self.values: dict[str, AccountValue] = {}
        self.trading_day = trading_day or TradingDay()
        self._clock = clock
        self.position_changed: Signal[Position] = Signal("portfolio.position_changed")
        self.account_changed: Signal[Account] = Signal("portfolio.account_changed")
        self.day_started: Signal[TradingDay] = Signal("portfolio.day_started")

    def position_quantity(self, instrument: Instrument) -> float:
        position = self.positions.get(instrument.key)
        return position.quantity if position else 0.0

    def daily_pnl(self) -> float:
        """The current account's net liquidation now minus at the start of its trading day (NaN until known)."""
        return self.trading_day.pnl(self.account.net_liquidation, self._clock(), self.account.ledger)

    def forget_account(self) -> None:
        """Before trading somewhere else: the old account's figures must not stand for the new one's."""
        self.account = Account(account="")
        self.values.clear()
        self.account_changed.emit(self.account)

    def on_position(self, position: Position) -> None:
        previous = self.positions.get(position.instrument.key)
        if previous is not None and not math.isfinite(position.market_price):
            position = replace(position, market_price=previous.market_price)
        self.positions[position.instrument.key] = position
        self.position_changed.emit(position)

    def replace_positions(self, positions: list[Position]) -> None:
        """The broker's whole book (after a connect): instruments it no longer reports are flat."""
        reported = {p.instrument.key for p in positions}
        for key, old in list(self.positions.items()):
            if key not in reported and old.quantity != 0:
                self.on_position(replace(old, quantity=0.0, average_cost=0.0))
        for position in positions:
            self.on_position(position)

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
        if self.trading_day.on_equity(account.net_liquidation, self._clock(), account.ledger):
            self.day_started.emit(self.trading_day)
        self.account_changed.emit(account)

    def on_account_value(self, value: AccountValue) -> None:
        self.values[value.tag] = value
