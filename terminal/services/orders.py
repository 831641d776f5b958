"""Order service: every order — ticket, ladder, hotkey, chart, close position, strategy — is checked, confirmed, recorded and routed here.

One path for every order: the instrument is qualified at the broker; the order gets our
client order id (and bracket children theirs) before anything leaves the process; the
pre-trade risk rules run on it (children and modifies too) with a reference price from
the quote or a broker snapshot; the confirmation policy decides whether the user must
say yes; the order is committed to the store (write-ahead) and only then sent.
The state it keeps in step with the broker is in ``order_book.py``.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from terminal.broker.base import Broker, BrokerError
from terminal.domain import (
    Instrument,
    Order,
    OrderPreview,
    OrderRejected,
    OrderSide,
    OrderStatus,
    OrderType,
    Provenance,
)
from terminal.domain.commission import commission_estimate
from terminal.services.confirmation import ConfirmationPolicy
from terminal.services.log import LogService
from terminal.services.market import MarketService, UnknownSymbol
from terminal.services.order_book import OrderBook
from terminal.services.portfolio import PortfolioService
from terminal.services.reconcile import PositionBook
from terminal.services.records import RecordError, RecordWriter
from terminal.services.risk import RiskChecker, RiskContext


class OrderService(OrderBook):
    """Intents (place, bracket, modify, cancel, close, kill switch, preview) over the order book."""

    def __init__(self, broker: Broker, records: RecordWriter | None, risk: RiskChecker, market: MarketService,
                 portfolio: PortfolioService, log: LogService, positions: PositionBook | None = None,
                 confirmation: ConfirmationPolicy | None = None) -> None:
        super().__init__(records, positions or PositionBook(), log)
        self._broker = broker
        self.risk = risk
        self._market = market
        self._portfolio = portfolio
        self.confirmation = confirmation or ConfirmationPolicy(confirm_orders=False)
        self._sequence = itertools.count(1)
        # While a replay runs, orders go to the replay and nowhere else, stamped with its time (set by the session).
        self.replay_only = False
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self._cancel_epoch = 0  # bumped by every Cancel all: an order recorded before it is never sent after it
        # Unique across runs and terminals: seconds since the epoch plus a random tag, then a counter.
        self._prefix = f"qt{int(time.time()):x}{secrets.token_hex(2)}"

    def use_broker(self, broker: Broker) -> None:
        """The session switched to a broker of another kind (the desk feed, or IB's after it)."""
        self._broker = broker

    def new_client_order_id(self) -> str:
        return f"{self._prefix}-{next(self._sequence)}"

    # --- checks --------------------------------------------------------------------------------
    def _context(self, order: Order, reference: float, exclude: str = "", extra_working: float = 0.0) -> RiskContext:
        key = order.instrument.key
        working = sum(
            o.side.sign * o.remaining for o in self.orders.values()
            if o.status.is_working and o.instrument.key == key and o.client_order_id != exclude and o.parent_id == 0
            and not o.parent_ref
        )
        # The day's P&L of the account this broker session trades, never another session's (simulator vs live).
        account = self._portfolio.account
        daily = self._portfolio.daily_pnl() if account.provenance is self._broker.provenance else math.nan
        return RiskContext(reference_price=reference, position=self._portfolio.position_quantity(order.instrument),
                           working_quantity=working + extra_working, daily_pnl=daily)

    def _risk(self, order: Order, context: RiskContext, why_no_price: str = "") -> None:
        try:
            self.risk.check(order, context)
        except OrderRejected as exc:
            if exc.rule == "no_reference_price" and why_no_price:
                raise OrderRejected(f"{exc} ({why_no_price})", rule=exc.rule) from None
            raise

    def check(self, order: Order) -> None:
        """Raise OrderRejected if ``order`` breaks validation or a risk rule, with what is known now (no snapshot)."""
        reference = self._market.reference_price(order.instrument)
        if not math.isfinite(reference) and order.order_type in (OrderType.MARKET, OrderType.TRAIL):
            order.validate()
            return  # sending it takes a snapshot first
        self._risk(order, self._context(order, reference))

    async def _qualified(self, order: Order) -> Order:
        """The order on a qualified instrument (contract id, tick size from the broker), validated."""
        if not order.instrument.contract_id:
            try:
                instrument = await self._market.qualify(order.instrument)
            except (UnknownSymbol, BrokerError) as exc:
                raise OrderRejected(f"{order.instrument.display_name} is not known at the broker: {exc}",
                                    rule="instrument") from exc
            order = replace(order, instrument=instrument)
        order.validate()
        return order

    def _identify(self, order: Order) -> Order:
        if order.client_order_id and order.client_order_id in self.orders:
            raise OrderRejected(f"client order id {order.client_order_id} is already used by "
                                f"{self.orders[order.client_order_id].describe()}")
        return replace(order, client_order_id=order.client_order_id or self.new_client_order_id(),
                       created=order.created or self.clock(), status=OrderStatus.PENDING_SUBMIT,
                       order_id=0, perm_id=0, filled_quantity=0.0, average_fill_price=0.0)

    def _reject(self, order: Order, error: OrderRejected) -> None:
        self._log.error("risk" if error.rule not in ("validation", "broker", "store") else "orders",
                        f"rejected ({error.rule}): {order.describe()}: {error}")
        self.rejected.emit((order, error))

    # --- new orders ----------------------------------------------------------------------------
    async def place(self, order: Order, confirmed: bool = False) -> Order:
        """Check, confirm, record and send one order. Raises OrderRejected (published too) or ConfirmationRequired."""
        order = self._identify(order)
        try:
            order = await self._qualified(order)
            reference, why = await self._market.reference_price_now(order.instrument)
            self._risk(order, self._context(order, reference), why)
        except OrderRejected as exc:
            self._reject(order, exc)
            raise
        self.confirmation.check_new([order], confirmed)
        self.confirmation.sent(order)
        return (await self._send([order]))[0]

    async def place_bracket(self, parent: Order, take_profit_offset: float | None, stop_loss_offset: float | None,
                            confirmed: bool = False) -> list[Order]:
        """Parent plus take-profit (limit) and stop-loss (stop) exits at offsets from the entry price.

        Offsets are positive distances of at least one tick; every order of the bracket carries its
        client order id before it is sent and passes the risk rules (exits with the parent counted)."""
        parent = self._identify(parent)
        try:
            parent = await self._qualified(parent)
            reference, why = await self._market.reference_price_now(parent.instrument)
            entry = next((p for p in (parent.limit_price, parent.stop_price, reference)
                          if p is not None and math.isfinite(p)), math.nan)
            if not math.isfinite(entry):
                raise OrderRejected(f"bracket needs an entry price: give a limit price or wait for a quote "
                                    f"of {parent.instrument.display_name}{f' ({why})' if why else ''}")
            children = self._bracket_children(parent, entry, take_profit_offset, stop_loss_offset)
            self._bracket_risk(parent, children, reference, why)
        except OrderRejected as exc:
            self._reject(parent, exc)
            raise
        return await self._send_bracket(parent, children, confirmed)

    async def place_group(self, parent: Order, children: list[Order], confirmed: bool = False) -> list[Order]:
        """A bracket whose exits were built elsewhere (a terminal on the desk hub): every order keeps the client
        order id it came with and passes the same checks as a bracket placed here."""
        parent = self._identify(parent)
        children = [self._identify(child) for child in children]
        try:
            parent = await self._qualified(parent)
            children = [replace(child, instrument=parent.instrument) for child in children]
            for child in children:
                child.validate()
            reference, why = await self._market.reference_price_now(parent.instrument)
            self._bracket_risk(parent, children, reference, why)
        except OrderRejected as exc:
            self._reject(parent, exc)
            raise
        return await self._send_bracket(parent, children, confirmed)

    def _bracket_risk(self, parent: Order, children: list[Order], reference: float, why: str) -> None:
        context = self._context(parent, reference)
        self._risk(parent, context, why)
        with_parent = replace(context, working_quantity=context.working_quantity + parent.signed_quantity)
        for child in children:
            self._risk(child, with_parent, why)

    async def _send_bracket(self, parent: Order, children: list[Order], confirmed: bool) -> list[Order]:
        self.confirmation.check_new([parent, *children], confirmed)
        self.confirmation.sent(parent)
        placed = await self._send([parent, *children])
        self._log.info("orders", f"bracket sent: {parent.describe()} with {len(children)} exit order(s)")
        return placed

    def _bracket_children(self, parent: Order, entry: float, take_profit: float | None,
                          stop_loss: float | None) -> list[Order]:
        ins, sign = parent.instrument, parent.side.sign
        nd = ins.price_decimals()
        children = []
        for label, offset, order_type in (("take-profit", take_profit, OrderType.LIMIT),
                                          ("stop-loss", stop_loss, OrderType.STOP)):
            if offset is None:
                continue
            if not (math.isfinite(offset) and offset > 0):
                raise OrderRejected(f"{label} offset {offset:g} must be a positive distance from the entry price "
                                    f"{entry:.{nd}f}")
            if offset < ins.tick_size - 1e-12:
                raise OrderRejected(f"{label} offset {offset:g} is less than one tick ({ins.tick_size:g}) of "
                                    f"{ins.display_name}")
            direction = sign if order_type is OrderType.LIMIT else -sign
            price = ins.round_to_tick(entry + direction * offset)
            if (price - entry) * direction <= 0:
                raise OrderRejected(f"{label} price {price:.{nd}f} is not beyond the entry price {entry:.{nd}f}")
            is_limit = order_type is OrderType.LIMIT
            suffix = "tp" if is_limit else "sl"
            children.append(Order(ins, parent.side.opposite, parent.quantity, order_type,
                                  limit_price=price if is_limit else None, stop_price=None if is_limit else price,
                                  time_in_force=parent.time_in_force, oca_group=f"oca-{parent.client_order_id}",
                                  source=parent.source, client_order_id=f"{parent.client_order_id}-{suffix}",
                                  parent_ref=parent.client_order_id, created=parent.created))
        if not children:
            raise OrderRejected("bracket needs a take-profit or stop-loss offset")
        for child in children:
            child.validate()
        return children

    async def _send(self, orders: list[Order], closing: bool = False) -> list[Order]:
        """Write ahead, then send (as a bracket when there are children); every failure leaves a final state.

        The kill switch and Cancel all are checked again between the write-ahead and the send: one given
        while the order was being recorded (up to 5 s on a locked database) must stop it too."""
        keys = [o.client_order_id for o in orders]
        epoch = self._cancel_epoch
        if not self._broker.is_connected:  # said at once, and nothing is recorded for an order never sent
            error = OrderRejected("not sent: not connected to the broker (reconnecting); try again when the status "
                                  "bar says connected", rule="broker")
            self._reject(orders[0], error)
            raise error
        if self.replay_only and self._broker.provenance is not Provenance.REPLAY:
            error = OrderRejected(f"not sent: a replay is running, and this connection is "
                                  f"{self._broker.provenance.label}, not the replay; orders go only to the replay "
                                  "until it is ended (File → End replay)", rule="replay")
            self._reject(orders[0], error)
            raise error
        # Recorded as the session's it is sent to: simulator orders never pass for live ones.
        orders = [replace(o, provenance=self._broker.provenance) for o in orders]
        self._in_flight.update(keys)
        try:
            for order in orders:
                self._remember(order)
                self.order_changed.emit(order)
            try:
                if self.records is not None:
                    for order in orders:
                        await self.records.write_ahead(order)
            except RecordError as exc:
                self._fail(keys, f"not sent: {exc}", "store")
            if self.risk.kill_switch and not closing:
                self._fail(keys, "not sent: the kill switch was switched on while it was being recorded",
                           "kill_switch", OrderStatus.CANCELLED)
            if self._cancel_epoch != epoch:
                self._fail(keys, "not sent: Cancel all was given while it was being recorded", "cancel_all",
                           OrderStatus.CANCELLED)
            if self.replay_only and self._broker.provenance is not Provenance.REPLAY:
                self._fail(keys, "not sent: a replay started while it was being recorded; it goes only to the replay",
                           "replay", OrderStatus.CANCELLED)
            try:
                if len(orders) > 1:
                    sent = await self._broker.place_bracket(orders[0], *orders[1:])
                else:
                    sent = [await self._broker.place(orders[0])]
            except BrokerError as exc:
                self._fail(keys, f"not sent: {exc}", "broker")
        finally:
            self._in_flight.difference_update(keys)
        result = []
        for order in sent:
            current = self.orders[order.client_order_id]
            current = replace(current, order_id=order.order_id, parent_id=order.parent_id, transmit=order.transmit)
            self._record(current)
            result.append(current)
        self._log.info("orders", f"sent #{result[0].order_id} {result[0].client_order_id}: {result[0].describe()}")
        return result

    def _fail(self, keys: list[str], reason: str, rule: str, status: OrderStatus = OrderStatus.INACTIVE) -> None:
        for key in keys:
            order = self.orders[key]
            if order.status.is_working:
                self._record(order.with_status(status, reason=reason, updated=self.clock()))
        error = OrderRejected(reason, rule=rule)
        self._reject(self.orders[keys[0]], error)
        raise error

    # --- changes to working orders -------------------------------------------------------------
    async def modify(self, client_order_id: str, quantity: float | None = None, limit_price: float | None = None,
                     stop_price: float | None = None, confirmed: bool = False) -> Order:
        """Change a working order in place; what remains after the change passes the same checks as a new order."""
        current = self.orders.get(client_order_id)
        if current is None or not current.status.is_working:
            raise OrderRejected(f"order {client_order_id} is not working and cannot be modified")
        changes: dict = {}
        if quantity is not None:
            changes["quantity"] = quantity
        if limit_price is not None:
            changes["limit_price"] = limit_price
        if stop_price is not None:
            changes["stop_price"] = stop_price
        wanted = replace(current, **changes)
        try:
            if wanted.quantity <= current.filled_quantity + 1e-9:
                raise OrderRejected(f"quantity {wanted.quantity:g} must be above the {current.filled_quantity:g} "
                                    f"already filled of order {client_order_id}; cancel it to stop the rest")
            remaining = replace(wanted, quantity=wanted.quantity - current.filled_quantity, filled_quantity=0.0)
            reference, why = await self._market.reference_price_now(current.instrument)
            parent = self.orders.get(current.parent_ref) if current.parent_ref else None
            extra = parent.side.sign * parent.remaining if parent is not None and parent.status.is_working else 0.0
            self._risk(remaining, self._context(remaining, reference, exclude=client_order_id, extra_working=extra),
                       why)
        except OrderRejected as exc:
            self._reject(wanted, exc)
            raise
        self.confirmation.check_modify(current, wanted, confirmed)
        try:
            sent = await self._broker.modify(wanted)
        except BrokerError as exc:
            rejected = OrderRejected(f"not modified: {exc}", rule="broker")
            self._reject(wanted, rejected)
            raise rejected from exc
        latest = self.orders[client_order_id]
        updated = replace(latest, quantity=wanted.quantity, limit_price=wanted.limit_price,
                          stop_price=wanted.stop_price, order_id=sent.order_id or latest.order_id)
        self._record(updated)
        self._log.info("orders", f"modified #{updated.order_id} {client_order_id}: {updated.describe()}")
        return updated

    async def cancel(self, client_order_id: str) -> None:
        """Cancel one working order at the broker (found by its client order id, never by IB id alone)."""
        order = self.orders.get(client_order_id)
        if order is None or not order.status.is_working:
            self._log.warning("orders", f"order {client_order_id} is not working; nothing to cancel")
            return
        if client_order_id in self._in_flight:
            raise OrderRejected(f"order {client_order_id} is being sent; cancel it once the broker has it")
        try:
            await self._broker.cancel(order)
        except BrokerError as exc:
            self._log.warning("orders", f"cancel of {client_order_id} not sent: {exc}")
            raise OrderRejected(f"not cancelled: {exc}", rule="broker") from exc

    async def cancel_all(self, confirmed: bool = False) -> int:
        """Global cancel at the broker: every open order of the account, ours and those of other clients and TWS.

        The account's open orders are listed afresh first, so the question counts what will be cancelled;
        an order still being recorded is stopped before it is sent."""
        if not self._broker.is_connected:
            raise OrderRejected("nothing cancelled: not connected to the broker (reconnecting); try again when the "
                                "status bar says connected", rule="broker")
        try:
            for update in await self._broker.open_orders():
                self.on_order(update)
        except BrokerError as exc:
            self._log.warning("orders", f"cancel all: the account's open orders could not be listed ({exc}); "
                                        "counting those this terminal knows")
        working = self.working()
        external = sum(o.is_external for o in working)
        self.confirmation.check_cancel_all(len(working), confirmed, external)
        self._cancel_epoch += 1
        try:
            await self._broker.cancel_all()
        except BrokerError as exc:
            raise OrderRejected(f"nothing cancelled: {exc}", rule="broker") from exc
        self._log.warning("orders", f"cancel all: {len(working)} working order(s)"
                                    + (f", {external} of them placed outside this terminal" if external else ""))
        return len(working)

    def set_kill_switch(self, on: bool) -> asyncio.Task | None:
        """On: block new orders at once, record it, and cancel every working order (the returned task); off:
        allow orders again.

        The state is kept in the store, so a restart keeps orders blocked. Switched on while the broker is
        away, the cancel happens at the reconciliation after the connection is back (``after_reconcile``)."""
        if not on and not self.risk.kill_switch:  # already off (switching on again cancels again)
            return None
        self.risk.kill_switch = on
        written = (self.records.save_value("kill_switch", {"on": on, "since": datetime.now(UTC).isoformat()})
                   if self.records is not None else None)
        if not on:
            self._log.warning("risk", "kill switch off: orders allowed again")
            return None
        self._log.error("risk", "KILL SWITCH ON: cancelling all orders, new orders blocked")
        return asyncio.ensure_future(self._kill(written))

    async def reset_kill_switch(self, confirmed: bool = False) -> None:
        """Allow orders again: always asked (a key pressed twice must not end an emergency stop)."""
        if not self.risk.kill_switch:
            return
        self.confirmation.check_kill_switch_off(confirmed)
        self.set_kill_switch(False)

    async def _kill(self, written: asyncio.Future | None) -> int:
        if written is not None:
            await asyncio.shield(written)  # the switch is durable before anything else happens
        if not self._broker.is_connected:
            self._log.error("risk", "kill switch: not connected to the broker, so no order could be cancelled "
                                    "yet; every working order is cancelled as soon as the connection is back")
            return 0
        try:
            return await self.cancel_all(confirmed=True)
        except OrderRejected as exc:
            self._log.error("risk", f"kill switch: {exc}; it is tried again at the next reconciliation")
            return 0

    async def after_reconcile(self) -> None:
        """With the kill switch on, nothing may stay working at the broker: cancel what reconciliation found."""
        working = self.working()
        if self.risk.kill_switch and working:
            self._log.error("risk", f"kill switch is on and {len(working)} order(s) are working at the broker: "
                                    "cancelling all")
            await self._kill(None)

    def _position_now(self, instrument: Instrument) -> float:
        """The position as our applied fills leave it (ahead of the broker's position message), else the broker's."""
        expected = self.positions.quantity(self._portfolio.account.account, instrument.key)
        return expected if expected is not None else self._portfolio.position_quantity(instrument)

    async def close_position(self, instrument: Instrument, confirmed: bool = False,
                             cancel_timeout: float = 5.0) -> Order | None:
        """Flatten: cancel this terminal's working orders in the instrument, then a market order for what is left.

        Cancelling first means no exit left working can later open a position the other way, and a second
        Close (a double click) replaces the first's order instead of closing twice. A close only takes risk
        off, so of the risk rules only the position-mismatch block applies (``RiskChecker.check_close``)."""
        position = self._position_now(instrument)
        if position == 0:
            return None
        side = OrderSide.SELL if position > 0 else OrderSide.BUY
        order = Order(instrument, side, abs(position), OrderType.MARKET, source="close position")
        mine = [o for o in self.working() if o.instrument.key == instrument.key and not o.is_external]
        self.confirmation.check_close(order, len(mine), self.risk.kill_switch, confirmed)
        if instrument.key in self.risk.blocked:
            error = OrderRejected(self.risk.blocked[instrument.key], rule="position_mismatch")
            self._reject(order, error)
            raise error
        for working in mine:
            await self.cancel_and_wait(working, cancel_timeout)
        position = self._position_now(instrument)  # fills may have come while the cancels were on their way
        if position == 0:
            self._log.info("orders", f"close position: {instrument.display_name} is already flat")
            return None
        order = self._identify(replace(order, side=OrderSide.SELL if position > 0 else OrderSide.BUY,
                                       quantity=abs(position)))
        try:
            order = await self._qualified(order)
            self.risk.check_close(order, position)
        except OrderRejected as exc:
            self._reject(order, exc)
            raise
        self.confirmation.sent(order)
        return (await self._send([order], closing=True))[0]

    async def cancel_and_wait(self, order: Order, timeout: float, why: str = "close position") -> None:
        """Cancel ``order`` and wait until it is done (cancelled, or filled on the way); OrderRejected if it is
        still working after ``timeout``. An order being sent is cancelled once it is out; a cancel the broker
        refuses because the order has just filled is no error once the fill is in."""
        key = order.client_order_id
        deadline = time.monotonic() + timeout
        while key in self._in_flight and time.monotonic() < deadline:  # being sent: cancel it once it is out
            await asyncio.sleep(0.02)
        if self.orders[key].status.is_working:
            try:
                await self.cancel(key)
            except OrderRejected:
                if not await self._done_within(key, min(1.0, max(0.0, deadline - time.monotonic()))):
                    raise
        if not await self._done_within(key, max(0.0, deadline - time.monotonic())):
            error = OrderRejected(f"{why}: {self.orders[key].describe()} was not cancelled within {timeout:g} s, "
                                  "so no closing order was sent", rule="broker")
            self._reject(order, error)
            raise error

    async def _done_within(self, key: str, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while self.orders[key].status.is_working:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    # --- previews ------------------------------------------------------------------------------
    async def preview(self, order: Order, timeout: float = 3.0) -> OrderPreview:
        """The broker's what-if answer for ``order``; a local estimate, labelled so, when it gives none."""
        try:
            order = await self._qualified(order)
            return await self._broker.what_if(replace(order, client_order_id="preview"), timeout)
        except (BrokerError, OrderRejected) as exc:
            price = order.price_for_notional
            if not math.isfinite(price):
                price = self._market.reference_price(order.instrument)
            return OrderPreview(commission=commission_estimate(order.instrument, order.quantity, price),
                                source="estimate", note=f"the broker gave no preview: {exc}")
