"""Conversions between IB client objects (ib_async / ib_insync, duck-typed) and the domain model."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from terminal.domain import (
    Account,
    Fill,
    Instrument,
    Order,
    OrderPreview,
    OrderSide,
    OrderStatus,
    OrderType,
    Position,
    Provenance,
    Quote,
    SecType,
    TimeInForce,
)

UNSET = 1.7976931348623157e308

_STATUS = {
    "PendingSubmit": OrderStatus.PENDING_SUBMIT, "ApiPending": OrderStatus.PENDING_SUBMIT,
    "PreSubmitted": OrderStatus.PRE_SUBMITTED, "Submitted": OrderStatus.SUBMITTED,
    "PendingCancel": OrderStatus.PENDING_CANCEL, "Filled": OrderStatus.FILLED, "Cancelled": OrderStatus.CANCELLED,
    "ApiCancelled": OrderStatus.API_CANCELLED, "Inactive": OrderStatus.INACTIVE,
}
# Error codes with which IB rejects a new order outright (the client library marks it Cancelled).
_REJECTION_CODES = frozenset({201, 203, 10147})


def _status(trade: Any) -> tuple[OrderStatus, str]:
    """The order's status and the broker's last word on it.

    ib_async / ib_insync write "ValidationError" over the status when IB answers a request with a
    warning (321 and the like) — for a modify the order is still live — so the status is then the
    last real one from the trade log. A Cancelled caused by a rejection code is Inactive (rejected).
    """
    log = list(getattr(trade, "log", []))
    text = trade.orderStatus.status
    reason = next((entry.message for entry in reversed(log) if getattr(entry, "errorCode", 0)), "")
    if text == "ValidationError":
        text = next((e.status for e in reversed(log) if e.status not in ("ValidationError", "")), "PendingSubmit")
    status = _STATUS.get(text, OrderStatus.PENDING_SUBMIT)
    if status is OrderStatus.CANCELLED and log and getattr(log[-1], "errorCode", 0) in _REJECTION_CODES:
        status = OrderStatus.INACTIVE
    return status, reason



def number(value: Any) -> float:
    """IB numbers to float, with NaN for unset (None, empty, the max-double sentinel, -1 sizes)."""
    if value is None or value == "":
        return math.nan
    result = float(value)
    return math.nan if result >= UNSET or math.isinf(result) else result


def optional(value: Any) -> float | None:
    result = number(value)
    return None if math.isnan(result) or result == 0.0 else result


def contract_kwargs(instrument: Instrument) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"symbol": instrument.symbol, "secType": instrument.sec_type.value,
                              "exchange": instrument.exchange, "currency": instrument.currency}
    if instrument.contract_id:
        kwargs["conId"] = instrument.contract_id
    if instrument.primary_exchange and instrument.sec_type is SecType.STOCK:
        kwargs["primaryExchange"] = instrument.primary_exchange
    if instrument.sec_type is SecType.FUTURE:
        if instrument.local_symbol:
            kwargs["localSymbol"] = instrument.local_symbol
        if instrument.last_trade_date:
            kwargs["lastTradeDateOrContractMonth"] = instrument.last_trade_date
    return kwargs


def instrument_from_details(details: Any) -> Instrument:
    c = details.contract
    sec_type = SecType(c.secType) if c.secType in {s.value for s in SecType} else SecType.STOCK
    multiplier = float(c.multiplier) if c.multiplier not in ("", None, 0) else 1.0
    return Instrument(
        symbol=c.symbol, sec_type=sec_type, exchange=c.exchange or "SMART", currency=c.currency or "USD",
        tick_size=float(details.minTick or 0.01), multiplier=multiplier, contract_id=int(c.conId),
        primary_exchange=c.primaryExchange or "", local_symbol=c.localSymbol or "",
        description=(details.longName or "")[:200], last_trade_date=c.lastTradeDateOrContractMonth or "",
        lot_size=float(getattr(details, "sizeIncrement", 0) or 1.0) if sec_type is not SecType.FOREX else 1.0,
    )


# IB tick types of the top of book and the tape (delayed ones too), and what each sets.
_TICK_KINDS = {1: "bid", 66: "bid", 0: "bid", 69: "bid", 2: "ask", 67: "ask", 3: "ask", 70: "ask",
               4: "last", 68: "last", 5: "last", 71: "last", 8: "volume", 74: "volume"}


def ticks_from_ticker(ticker: Any) -> tuple[tuple[float, str, float, float], ...]:
    """The ticker's ticks of this update as (epoch seconds, bid|ask|last|volume, price, size).

    A size-only tick carries the price it belongs to (ib_async fills it in), so each is a whole side."""
    kinds = _TICK_KINDS
    return tuple((t.time.timestamp(), kinds[t.tickType], t.price, t.size) for t in ticker.ticks
                 if t.tickType in kinds)


def quote_from_ticker(ticker: Any, symbol: str, replay: bool = False) -> Quote:
    """``replay``: stamp it with the replay's time (the tick's lastTimestamp), not the wall clock."""
    when = ticker.time if isinstance(ticker.time, datetime) else None
    stamp = getattr(ticker, "lastTimestamp", None)
    if replay and isinstance(stamp, datetime):
        when = stamp
    return Quote(
        symbol=symbol, bid=number(ticker.bid), ask=number(ticker.ask), last=number(ticker.last),
        bid_size=number(ticker.bidSize), ask_size=number(ticker.askSize), last_size=number(ticker.lastSize),
        volume=number(ticker.volume), close=number(ticker.close), high=number(ticker.high), low=number(ticker.low),
        time=when.astimezone(UTC) if when else datetime.now(UTC),
    )


def order_from_trade(trade: Any, instrument: Instrument, provenance: Provenance = Provenance.UNKNOWN) -> Order:
    o, status = trade.order, trade.orderStatus
    order_type = OrderType(o.orderType) if o.orderType in {t.value for t in OrderType} else OrderType.MARKET
    limit = optional(o.lmtPrice) if order_type.needs_limit_price else None
    aux = optional(o.auxPrice)
    trail_percent = optional(getattr(o, "trailingPercent", None)) if order_type is OrderType.TRAIL else None
    tif = TimeInForce(o.tif) if o.tif in {t.value for t in TimeInForce} else TimeInForce.DAY
    filled = number(status.filled)
    average = number(status.avgFillPrice)
    completed = number(getattr(o, "filledQuantity", None))
    if not filled and math.isfinite(completed) and completed > 0:  # a completed order carries it in the order
        filled = completed
    log_times = [entry.time for entry in getattr(trade, "log", []) if getattr(entry, "time", None)]
    state, reason = _status(trade)
    perm_id = int(o.permId or 0) or int(getattr(status, "permId", 0) or 0)
    return Order(
        instrument=instrument, side=OrderSide(o.action), quantity=float(o.totalQuantity), order_type=order_type,
        limit_price=limit, stop_price=aux if order_type.needs_stop_price else None,
        trail_amount=aux if order_type is OrderType.TRAIL and trail_percent is None else None,
        trail_percent=trail_percent, time_in_force=tif, outside_rth=bool(o.outsideRth), parent_id=int(o.parentId or 0),
        oca_group=o.ocaGroup or "", transmit=bool(o.transmit), client_order_id=o.orderRef or "", order_id=int(o.orderId),
        account=o.account or "", status=state,
        filled_quantity=0.0 if math.isnan(filled) else min(filled, float(o.totalQuantity)),
        average_fill_price=0.0 if math.isnan(average) else average,
        created=log_times[0] if log_times else None, updated=log_times[-1] if log_times else None, reason=reason,
        perm_id=perm_id, api_client_id=int(getattr(o, "clientId", 0) or 0), provenance=provenance,
    )


def fill_from_ib(fill: Any, instrument: Instrument, provenance: Provenance = Provenance.UNKNOWN) -> Fill:
    e = fill.execution
    report = fill.commissionReport
    commission = number(report.commission) if report is not None else math.nan
    realized = number(report.realizedPNL) if report is not None else math.nan
    return Fill(
        execution_id=e.execId, order_id=int(e.orderId), instrument=instrument,
        side=OrderSide.BUY if e.side in ("BOT", "BUY") else OrderSide.SELL, quantity=float(e.shares),
        price=float(e.price), time=e.time.astimezone(UTC) if e.time.tzinfo else e.time.replace(tzinfo=UTC),
        commission=0.0 if math.isnan(commission) else commission, account=e.acctNumber,
        client_order_id=e.orderRef or "", realized_pnl=0.0 if math.isnan(realized) else realized,
        perm_id=int(e.permId or 0), provenance=provenance,
    )


def preview_from_state(state: Any) -> OrderPreview:
    """A what-if answer (IB OrderState) as a domain preview; IB's unset values become NaN."""
    return OrderPreview(
        commission=number(state.commission), min_commission=number(state.minCommission),
        max_commission=number(state.maxCommission), commission_currency=state.commissionCurrency or "",
        initial_margin_change=number(state.initMarginChange), maintenance_margin_change=number(state.maintMarginChange),
        initial_margin_after=number(state.initMarginAfter), equity_with_loan_after=number(state.equityWithLoanAfter),
        warning=state.warningText or "", source="broker",
    )


def position_from_ib(item: Any, instrument: Instrument, market_price: float = math.nan,
                     realized: float = 0.0) -> Position:
    average = float(item.averageCost if hasattr(item, "averageCost") else item.avgCost) / instrument.multiplier
    return Position(instrument=instrument, quantity=float(item.position), average_cost=average,
                    realized_pnl=realized, market_price=market_price, account=item.account)


def account_from_values(account: str, values: dict[str, str], daily_pnl: float = math.nan,
                        provenance: Provenance = Provenance.UNKNOWN) -> Account:
    def get(tag: str) -> float:
        return number(values.get(tag))

    daily = daily_pnl if math.isfinite(daily_pnl) else get("DailyPnL")
    return Account(account=account, net_liquidation=get("NetLiquidation"), total_cash=get("TotalCashValue"),
                   buying_power=get("BuyingPower"), daily_pnl=daily, unrealized_pnl=get("UnrealizedPnL"),
                   realized_pnl=get("RealizedPnL"), provenance=provenance)
