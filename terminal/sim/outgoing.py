"""Server-to-client messages, field for field as the IB client decoders read them at server version 176."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from terminal.domain import Instrument, Order, OrderType, Position
from terminal.sim.contracts import Listing
from terminal.sim.events import Execution, OrderUpdate

SERVER_VERSION = 176
# The messages here are laid out as the decoders read them at 176 (contract details changed at 164, openOrder
# at 170): a client that cannot go up to 176 would misread them, so 176 is also the lowest version spoken.
MIN_SERVER_VERSION = 176


def _contract_fields(ins: Instrument, exchange: str | None = None) -> list[object]:
    """conId … tradingClass as in position/execDetails/openOrder (no primary exchange)."""
    return [ins.contract_id, ins.symbol, ins.sec_type.value, ins.last_trade_date, 0.0, "",
            _multiplier(ins), exchange if exchange is not None else ins.exchange, ins.currency, ins.local_symbol,
            _trading_class(ins)]


def _multiplier(ins: Instrument) -> str:
    return "" if ins.sec_type.value in ("STK", "CASH") else f"{ins.multiplier:g}"


def _trading_class(ins: Instrument) -> str:
    return {"STK": "NMS", "CASH": ins.local_symbol, "FUT": ins.symbol}.get(ins.sec_type.value, "")


def error(req_id: int, code: int, text: str) -> list[object]:
    return [4, 2, req_id, code, text, ""]


def contract_details(req_id: int, listing: Listing) -> list[object]:
    ins = listing.instrument
    kind = ins.sec_type.value
    order_types = "ACTIVETIM,AD,ADJUST,ALERT,ALLOC,LMT,MKT,STP,STPLMT,TRAIL,TRAILLIMIT,OCA,GTC,DAY,IOC"
    hours = "20261125:0930-20261125:1600;20261126:CLOSED" if kind == "STK" else "20261124:1700-20261125:1600"
    last_times = ins.last_trade_date if kind == "FUT" else ""
    fields: list[object] = [
        10, req_id, ins.symbol, kind, last_times, 0.0, "", ins.exchange, ins.currency, ins.local_symbol,
        _trading_class(ins) if kind != "FUT" else ins.symbol, _trading_class(ins), ins.contract_id, ins.tick_size,
        _multiplier(ins), order_types, f"{ins.exchange},{ins.primary_exchange}" if ins.primary_exchange else ins.exchange,
        1, 0, listing.name, ins.primary_exchange, ins.last_trade_date[:6] if kind == "FUT" else "", "", "", "",
        "US/Eastern", hours, hours, "", "", 0,  # no sec ids
        1, "", "", "26" if kind == "STK" else "", ins.last_trade_date, "COMMON" if kind == "STK" else "",
        ins.lot_size, ins.lot_size, ins.lot_size,
    ]
    return fields


def tick_price(req_id: int, tick_type: int, price: float, size: float = 0.0) -> list[object]:
    return [1, 6, req_id, tick_type, price, size, 0]


def tick_size(req_id: int, tick_type: int, size: float) -> list[object]:
    return [2, 6, req_id, tick_type, size]


def tick_string(req_id: int, tick_type: int, value: str) -> list[object]:
    return [46, 6, req_id, tick_type, value]


def order_status(update: OrderUpdate) -> list[object]:
    o = update.order
    return [3, o.order_id, o.status.value, o.filled_quantity, o.remaining, o.average_fill_price, update.perm_id,
            o.parent_id, update.last_fill_price, update.client_id, update.why_held, 0.0]


def _aux_price(o: Order) -> float | None:
    """IB's auxPrice: the stop price, or a trailing order's amount."""
    return o.stop_price if o.stop_price is not None else (o.trail_amount if o.order_type is OrderType.TRAIL else None)


def open_order(update: OrderUpdate, preview: dict[str, float] | None = None) -> list[object]:
    """openOrder (id 5); with ``preview`` it is the answer to a what-if order (whatIf set, margins filled in)."""
    o: Order = update.order
    ins = o.instrument
    aux = _aux_price(o)
    trail_stop = None
    fields: list[object] = [
        5, o.order_id, *_contract_fields(ins), o.side.value, o.quantity, o.order_type.value, o.limit_price, aux,
        o.time_in_force.value, o.oca_group, o.account, "O", 0, o.client_order_id, update.client_id, update.perm_id,
        o.outside_rth, False, 0.0, "", "", "", "", "", "",  # discretionaryAmt, goodAfterTime, shares alloc, fa*
        # modelCode, goodTillDate, rule80A, percentOffset, settlingFirm, shortSaleSlot, designatedLocation,
        # exemptCode, auctionStrategy, startingPrice, stockRefPrice, delta, stockRangeLower/Upper, displaySize
        "", "", "", None, "", 0, "", -1, 0, None, None, None, None, None, 0,
        # blockOrder, sweepToFill, allOrNone, minQty, ocaType, eTradeOnly, firmQuoteOnly, nbboPriceCap
        False, False, False, None, 1 if o.oca_group else 0, False, False, None,
        # parentId, triggerMethod, volatility, volatilityType, deltaNeutralOrderType, deltaNeutralAuxPrice
        o.parent_id, 0, None, 0, "", None,
        False, 0, trail_stop, o.trail_percent, None, None, "",  # continuousUpdate … comboLegsDescrip
        0, 0, 0,  # combo legs, order combo legs, smart combo params
        None, None, None,  # scale
        "",  # hedge type
        False, "", "", False, False,  # optOutSmartRouting, clearing, notHeld, no delta-neutral contract
        "",  # algo strategy
        False, preview is not None, o.status.value, *_order_state(preview), False, False,
        0,  # conditions
        "None", None, trail_stop, None, None, None, None, 0, "", "", "", None, False, False, False, None,
        None, False, False,  # duration, postToAts, autoCancelParent
        None, None, None, None, None,  # minTradeQty … midOffsetAtHalf
    ]
    return fields


_MARGINS = ("init_before", "maint_before", "equity_before", "init_change", "maint_change", "equity_change",
            "init_after", "maint_after", "equity_after")


def _order_state(preview: dict[str, float] | None) -> list[object]:
    """OrderState's margin, commission and warning fields; empty unless answering a what-if."""
    if preview is None:
        return ["", "", "", "", "", "", "", "", "", None, None, None, "", ""]
    commission = preview["commission"]
    return [f"{preview[name]:.2f}" for name in _MARGINS] + [commission, commission, commission, "USD", ""]


def completed_order(update: OrderUpdate, completed_time: datetime) -> list[object]:
    """completedOrder (id 101), field for field as the decoders read it at server version 176."""
    o: Order = update.order
    ins = o.instrument
    aux = _aux_price(o)
    status = o.status.value
    return [
        101, *_contract_fields(ins), o.side.value, o.quantity, o.order_type.value, o.limit_price, aux,
        o.time_in_force.value, o.oca_group, o.account, "O", 0, o.client_order_id, update.perm_id,
        o.outside_rth, False, 0.0, "", "", "", "", "",  # hidden … faPercentage, faProfile
        # modelCode … exemptCode, startingPrice … displaySize, sweepToFill, allOrNone, minQty, ocaType,
        # triggerMethod, volatility, volatilityType, deltaNeutralOrderType, deltaNeutralAuxPrice
        "", "", "", None, "", 0, "", -1, None, None, None, None, None, 0, False, False, None,
        1 if o.oca_group else 0, 0, None, 0, "", None,
        False, 0, None, o.trail_percent, "",  # continuousUpdate … comboLegsDescrip
        0, 0, 0,  # combo legs, order combo legs, smart combo params
        None, None, "",  # scale
        "",  # hedge type
        "", "", False, False,  # clearing, notHeld, no delta-neutral contract
        "",  # algo strategy
        False, status, False, False,
        0,  # conditions
        None, None, None, False, False, "", o.filled_quantity, 0, False, "", False, False, 0,
        completed_time.astimezone(UTC).strftime("%Y%m%d %H:%M:%S UTC"), status,
        None, None, None, None, None,  # minTradeQty … midOffsetAtHalf
    ]


def exec_details(req_id: int, execution: Execution) -> list[object]:
    fill = execution.fill
    ins = fill.instrument
    side = "BOT" if fill.side.value == "BUY" else "SLD"
    stamp = fill.time.astimezone(UTC).strftime("%Y%m%d %H:%M:%S UTC")
    return [11, req_id, fill.order_id, *_contract_fields(ins), fill.execution_id, stamp, fill.account, ins.exchange, side,
            fill.quantity, fill.price, execution.perm_id, execution.client_id, 0, execution.cumulative_quantity,
            execution.average_price, fill.client_order_id, "", None, "", 1]


def commission_report(execution: Execution) -> list[object]:
    fill = execution.fill
    realized = fill.realized_pnl if fill.realized_pnl else None
    return [59, 1, fill.execution_id, fill.commission, "USD", realized, None, None]


def position(account: str, p: Position) -> list[object]:
    return [61, 3, account, *_contract_fields(p.instrument), p.quantity, p.average_cost * p.instrument.multiplier]


def portfolio(account: str, p: Position) -> list[object]:
    ins = p.instrument
    price = p.market_price if math.isfinite(p.market_price) else p.average_cost
    value = p.quantity * price * ins.multiplier
    unrealized = (price - p.average_cost) * p.quantity * ins.multiplier
    return [7, 8, ins.contract_id, ins.symbol, ins.sec_type.value, ins.last_trade_date, 0.0, "", _multiplier(ins),
            ins.primary_exchange, ins.currency, ins.local_symbol, _trading_class(ins), p.quantity, price, value,
            p.average_cost * ins.multiplier, unrealized, p.realized_pnl, account]


def account_time(now: datetime) -> list[object]:
    return [8, 1, now.strftime("%H:%M")]


def bar_time(when: datetime, daily: bool) -> str:
    return when.strftime("%Y%m%d") if daily else str(int(when.timestamp()))
