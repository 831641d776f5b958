"""IB-like commission schedule: the simulator charges it, and a preview made without the broker estimates with it."""

from __future__ import annotations

import math

from terminal.domain.instrument import Instrument, SecType


def commission_estimate(instrument: Instrument, quantity: float, price: float) -> float:
    """Stocks 0.0035 USD/share, min 0.35, max 1 % of value; futures 0.85 per contract; FX 0.2 bp of value, min 2."""
    if instrument.sec_type is SecType.FUTURE:
        return round(0.85 * quantity, 2)
    value = quantity * price * instrument.multiplier if math.isfinite(price) else math.nan
    if instrument.sec_type is SecType.FOREX:
        return round(max(2.0, 0.00002 * value), 2) if math.isfinite(value) else 2.0
    per_share = max(0.35, 0.0035 * quantity)
    return round(min(per_share, 0.01 * value), 2) if math.isfinite(value) else round(per_share, 2)
