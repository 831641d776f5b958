"""The desk's own limit on top of every per-order rule: gross exposure across every terminal's orders."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from terminal.domain import Instrument, Order, OrderRejected
from terminal.services.market import MarketService
from terminal.services.portfolio import PortfolioService


@dataclass(frozen=True)
class DeskLimits:
    """Limits across every terminal on the hub, on top of each terminal's own and the hub's per-order rules
    (max position per symbol and daily loss are the hub session's RiskLimits)."""

    max_gross_exposure: float = 5_000_000.0  # Σ |position + working| × price × multiplier, all symbols


def check_gross_exposure(order: Order, limits: DeskLimits, market: MarketService, portfolio: PortfolioService,
                         working: Iterable[Order]) -> None:
    """Raise OrderRejected(desk_gross_exposure) if ``order`` would take the desk's gross exposure — every position
    and working order of every terminal, plus this one — past the limit (an order that lowers it always passes)."""
    working = list(working)

    def price(instrument: Instrument, fallback: float | None = None) -> float:
        p = market.reference_price(instrument)
        if not math.isfinite(p) and fallback is not None:
            p = fallback
        return p if math.isfinite(p) else math.nan

    exposure: dict[str, float] = {}
    for position in portfolio.positions.values():
        exposure[position.instrument.key] = exposure.get(position.instrument.key, 0.0) + position.quantity
    for other in working:
        if not other.parent_ref and other.parent_id == 0:
            exposure[other.instrument.key] = exposure.get(other.instrument.key, 0.0) + other.side.sign * other.remaining
    instruments = {p.instrument.key: p.instrument for p in portfolio.positions.values()}
    instruments.update({o.instrument.key: o.instrument for o in working})

    def gross(own: float | None = None) -> float:
        total = 0.0
        for key, quantity in exposure.items():
            p = price(instruments[key], own if key == order.instrument.key else None)
            if math.isfinite(p):
                total += abs(quantity) * p * instruments[key].multiplier
        return total

    before = gross()
    exposure[order.instrument.key] = exposure.get(order.instrument.key, 0.0) + order.signed_quantity
    instruments[order.instrument.key] = order.instrument
    after = gross(order.price_for_notional)
    if after > limits.max_gross_exposure and after > before:
        raise OrderRejected(f"desk gross exposure would reach {after:,.0f} (now {before:,.0f}) across all "
                            f"terminals; the desk limit is {limits.max_gross_exposure:,.0f}", rule="desk_gross_exposure")
