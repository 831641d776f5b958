"""Client-to-server requests parsed from their fields (the layouts of the IB client's request encoders)."""

from __future__ import annotations

from dataclasses import dataclass

from terminal.domain import Instrument, Order, OrderSide, OrderType, TimeInForce
from terminal.sim.wire import ProtocolError, as_float, as_int


@dataclass(frozen=True)
class ContractRef:
    con_id: int
    symbol: str
    sec_type: str
    last_trade: str
    exchange: str
    primary_exchange: str
    currency: str
    local_symbol: str

    def describe(self) -> str:
        parts = [self.symbol or self.local_symbol or f"conId {self.con_id}", self.sec_type, self.exchange, self.currency]
        return " ".join(p for p in parts if p)


# Where each request carries the id its answers (and errors) are sent under: reqId, tickerId or orderId.
_ID_FIELD = {1: 2, 2: 2, 3: 1, 4: 2, 7: 2, 9: 2, 10: 2, 11: 2, 20: 1, 25: 2, 50: 2, 51: 2, 62: 2, 76: 2, 81: 1,
             92: 1, 93: 1, 94: 1, 95: 1}


def request_id(fields: list[str]) -> int:
    """The id to answer a request's error under; -1 (no request) when it has none or it is unreadable."""
    try:
        return as_int(fields[_ID_FIELD[as_int(fields[0])]], -1)
    except (ProtocolError, LookupError):
        return -1


def contract_at(fields: list[str], start: int) -> ContractRef:
    """The 12 contract fields: conId, symbol, secType, lastTrade, strike, right, multiplier, exchange,
    primaryExchange, currency, localSymbol, tradingClass."""
    f = fields[start : start + 12]
    if len(f) < 12:
        raise ProtocolError("contract fields are missing")
    return ContractRef(as_int(f[0], name="conId"), f[1], f[2], f[3], f[7], f[8], f[9], f[10])


@dataclass(frozen=True)
class PlacedOrder:
    order_id: int
    contract: ContractRef
    side: str
    quantity: float
    order_type: str
    limit_price: float
    aux_price: float
    tif: str
    oca_group: str
    account: str
    order_ref: str
    transmit: bool
    parent_id: int
    outside_rth: bool
    trail_stop_price: float
    trailing_percent: float
    what_if: bool = False

    def to_order(self, instrument: Instrument) -> Order:
        """The domain order; raises ValueError/DomainError for values IB would reject."""
        try:
            side = OrderSide(self.side)
        except ValueError:
            raise ValueError(f"action {self.side!r} is not BUY or SELL") from None
        try:
            order_type = OrderType(self.order_type)
        except ValueError:
            raise ValueError(f"order type {self.order_type!r} is not supported by the simulator "
                             f"(supported: {', '.join(t.value for t in OrderType)})") from None
        try:
            tif = TimeInForce(self.tif or "DAY")
        except ValueError:
            raise ValueError(f"time in force {self.tif!r} is not supported (DAY, GTC, IOC)") from None
        limit = self.limit_price if order_type.needs_limit_price else None
        stop = self.aux_price if order_type.needs_stop_price else None
        trail_amount = trail_percent = None
        if order_type is OrderType.TRAIL:
            if self.trailing_percent == self.trailing_percent:  # not NaN
                trail_percent = self.trailing_percent
            else:
                trail_amount = self.aux_price
        return Order(instrument, side, self.quantity, order_type, limit_price=limit, stop_price=stop,
                     trail_amount=trail_amount, trail_percent=trail_percent, time_in_force=tif,
                     outside_rth=self.outside_rth, parent_id=self.parent_id, oca_group=self.oca_group,
                     transmit=self.transmit, client_order_id=self.order_ref, order_id=self.order_id,
                     account=self.account)


def place_order(fields: list[str], server_version: int) -> PlacedOrder:
    """placeOrder (id 3) without a version field, as sent to servers >= 145."""
    contract = contract_at(fields, 2)
    i = 14 + 2  # secIdType, secId
    (action, quantity, order_type, limit, aux, tif, oca, account, _open_close, _origin, order_ref, transmit,
     parent_id, _block, _sweep, _display, _trigger, outside_rth, _hidden) = fields[i : i + 19]
    if contract.sec_type == "BAG":
        raise ProtocolError("combo (BAG) orders are not supported by the simulator")
    j = i + 19 + 1 + 6  # deprecated sharesAllocation, discretionaryAmt … faPercentage
    if server_version < 177:
        j += 1  # faProfile
    j += 24  # modelCode … deltaNeutralAuxPrice; deltaNeutralOrderType is at j - 2
    delta_neutral_type = fields[j - 2] if len(fields) > j - 2 else ""
    if delta_neutral_type:
        j += 8
    # continuousUpdate, referencePriceType, trailStopPrice, trailingPercent
    trail_stop, trailing_percent = fields[j + 2], fields[j + 3]
    return PlacedOrder(
        order_id=as_int(fields[1], name="orderId"), contract=contract, side=action,
        quantity=as_float(quantity, 0.0, "totalQuantity"), order_type=order_type,
        limit_price=as_float(limit, name="lmtPrice"), aux_price=as_float(aux, name="auxPrice"), tif=tif,
        oca_group=oca, account=account, order_ref=order_ref, transmit=transmit != "0",
        parent_id=as_int(parent_id, name="parentId"), outside_rth=outside_rth == "1",
        trail_stop_price=as_float(trail_stop, name="trailStopPrice"),
        trailing_percent=as_float(trailing_percent, name="trailingPercent"), what_if=_what_if(fields, j),
    )


def _what_if(fields: list[str], j: int) -> bool:
    """The whatIf flag: after the scale, hedge, clearing, delta-neutral and algo blocks that precede it."""
    k = j + 4 + 2  # continuousUpdate … trailingPercent, scaleInitLevelSize, scaleSubsLevelSize
    increment = as_float(fields[k], name="scalePriceIncrement") if len(fields) > k else float("nan")
    k += 1
    if 0 < increment < 1.7976931348623157e308:
        k += 7  # scalePriceAdjustValue … scaleRandomPercent
    k += 3  # scaleTable, activeStartTime, activeStopTime
    hedge_type = fields[k] if len(fields) > k else ""
    k += 2 if hedge_type else 1
    k += 4  # optOutSmartRouting, clearingAccount, clearingIntent, notHeld
    if len(fields) <= k:
        return False
    k += 4 if fields[k] == "1" else 1  # delta-neutral contract
    algo = fields[k] if len(fields) > k else ""
    k += 1
    if algo:
        k += 1 + 2 * as_int(fields[k], 0, "algoParams count")
    k += 1  # algoId
    return len(fields) > k and fields[k] == "1"
