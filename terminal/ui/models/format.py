"""Number formatting for tables: prices on the instrument's grid, sizes with thousands separators."""

from __future__ import annotations

import math


def price(value: float, decimals: int = 2) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:,.{decimals}f}"


def size(value: float) -> str:
    if value is None or not math.isfinite(value):
        return ""
    return f"{value:,.0f}" if abs(value - round(value)) < 1e-9 else f"{value:,.2f}"


def signed(value: float, decimals: int = 2) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:+,.{decimals}f}"


def percent(value: float) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:+.2f}%"
