"""Pre-trade risk checks shared by manual orders and strategies; a rejection names the rule and why."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from terminal.config import RiskLimits
from terminal.domain import Order, OrderRejected, OrderType


@dataclass(frozen=True)
class RiskContext:
    """What the checks need to know besides the order itself."""

    reference_price: float  # last (or mid/close) of the instrument; NaN if unknown
    position: float  # current signed position in the instrument
    working_quantity: float  # signed quantity of other working orders in the instrument
    daily_pnl: float  # realized + unrealized today; NaN if unknown


class RiskChecker:
    """Applies RiskLimits; holds the kill switch. Pure: no I/O, callable from any service."""

    RULES = ("kill_switch", "position_mismatch", "max_order_quantity", "no_reference_price", "max_notional",
             "price_band", "max_position", "daily_loss_limit")

    def __init__(self, limits: RiskLimits) -> None:
        self.limits = limits
        self.kill_switch = False
        self.blocked: dict[str, str] = {}  # instrument key -> why orders in it wait (a position mismatch)

    def set_limits(self, limits: RiskLimits) -> None:
        for name in ("max_order_quantity", "max_notional", "price_band_percent", "max_position", "daily_loss_limit"):
            value = getattr(limits, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"risk limit {name} = {value!r} must be a positive number")
        self.limits = limits

    def update(self, **changes: float) -> RiskLimits:
        self.set_limits(replace(self.limits, **changes))
        return self.limits

    def check_close(self, order: Order, position: float) -> None:
        """Rules for an order that closes ``position`` (Close position): it must only reduce it, and a position
        mismatch still blocks (the quantity to close is in doubt). Size, notional, price band, position and
        daily-loss limits do not apply to taking risk off, and the kill switch, which stops new risk, lets a
        close through (the order service asks the user first)."""
        order.validate()
        if order.instrument.key in self.blocked:
            raise OrderRejected(self.blocked[order.instrument.key], rule="position_mismatch")
        if position == 0 or order.side.sign * position > 0 or order.quantity > abs(position) + 1e-9:
            raise OrderRejected(f"{order.describe()} does not only close the position of {position:+g} in "
                                f"{order.instrument.display_name}", rule="close_position")

    def check(self, order: Order, context: RiskContext) -> None:
        """Raise OrderRejected(rule=...) for the first rule the order breaks."""
        order.validate()
        limits = self.limits
        name = order.instrument.display_name
        if self.kill_switch:
            raise OrderRejected("kill switch is on: all new orders are blocked until it is reset", rule="kill_switch")
        if order.instrument.key in self.blocked:
            raise OrderRejected(self.blocked[order.instrument.key], rule="position_mismatch")
        if order.quantity > limits.max_order_quantity:
            raise OrderRejected(
                f"quantity {order.quantity:g} exceeds the max order quantity {limits.max_order_quantity:g}",
                rule="max_order_quantity",
            )
        price = order.price_for_notional
        if not math.isfinite(price):
            price = context.reference_price
        if not math.isfinite(price):  # MKT and TRAIL: nothing to value the order with
            raise OrderRejected(
                f"no price for {name}: the broker sent no quote, so the notional and price-band checks of "
                f"this {order.order_type.value} order cannot be made; subscribe to {name} or use a limit order",
                rule="no_reference_price",
            )
        if math.isfinite(price):
            notional = order.quantity * price * order.instrument.multiplier
            if notional > limits.max_notional:
                raise OrderRejected(
                    f"notional {notional:,.0f} of {order.describe()} exceeds the max notional {limits.max_notional:,.0f}",
                    rule="max_notional",
                )
        if math.isfinite(context.reference_price) and context.reference_price > 0:
            band = limits.price_band_percent / 100.0
            for label, value in (("limit price", order.limit_price), ("stop price", order.stop_price)):
                if value is None or order.order_type is OrderType.TRAIL:
                    continue
                distance = abs(value - context.reference_price) / context.reference_price
                if distance > band:
                    raise OrderRejected(
                        f"{label} {value:g} is {distance:.1%} away from last {context.reference_price:g} of {name}; "
                        f"the price band is ±{limits.price_band_percent:g}%",
                        rule="price_band",
                    )
        projected = context.position + context.working_quantity + order.signed_quantity
        if abs(projected) > limits.max_position and abs(projected) > abs(context.position):
            raise OrderRejected(
                f"position in {name} would reach {projected:+g} (now {context.position:+g}); "
                f"the max position is {limits.max_position:g}",
                rule="max_position",
            )
        if math.isfinite(context.daily_pnl) and context.daily_pnl <= -limits.daily_loss_limit:
            reduces = abs(context.position + order.signed_quantity) < abs(context.position)
            if not reduces:
                raise OrderRejected(
                    f"daily loss {context.daily_pnl:,.0f} has reached the limit {-limits.daily_loss_limit:,.0f}; "
                    "only orders that reduce a position are allowed",
                    rule="daily_loss_limit",
                )
