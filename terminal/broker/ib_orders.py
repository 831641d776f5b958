"""The order half of the IB adapter: place, modify, cancel, previews, and order/fill events in domain terms.

A mixin of ``IBBroker`` (which owns the IB client object ``self.ib`` and the client
module ``self.ibapi``; this module never imports the client itself). Orders are found
at the broker by our client order id (``orderRef``) or IB's permanent id, never by the
IB order id alone, so a cancel or modify can only reach the order it names.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from dataclasses import replace
from typing import Any

from terminal.broker import convert
from terminal.broker.base import BrokerError, OrderNotAtBroker
from terminal.broker.events import ErrorEvent, EventBus, FillEvent, OrderEvent
from terminal.domain import Fill, Instrument, Order, OrderPreview, OrderType, Provenance, Quote

# Error codes that are notices, not problems (market data farm connection OK and the like).
INFO_CODES = frozenset({2104, 2106, 2107, 2108, 2119, 2158, 2100, 2150})


class IBOrders:
    """Order methods of IBBroker. Expects ``ib``, ``ibapi``, ``events`` and the contract helpers of IBBroker."""

    ib: Any
    ibapi: Any
    events: EventBus
    _quote_tickers: dict[int, Any]

    def _init_orders(self) -> None:
        self._published_fills: set[str] = set()
        self._unpublished: set[str] = set()
        self._fills_seen = 0
        self._previews: dict[int, asyncio.Future] = {}
        self.provenance = Provenance.UNKNOWN
        # Order and fill events of a connect's sync, held until the session's provenance is known (_release_sync).
        self._sync_held: list[OrderEvent | FillEvent] | None = None

    # supplied by IBBroker
    def _require(self) -> None: ...  # pragma: no cover
    def _contract(self, instrument: Instrument) -> Any: ...  # pragma: no cover
    def _instrument_of(self, contract: Any) -> Instrument: ...  # pragma: no cover

    # --- requests ----------------------------------------------------------------------------
    def _ib_order(self, order: Order) -> Any:
        if not order.client_order_id:
            raise BrokerError(f"{order.describe()} has no client order id; the order service assigns one before sending")
        kwargs: dict[str, Any] = {
            "action": order.side.value, "totalQuantity": order.quantity, "orderType": order.order_type.value,
            "tif": order.time_in_force.value, "outsideRth": order.outside_rth, "orderRef": order.client_order_id,
            "transmit": order.transmit,
        }
        if order.limit_price is not None:
            kwargs["lmtPrice"] = order.limit_price
        if order.order_type is OrderType.TRAIL:
            if order.trail_percent is not None:
                kwargs["trailingPercent"] = order.trail_percent
            else:
                kwargs["auxPrice"] = order.trail_amount
        elif order.stop_price is not None:
            kwargs["auxPrice"] = order.stop_price
        if order.parent_id:
            kwargs["parentId"] = order.parent_id
        if order.oca_group:
            kwargs.update(ocaGroup=order.oca_group, ocaType=1)
        if order.account:
            kwargs["account"] = order.account
        return self.ibapi.Order(**kwargs)

    async def place(self, order: Order) -> Order:
        """Send a new order; returns it with the IB order id of this connection."""
        self._require()
        trade = self.ib.placeOrder(self._contract(order.instrument), self._ib_order(order))
        return replace(order, order_id=int(trade.order.orderId))

    async def place_bracket(self, parent: Order, *children: Order) -> list[Order]:
        """Parent and exits as one bracket: only the last order transmits, so none works alone.

        Every order carries its own client order id from the start (children too)."""
        self._require()
        contract = self._contract(parent.instrument)
        orders = [self._ib_order(replace(parent, transmit=not children))]
        for child in children:
            orders.append(self._ib_order(child))
        parent_trade = self.ib.placeOrder(contract, orders[0])
        parent_id = int(parent_trade.order.orderId)
        placed = [replace(parent, order_id=parent_id, transmit=not children)]
        for n, (child, ib_child) in enumerate(zip(children, orders[1:], strict=True)):
            last = n == len(children) - 1
            ib_child.parentId, ib_child.transmit = parent_id, last
            trade = self.ib.placeOrder(contract, ib_child)
            placed.append(replace(child, parent_id=parent_id, order_id=int(trade.order.orderId), transmit=last))
        return placed

    def _trade_of(self, order: Order, working: bool = True) -> Any:
        """The client library's trade for ``order``, by client order id, else permanent id.

        Only a trade this connection's client id placed is returned: IB addresses a cancel or modify
        by (client id, order id), so sending one for another client's order would reach whichever
        order of ours has that IB order id."""
        trades = self.ib.openTrades() if working else self.ib.trades()
        found = next((t for t in trades if order.client_order_id and t.order.orderRef == order.client_order_id), None)
        if found is None and order.perm_id:
            found = next((t for t in trades if t.order.permId == order.perm_id), None)
        if found is None:
            raise OrderNotAtBroker(f"order {order.client_order_id} ({order.describe()}) is not working at the "
                                   "broker on this connection")
        owner, mine = int(found.order.clientId or 0), int(self.ib.client.clientId)
        if owner != mine:
            who = "TWS itself" if owner == 0 else f"API client id {owner}"
            raise OrderNotAtBroker(f"order {order.client_order_id} ({order.describe()}) was placed by {who}; this "
                                   f"terminal is client id {mine}, and IB lets only the placing client change or "
                                   "cancel it: do it there, or use Cancel all (a global cancel)")
        return found

    async def modify(self, order: Order) -> Order:
        """Change quantity, prices and time in force of the working order ``order`` names."""
        self._require()
        trade = self._trade_of(order)
        o = trade.order
        o.totalQuantity = order.quantity
        if order.limit_price is not None:
            o.lmtPrice = order.limit_price
        if order.order_type is OrderType.TRAIL:
            if order.trail_percent is not None:
                o.trailingPercent = order.trail_percent
            elif order.trail_amount is not None:
                o.auxPrice = order.trail_amount
        elif order.stop_price is not None:
            o.auxPrice = order.stop_price
        o.tif = order.time_in_force.value
        # A bracket's parent and first exit went out with transmit=False (the last exit transmitted them
        # all); a modify re-sent that way would stay in TWS untransmitted.
        o.transmit = True
        self.ib.placeOrder(trade.contract, o)
        return replace(order, order_id=int(o.orderId))

    async def cancel(self, order: Order) -> None:
        """Cancel the working order ``order`` names; OrderNotAtBroker if this connection has no such order."""
        self._require()
        self.ib.cancelOrder(self._trade_of(order).order)

    async def cancel_all(self) -> None:
        self._require()
        self.ib.reqGlobalCancel()

    async def what_if(self, order: Order, timeout: float = 5.0) -> OrderPreview:
        """The broker's preview of ``order`` (commission, margin): a what-if order, nothing is executed."""
        self._require()
        contract = self._contract(order.instrument)
        ib_order = self._ib_order(replace(order, client_order_id=order.client_order_id or "preview"))
        ib_order.whatIf = True
        request_id = self.ib.client.getReqId()
        future = self.ib.wrapper.startReq(request_id, contract)
        self._previews[request_id] = future
        self.ib.client.placeOrder(request_id, contract, ib_order)
        try:
            state = await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            raise BrokerError(f"the broker sent no preview of {order.describe()} within {timeout:g} s") from None
        finally:
            self._previews.pop(request_id, None)
            self.ib.wrapper._futures.pop(request_id, None)
        if isinstance(state, list):  # ended without an order state (an error the library swallowed)
            raise BrokerError(f"the broker gave no preview of {order.describe()}")
        return convert.preview_from_state(state)

    async def snapshot(self, instrument: Instrument, timeout: float = 3.0) -> Quote:
        """One quote of ``instrument`` (the streaming one if subscribed, else a snapshot request)."""
        self._require()
        streaming = self._quote_tickers.get(instrument.contract_id)
        if streaming is not None:
            return convert.quote_from_ticker(streaming, instrument.symbol)
        try:
            tickers = await asyncio.wait_for(self.ib.reqTickersAsync(self._contract(instrument)), timeout)
        except TimeoutError:
            raise BrokerError(f"the broker sent no quote of {instrument.display_name} within {timeout:g} s") from None
        quote = convert.quote_from_ticker(tickers[0], instrument.symbol)
        if not math.isfinite(quote.reference_price):
            raise BrokerError(f"the broker has no price for {instrument.display_name} (no bid, ask, last or close)")
        return quote

    # --- state at the broker -----------------------------------------------------------------
    async def open_orders(self) -> list[Order]:
        """Every open order of the account, asked afresh: this client's (their updates stream to it) and those
        of other API clients and TWS (``reqAllOpenOrders``; IB streams their updates to their own client only,
        so what the client library remembers of them may be stale and is not used)."""
        self._require()
        mine = int(self.ib.client.clientId)
        try:
            every = await asyncio.wait_for(self.ib.reqAllOpenOrdersAsync(), 10.0)
        except TimeoutError:
            raise BrokerError("the broker did not list the account's open orders within 10 s") from None
        others = [t for t in every if int(t.order.clientId or 0) != mine]
        own = [t for t in self.ib.openTrades() if int(t.order.clientId or 0) == mine]
        return [convert.order_from_trade(t, self._instrument_of(t.contract), self.provenance)
                for t in [*own, *others]]

    async def completed_orders(self) -> list[Order]:
        """Orders done today as the broker reports them (reqCompletedOrders at connect, and since)."""
        return [convert.order_from_trade(t, self._instrument_of(t.contract), self.provenance)
                for t in self.ib.trades() if t.isDone()]

    async def executions(self) -> list[Fill]:
        self._sweep_fills()
        return [convert.fill_from_ib(f, self._instrument_of(f.contract), self.provenance) for f in self.ib.fills()
                if f.commissionReport is not None and f.commissionReport.execId]

    # --- events ------------------------------------------------------------------------------
    def _hold_sync(self) -> None:
        """From here until ``_release_sync`` order and fill events wait: the client library's connect sync
        replays open orders and executions before the account values say what the session is."""
        self._sync_held = []

    def _release_sync(self, provenance: Provenance) -> None:
        """The session's provenance is known: publish the held events, in their order, stamped with it."""
        self.provenance = provenance
        held, self._sync_held = self._sync_held or [], None
        for event in held:
            if isinstance(event, OrderEvent):
                self.events.publish(OrderEvent(replace(event.order, provenance=provenance)))
            else:
                self.events.publish(FillEvent(replace(event.fill, provenance=provenance)))

    def _publish_trading(self, event: OrderEvent | FillEvent) -> None:
        if self._sync_held is not None:
            self._sync_held.append(event)
        else:
            self.events.publish(event)

    def _on_trade(self, trade: Any) -> None:
        self._publish_trading(OrderEvent(convert.order_from_trade(trade, self._instrument_of(trade.contract),
                                                                  self.provenance)))
        self._sweep_fills()

    def _on_commission(self, trade: Any, fill: Any, report: Any) -> None:
        self._publish_fill(fill)

    def _sweep_fills(self) -> None:
        """Publish fills the client library did not announce.

        ib_async / ib_insync announce a commission report only when they already know the order's
        permanent id; an execution that arrives before its openOrder is stored but never announced."""
        fills = self.ib.wrapper.fills
        if len(fills) < self._fills_seen:  # the client library starts afresh after a reconnect
            self._fills_seen = 0
        if len(fills) > self._fills_seen:
            for exec_id in itertools.islice(fills, self._fills_seen, None):  # the new ones only
                if exec_id not in self._published_fills:
                    self._unpublished.add(exec_id)
            self._fills_seen = len(fills)
        for exec_id in list(self._unpublished):
            fill = fills.get(exec_id)
            if fill is not None:
                self._publish_fill(fill)

    def _publish_fill(self, fill: Any) -> None:
        if fill.commissionReport is None or not fill.commissionReport.execId:
            return  # the commission report follows; published then
        exec_id = fill.execution.execId
        self._unpublished.discard(exec_id)
        if exec_id in self._published_fills:
            return
        self._published_fills.add(exec_id)
        self._publish_trading(FillEvent(convert.fill_from_ib(fill, self._instrument_of(fill.contract), self.provenance)))

    def _on_error(self, req_id: int, code: int, message: str, contract: Any = None, *args: Any) -> None:
        preview = self._previews.get(req_id)
        if preview is not None and code not in INFO_CODES and not preview.done():
            preview.set_exception(BrokerError(f"IB {code}: {message}"))
        trade = next((t for t in self.ib.trades() if t.order.orderId == req_id and req_id > 0
                      and t.order.clientId == self.ib.client.clientId), None)
        self.events.publish(ErrorEvent(code, message, req_id, req_id if trade is not None else 0,
                                       trade.order.orderRef if trade is not None else ""))
