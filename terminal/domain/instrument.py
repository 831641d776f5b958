"""Tradable instruments and the tick/lot arithmetic that validates prices against them."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from terminal.domain.errors import InvalidInstrument, ValidationError


class SecType(StrEnum):
    """IB security types the terminal trades."""

    STOCK = "STK"
    FUTURE = "FUT"
    FOREX = "CASH"
    INDEX = "IND"


@dataclass(frozen=True, slots=True)
class Instrument:
    """A contract as IB describes it; ``contract_id`` is IB's conId (0 until qualified)."""

    symbol: str
    sec_type: SecType = SecType.STOCK
    exchange: str = "SMART"
    currency: str = "USD"
    tick_size: float = 0.01
    multiplier: float = 1.0
    contract_id: int = 0
    primary_exchange: str = ""
    local_symbol: str = ""
    description: str = ""
    lot_size: float = 1.0
    last_trade_date: str = ""  # futures expiry, YYYYMMDD

    def __post_init__(self) -> None:
        if not self.symbol or not self.symbol.strip():
            raise InvalidInstrument("symbol is empty; give a ticker such as 'AAPL'")
        if self.symbol != self.symbol.strip().upper():
            object.__setattr__(self, "symbol", self.symbol.strip().upper())
        if not (self.tick_size > 0 and math.isfinite(self.tick_size)):
            raise InvalidInstrument(f"tick_size {self.tick_size!r} of {self.symbol} must be > 0")
        if not (self.multiplier > 0 and math.isfinite(self.multiplier)):
            raise InvalidInstrument(f"multiplier {self.multiplier!r} of {self.symbol} must be > 0")
        if not (self.lot_size > 0):
            raise InvalidInstrument(f"lot_size {self.lot_size!r} of {self.symbol} must be > 0")
        if len(self.currency) != 3:
            raise InvalidInstrument(f"currency {self.currency!r} of {self.symbol} must be a 3-letter code")

    @property
    def key(self) -> str:
        """Stable text key used by the store and the UI (e.g. ``AAPL:STK:SMART:USD``)."""
        return f"{self.symbol}:{self.sec_type.value}:{self.exchange}:{self.currency}"

    @property
    def display_name(self) -> str:
        if self.sec_type is SecType.FOREX:
            return f"{self.symbol}.{self.currency}"
        return self.local_symbol or self.symbol

    def price_decimals(self) -> int:
        """Number of decimals needed to show a price on this instrument's tick grid."""
        return _decimals(self.tick_size)

    def round_to_tick(self, price: float) -> float:
        """Nearest price on the tick grid (used to snap prices, never to silently fix orders)."""
        if not math.isfinite(price):
            raise ValidationError(f"price {price!r} is not a finite number")
        ticks = round(price / self.tick_size)
        return round(ticks * self.tick_size, self.price_decimals())

    def is_on_tick(self, price: float) -> bool:
        if not math.isfinite(price):
            return False
        ticks = price / self.tick_size
        return abs(ticks - round(ticks)) < 1e-6

    def check_price(self, price: float, field: str = "price") -> None:
        """Raise ValidationError unless ``price`` is finite, positive (except FX/spreads) and on the grid."""
        if price is None or not math.isfinite(price):
            raise ValidationError(f"{field} {price!r} is not a finite number")
        if price <= 0:
            raise ValidationError(f"{field} {price} must be > 0")
        if not self.is_on_tick(price):
            lo = math.floor(price / self.tick_size) * self.tick_size
            nd = self.price_decimals()
            raise ValidationError(
                f"{field} {price} is not on the {self.tick_size:g} tick grid of {self.symbol}; "
                f"nearest valid prices are {round(lo, nd)} and {round(lo + self.tick_size, nd)}"
            )

    def check_quantity(self, quantity: float, field: str = "quantity") -> None:
        if quantity is None or not math.isfinite(quantity):
            raise ValidationError(f"{field} {quantity!r} is not a finite number")
        if quantity <= 0:
            raise ValidationError(f"{field} {quantity:g} must be > 0")
        lots = quantity / self.lot_size
        if abs(lots - round(lots)) > 1e-9:
            raise ValidationError(
                f"{field} {quantity:g} is not a multiple of the lot size {self.lot_size:g} of {self.symbol}"
            )


@functools.lru_cache(maxsize=256)
def _decimals(tick_size: float) -> int:
    """Decimals of a tick size; cached, as every price rounded on the grid asks (a Decimal costs ~3 µs)."""
    exponent = Decimal(repr(tick_size)).normalize().as_tuple().exponent
    return max(0, -int(exponent))
