"""Domain objects as the monitor's JSON rows (the README documents every field); NaN becomes null later."""

from __future__ import annotations

from typing import Any

from terminal.domain import Account, Fill, Order, Position
from terminal.monitor.state import iso


def position_row(position: Position) -> dict[str, Any]:
    instrument = position.instrument
    return {
        "account": position.account,
        "instrument_key": instrument.key,
        "symbol": instrument.display_name,
        "sec_type": instrument.sec_type.value,
        "currency": instrument.currency,
        "quantity": position.quantity,
        "average_cost": position.average_cost,
        "market_price": position.market_price,
        "market_value": position.market_value,
        "unrealized_pnl": position.unrealized_pnl,
        "realized_pnl": position.realized_pnl,
    }


def order_row(order: Order) -> dict[str, Any]:
    return {
        "client_order_id": order.client_order_id,
        "order_id": order.order_id,
        "account": order.account,
        "instrument_key": order.instrument.key,
        "symbol": order.instrument.display_name,
        "side": order.side.value,
        "quantity": order.quantity,
        "order_type": order.order_type.value,
        "limit_price": order.limit_price,
        "stop_price": order.stop_price,
        "time_in_force": order.time_in_force.value,
        "status": order.status.value,
        "filled_quantity": order.filled_quantity,
        "average_fill_price": order.average_fill_price,
        "source": order.source,
        "provenance": order.provenance.value,
        "created": iso(order.created),
        "updated": iso(order.updated),
    }


def fill_row(fill: Fill) -> dict[str, Any]:
    return {
        "execution_id": fill.execution_id,
        "client_order_id": fill.client_order_id,
        "account": fill.account,
        "instrument_key": fill.instrument.key,
        "symbol": fill.instrument.display_name,
        "side": fill.side.value,
        "quantity": fill.quantity,
        "price": fill.price,
        "commission": fill.commission,
        "realized_pnl": fill.realized_pnl,
        "time": iso(fill.time),
        "provenance": fill.provenance.value,
    }


def account_row(account: Account, daily_pnl: float, realized_pnl: float, unrealized_pnl: float) -> dict[str, Any]:
    return {
        "account": account.account,
        "provenance": account.provenance.value,
        "net_liquidation": account.net_liquidation,
        "total_cash": account.total_cash,
        "buying_power": account.buying_power,
        "daily_pnl": daily_pnl,
        "realized_pnl": realized_pnl,
        "unrealized_pnl": unrealized_pnl,
    }
