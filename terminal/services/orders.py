"""Order service: every order, manual or from a strategy or the chart, is validated, risk-checked, routed and recorded here."""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from dataclasses import replace
from datetime import UTC, datetime

from terminal.domain import Fill, Order, OrderRejected, OrderSide, OrderStatus, OrderType
from terminal.services.log import LogService
from terminal.services.market import MarketService
from terminal.services.portfolio import PortfolioService
from terminal.services.risk import RiskChecker, RiskContext
from terminal.services.signal import Signal


class OrderService:
    """Owns the order book of this terminal: ``orders`` by client order id, ``fills`` newest last."""

    def __init__(self, broker, store, risk: RiskChecker, market: MarketService, portfolio: PortfolioService,
                 log: LogService) -> None:  # type: ignore[no-untyped-def]
        self._broker = broker
        self._store = store
        self.risk = risk
        self._market = market
        self._portfolio = portfolio
        self._log = log
        self.orders: dict[str, Order] = {}
        self.fills: list[Fill] = []
        self._fill_ids: set[str] = set()
        self._sequence = itertools.count(1)
        self._prefix = f"qt{int(time.time()):x}"
        self.order_changed: Signal[Order] = Signal("orders.order_changed")
        self.fill_added: Signal[Fill] = Signal("orders.fill_added")
        self.rejected: Signal[tuple[Order, OrderRejected]] = Signal("orders.rejected")

    async def load_history(self) -> None:
        """Orders and fills from the store, so the blotter survives a restart."""
        if self._store is None:
            return
        orders, fills = await asyncio.to_thread(lambda: (self._store.orders.list(), self._store.fills.list()))
        for order in reversed(orders):
            self.orders[order.client_order_id] = order
            self.order_changed.emit(order)
        for fill in reversed(fills):
            self.fills.append(fill)
            self._fill_ids.add(fill.execution_id)
            self.fill_added.emit(fill)

    def _new_id(self) -> str:
        return f"{self._prefix}-{next(self._sequence)}"

    def working(self) -> list[Order]:
        return [o for o in self.orders.values() if o.status.is_working]

    def _context(self, order: Order, exclude: str = "") -> RiskContext:
        key = order.instrument.key
        working = sum(
            o.side.sign * o.remaining
            for o in self.orders.values()
            if o.status.is_working and o.instrument.key == key and o.client_order_id != exclude and o.parent_id == 0
        )
        return RiskContext(
            reference_price=self._market.reference_price(order.instrument),
            position=self._portfolio.position_quantity(order.instrument),
            working_quantity=working,
            daily_pnl=self._portfolio.daily_pnl(),
        )

    def check(self, order: Order) -> None:
        """Raise OrderRejected if ``order`` breaks validation or a risk rule (used for previews too)."""
        self.risk.check(order, self._context(order))

    async def place(self, order: Order) -> Order:
        """Validate, risk-check, send. Raises OrderRejected (and publishes it) if it may not go out."""
        order = replace(order, client_order_id=order.client_order_id or self._new_id(),
                        created=order.created or datetime.now(UTC), status=OrderStatus.PENDING_SUBMIT)
        try:
            self.risk.check(order, self._context(order))
        except OrderRejected as exc:
            self._reject(order, exc)
            raise
        return await self._send(order)

    async def place_bracket(self, parent: Order, take_profit_offset: float | None,
                            stop_loss_offset: float | None) -> list[Order]:
        """Parent plus take-profit (limit) and stop-loss (stop) children at offsets from the entry price."""
        entry = parent.limit_price if parent.limit_price is not None else self._market.reference_price(parent.instrument)
        if not math.isfinite(entry):
            raise OrderRejected("bracket needs an entry price: give a limit price or wait for a quote", rule="validation")
        parent = replace(parent, client_order_id=parent.client_order_id or self._new_id(),
                         created=parent.created or datetime.now(UTC))
        ins, exit_side = parent.instrument, parent.side.opposite
        sign = parent.side.sign
        children: list[Order] = []
        oca = f"oca-{parent.client_order_id}"
        if take_profit_offset:
            children.append(Order(ins, exit_side, parent.quantity, OrderType.LIMIT,
                                  limit_price=ins.round_to_tick(entry + sign * take_profit_offset),
                                  time_in_force=parent.time_in_force, oca_group=oca, source=parent.source))
        if stop_loss_offset:
            children.append(Order(ins, exit_side, parent.quantity, OrderType.STOP,
                                  stop_price=ins.round_to_tick(entry - sign * stop_loss_offset),
                                  time_in_force=parent.time_in_force, oca_group=oca, source=parent.source))
        try:
            self.risk.check(parent, self._context(parent))
            for child in children:
                child.validate()
        except OrderRejected as exc:
            self._reject(parent, exc)
            raise
        sent = await self._broker.place_bracket(parent, *children) if children else [await self._broker.place(parent)]
        placed = []
        for original, result in zip([parent, *children], sent, strict=False):
            result = replace(result, client_order_id=result.client_order_id or original.client_order_id or self._new_id(),
                             created=original.created or datetime.now(UTC), source=original.source)
            self._record(result)
            placed.append(result)
        self._log.info("orders", f"bracket sent: {parent.describe()} with {len(children)} exit order(s)")
        return placed

    async def _send(self, order: Order) -> Order:
        from terminal.broker.base import BrokerError

        try:
            sent = await self._broker.place(order)
        except BrokerError as exc:
            rejected = OrderRejected(f"not sent: {exc}", rule="broker")
            self._reject(order, rejected)
            raise rejected from exc
        sent = replace(sent, client_order_id=order.client_order_id, created=order.created, source=order.source)
        self._record(sent)
        self._log.info("orders", f"sent #{sent.order_id}: {sent.describe()}")
        return sent

    async def modify(self, client_order_id: str, quantity: float | None = None, limit_price: float | None = None,
                     stop_price: float | None = None) -> Order:
        """Change a working order in place; the new version passes the same checks as a new order."""
        current = self.orders.get(client_order_id)
        if current is None or not current.status.is_working:
            raise OrderRejected(f"order {client_order_id} is not working and cannot be modified", rule="validation")
        changes: dict = {}
        if quantity is not None:
            changes["quantity"] = quantity
        if limit_price is not None:
            changes["limit_price"] = limit_price
        if stop_price is not None:
            changes["stop_price"] = stop_price
        wanted = replace(current, **changes)
        if wanted.quantity < current.filled_quantity:
            raise OrderRejected(f"quantity {wanted.quantity:g} is below the filled {current.filled_quantity:g}")
        try:
            self.risk.check(wanted, self._context(wanted, exclude=client_order_id))
        except OrderRejected as exc:
            self._reject(wanted, exc)
            raise
        sent = await self._broker.modify(wanted)
        sent = replace(sent, client_order_id=client_order_id, created=current.created, source=current.source)
        self._record(sent)
        self._log.info("orders", f"modified #{sent.order_id}: {sent.describe()}")
        return sent

    async def cancel(self, client_order_id: str) -> None:
        order = self.orders.get(client_order_id)
        if order is None or not order.status.is_working:
            self._log.warning("orders", f"order {client_order_id} is not working; nothing to cancel")
            return
        await self._broker.cancel(order.order_id)

    async def cancel_all(self) -> int:
        working = self.working()
        await self._broker.cancel_all()
        self._log.warning("orders", f"cancel all: {len(working)} working order(s)")
        return len(working)

    def set_kill_switch(self, on: bool) -> asyncio.Task | None:
        """On: block new orders at once and cancel every working order (the returned task); off: allow again."""
        self.risk.kill_switch = on
        if not on:
            self._log.warning("risk", "kill switch off: orders allowed again")
            return None
        self._log.error("risk", "KILL SWITCH ON: cancelling all orders, new orders blocked")
        return asyncio.ensure_future(self.cancel_all())

    async def close_position(self, instrument) -> Order | None:  # type: ignore[no-untyped-def]
        quantity = self._portfolio.position_quantity(instrument)
        if quantity == 0:
            return None
        side = OrderSide.SELL if quantity > 0 else OrderSide.BUY
        return await self.place(Order(instrument, side, abs(quantity), OrderType.MARKET, source="close position"))

    # --- from the broker -----------------------------------------------------------------
    def _reject(self, order: Order, error: OrderRejected) -> None:
        self._log.error("risk" if error.rule != "validation" else "orders",
                        f"rejected ({error.rule}): {order.describe()}: {error}")
        self.rejected.emit((order, error))

    def _record(self, order: Order) -> None:
        self.orders[order.client_order_id] = order
        if self._store is not None:
            self._store_write(self._store.orders.save, order)
        self.order_changed.emit(order)

    def on_order(self, order: Order) -> None:
        """An order update from the broker (status, fills); matched to ours by client order id or IB id."""
        key = order.client_order_id
        if not key:
            key = next((k for k, o in self.orders.items() if o.order_id == order.order_id and o.order_id), "")
        previous = self.orders.get(key) if key else None
        if previous is not None:
            order = replace(order, client_order_id=key, created=previous.created, source=previous.source)
        elif not key:
            order = replace(order, client_order_id=f"ib-{order.order_id}", created=order.created or datetime.now(UTC),
                            source="external")
        if previous is not None and previous.status != order.status and order.status in (
            OrderStatus.CANCELLED, OrderStatus.INACTIVE, OrderStatus.API_CANCELLED
        ):
            self._log.warning("orders", f"#{order.order_id} {order.status.value}: {order.describe()} {order.reason}".strip())
        self._record(order)

    def on_fill(self, fill: Fill) -> None:
        if fill.execution_id in self._fill_ids:
            return  # executions are replayed after a reconnect
        self._fill_ids.add(fill.execution_id)
        self.fills.append(fill)
        if self._store is not None:
            self._store_write(self._store.fills.save, fill)
        self._log.info("fills", f"filled {fill.side.value} {fill.quantity:g} {fill.instrument.display_name} "
                                f"@ {fill.price:.{fill.instrument.price_decimals()}f} (commission {fill.commission:.2f})")
        self.fill_added.emit(fill)

    def _store_write(self, function, value) -> None:  # type: ignore[no-untyped-def]
        """Write to the store off the loop, in order, logging (not raising) a failure."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(_store_executor(), function, value)
        future.add_done_callback(self._store_done)

    def _store_done(self, future) -> None:  # type: ignore[no-untyped-def]
        if future.exception() is not None:
            self._log.error("store", f"could not save to the store: {future.exception()}")


_EXECUTOR = None


def _store_executor():  # type: ignore[no-untyped-def]
    """One writer thread: store writes keep their order and never block the event loop."""
    global _EXECUTOR
    if _EXECUTOR is None:
        from concurrent.futures import ThreadPoolExecutor

        _EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-writer")
    return _EXECUTOR
