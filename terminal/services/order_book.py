"""The terminal's orders and fills, kept in step with the broker's events and reconciled at every connect.

Matching: a broker update belongs to the order whose client order id it carries (IB
``orderRef``), else to the order with its permanent id; never to an order that merely
had the same IB order id (a restarted TWS / Gateway reuses them). An update nobody owns
is an order placed outside the terminal and is kept as ``ext-<permId>``. Status only
moves forward through the domain's state machine; a late or repeated event never moves
a Filled order back. A fill is applied once (by execution id); a fill whose order is
not known yet is kept and applied when the order appears.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime

from terminal.broker.events import ErrorEvent
from terminal.domain import Fill, Order, OrderRejected, OrderStatus, Provenance, can_transition
from terminal.services.log import LogService
from terminal.services.reconcile import PositionBook, ReconcileReport
from terminal.services.records import RecordWriter
from terminal.services.signal import Signal

NOT_AT_BROKER = "not at the broker"  # reason prefix of orders reconciliation found gone (revivable)
# IB codes with which a new order (never acknowledged) is refused.
_REJECTS_NEW = frozenset({103, 110, 200, 201, 203, 321, 322, 434})
_EPSILON = 1e-9


def _same(a: Order, b: Order) -> bool:
    return replace(a, updated=None) == replace(b, updated=None)


class OrderBook:
    """``orders`` by client order id, ``fills`` oldest first; events on ``order_changed`` / ``fill_added``."""

    def __init__(self, records: RecordWriter | None, positions: PositionBook, log: LogService) -> None:
        self.records = records
        self.positions = positions
        self._log = log
        self.orders: dict[str, Order] = {}
        self.fills: list[Fill] = []
        self._fill_ids: set[str] = set()
        self._by_perm: dict[int, str] = {}
        self._filled: dict[str, tuple[float, float]] = defaultdict(lambda: (0.0, 0.0))  # quantity, notional
        self._held: dict[str, list[Fill]] = defaultdict(list)  # fills waiting for their order
        self._in_flight: set[str] = set()  # written ahead, not yet handed to the broker
        self.adopt_refs = False  # keep an outside order's client order id as its key (the desk role on the bus)
        self.order_changed: Signal[Order] = Signal("orders.order_changed")
        self.fill_added: Signal[Fill] = Signal("orders.fill_added")
        self.rejected: Signal[tuple[Order, OrderRejected]] = Signal("orders.rejected")
        self.reconciled: Signal[ReconcileReport] = Signal("orders.reconciled")

    # --- state ---------------------------------------------------------------------------------
    def load(self, orders: list[Order], fills: list[Fill], known_executions: set[str]) -> None:
        """Orders (oldest first) and fills from the store; ``known_executions`` are ids the broker may replay."""
        for order in orders:
            self._remember(order)
        for fill in fills:
            self.fills.append(fill)
            self._fill_ids.add(fill.execution_id)
            if fill.client_order_id in self.orders:
                self._count(fill.client_order_id, fill)
            elif not fill.client_order_id:  # stored before its order arrived: still waiting for it
                self._held[self._hold_key(fill)].append(fill)
        self._fill_ids |= known_executions
        for order in orders:
            self.order_changed.emit(self.orders[order.client_order_id])
        for fill in fills:
            self.fill_added.emit(fill)

    def working(self) -> list[Order]:
        return [o for o in self.orders.values() if o.status.is_working]

    def _remember(self, order: Order) -> None:
        self.orders[order.client_order_id] = order
        if order.perm_id:
            self._by_perm[order.perm_id] = order.client_order_id

    def _record(self, order: Order) -> None:
        """Keep, write (outbox) and publish ``order``."""
        self._remember(order)
        if self.records is not None:
            self.records.save_order(order)
        self.order_changed.emit(order)

    def _count(self, key: str, fill: Fill) -> None:
        quantity, notional = self._filled[key]
        self._filled[key] = (quantity + fill.quantity, notional + fill.quantity * fill.price)

    @staticmethod
    def _hold_key(fill: Fill) -> str:
        return fill.client_order_id or f"perm:{fill.perm_id}"

    # --- matching broker events ----------------------------------------------------------------
    def _key_of(self, update: Order) -> str | None:
        if update.client_order_id and update.client_order_id in self.orders:
            return update.client_order_id
        if update.perm_id and update.perm_id in self._by_perm:
            return self._by_perm[update.perm_id]
        return None

    def on_order(self, update: Order) -> str | None:
        """A broker update of an order (status, fills, prices); returns the client order id it belongs to."""
        key = self._key_of(update)
        if key is None:
            return self._external(update)
        merged = self._merge(self.orders[key], update)
        if merged is not None:
            self._record(merged)
        self._release_held(key)
        return key

    def _external(self, update: Order) -> str | None:
        if not update.perm_id:
            return None  # not acknowledged by the broker yet: it will come again with a permanent id
        # On the desk bus with the desk role, another trader's order keeps the client order id the desk knows it by.
        adopt = self.adopt_refs and update.client_order_id and update.client_order_id not in self.orders
        key = update.client_order_id if adopt else f"ext-{update.perm_id}"
        ref = f" (its reference {update.client_order_id!r})" if update.client_order_id else ""
        order = replace(update, client_order_id=key, source="external", created=update.created or datetime.now(UTC),
                        reason=update.reason or f"placed outside this terminal{ref}")
        (self._log.info if adopt else self._log.warning)(
            "orders", f"order placed outside this terminal: {key} {order.describe()} {order.status.value}{ref}")
        self._record(order)
        self._release_held(key, extra=[update.client_order_id] if update.client_order_id else [])
        return key

    def _merge(self, previous: Order, update: Order) -> Order | None:
        """``previous`` as the broker's ``update`` leaves it, or None if nothing changes."""
        if update.side is not previous.side or (update.instrument.contract_id and previous.instrument.contract_id
                                                 and update.instrument.contract_id != previous.instrument.contract_id):
            self._log.error("orders", f"broker update {update.describe()} does not match order "
                                      f"{previous.client_order_id} ({previous.describe()}); ignored")
            return None
        status = previous.status
        if update.status is not previous.status:
            if can_transition(previous.status, update.status):
                status = update.status
            elif previous.status is OrderStatus.INACTIVE and previous.reason.startswith(NOT_AT_BROKER):
                status = update.status
                self._log.warning("orders", f"order {previous.client_order_id} is at the broker after all: "
                                            f"{update.status.value}")
            elif update.filled_quantity <= previous.filled_quantity:
                return None  # a late event: the order has moved on
        filled, average = self._fill_state(previous.client_order_id, previous, update)
        if filled >= previous.quantity - _EPSILON and status.is_working and can_transition(status, OrderStatus.FILLED):
            status = OrderStatus.FILLED
        merged = replace(
            previous, status=status, filled_quantity=filled, average_fill_price=average,
            order_id=update.order_id or previous.order_id, perm_id=update.perm_id or previous.perm_id,
            quantity=update.quantity if update.quantity > 0 else previous.quantity,
            limit_price=update.limit_price if update.limit_price is not None else previous.limit_price,
            stop_price=update.stop_price if update.stop_price is not None else previous.stop_price,
            trail_amount=update.trail_amount if update.trail_amount is not None else previous.trail_amount,
            trail_percent=update.trail_percent if update.trail_percent is not None else previous.trail_percent,
            account=update.account or previous.account, parent_id=update.parent_id or previous.parent_id,
            api_client_id=update.api_client_id or previous.api_client_id,
            oca_group=update.oca_group or previous.oca_group, reason=update.reason or previous.reason,
            updated=update.updated or datetime.now(UTC),
            provenance=previous.provenance if previous.provenance is not Provenance.UNKNOWN else update.provenance,
        )
        merged = replace(merged, quantity=max(merged.quantity, merged.filled_quantity))
        if _same(merged, previous):
            return None
        if merged.status is not previous.status and merged.status in (
            OrderStatus.CANCELLED, OrderStatus.INACTIVE, OrderStatus.API_CANCELLED
        ):
            self._log.warning("orders", f"#{merged.order_id} {merged.status.value}: {merged.describe()} "
                                        f"{merged.reason}".strip())
        return merged

    def _fill_state(self, key: str, previous: Order, update: Order | None = None) -> tuple[float, float]:
        """Filled quantity and average price: the most any source (order, broker, applied fills) knows."""
        filled, average = previous.filled_quantity, previous.average_fill_price
        if update is not None and update.filled_quantity > filled + _EPSILON:
            filled, average = update.filled_quantity, update.average_fill_price or average
        quantity, notional = self._filled[key]
        if quantity > filled + _EPSILON:
            filled, average = quantity, notional / quantity
        return filled, average

    def on_fill(self, fill: Fill) -> bool:
        """Apply an execution once; False if it was applied before."""
        if fill.execution_id in self._fill_ids:
            return False
        self._fill_ids.add(fill.execution_id)
        key = fill.client_order_id if fill.client_order_id in self.orders else self._by_perm.get(fill.perm_id)
        order: Order | None = None
        if key is not None:
            owner = self.orders[key].provenance
            fill = replace(fill, client_order_id=key,
                           provenance=fill.provenance if fill.provenance is not Provenance.UNKNOWN else owner)
            self._count(key, fill)
            order = self._after_fills(key)
        else:
            self._held[self._hold_key(fill)].append(fill)
        self.fills.append(fill)
        book_account = self.positions.on_fill(fill)
        if self.records is not None:
            self.records.save_fill(fill, order or (self.orders.get(key) if key else None), book_account)
        self._log.info("fills", f"filled {fill.side.value} {fill.quantity:g} {fill.instrument.display_name} "
                                f"@ {fill.price:.{fill.instrument.price_decimals()}f} (commission {fill.commission:.2f})"
                                + ("" if key else " — its order is not known yet; kept until it arrives"))
        self.fill_added.emit(fill)
        if order is not None:
            self.order_changed.emit(order)
        return True

    def _after_fills(self, key: str) -> Order | None:
        """The order as its applied fills leave it (kept, not written or published), or None if unchanged."""
        previous = self.orders[key]
        filled, average = self._fill_state(key, previous)
        status = previous.status
        if filled >= previous.quantity - _EPSILON and can_transition(status, OrderStatus.FILLED):
            status = OrderStatus.FILLED
        order = replace(previous, filled_quantity=filled, average_fill_price=average, status=status)
        if _same(order, previous):
            return None
        self._remember(order)
        return order

    def _release_held(self, key: str, extra: list[str] | None = None) -> None:
        order = self.orders[key]
        waiting: list[Fill] = []
        for hold in [key, f"perm:{order.perm_id}", *(extra or [])]:
            waiting += self._held.pop(hold, [])
        if not waiting:
            return
        ids = {f.execution_id for f in waiting}
        self.fills = [replace(f, client_order_id=key) if f.execution_id in ids else f for f in self.fills]
        for fill in waiting:
            self._count(key, fill)
        updated = self._after_fills(key) or order
        if self.records is not None:
            self.records.attach_fills(sorted(ids), updated)
        self._log.info("fills", f"{len(waiting)} fill(s) that came before order {key} applied to it")
        self.order_changed.emit(updated)

    def on_error(self, event: ErrorEvent) -> None:
        """A broker error about one of our orders: a new order it refuses is Inactive (rejected)."""
        key = event.client_order_id if event.client_order_id in self.orders else None
        if key is None:
            return
        order = self.orders[key]
        if order.status is OrderStatus.PENDING_SUBMIT and not order.perm_id and event.code in _REJECTS_NEW \
                and key not in self._in_flight:
            self._record(order.with_status(OrderStatus.INACTIVE, reason=f"rejected by the broker: IB {event.code}: "
                                                                        f"{event.message}", updated=datetime.now(UTC)))

    # --- reconciliation ------------------------------------------------------------------------
    def reconcile(self, open_orders: list[Order], completed_orders: list[Order],
                  executions: list[Fill], client_id: int = 0) -> ReconcileReport:
        """Bring the book in line with what the broker reports after a (re)connect.

        ``open_orders`` are those of every client of the account; ``client_id`` is this connection's. One of
        our orders that another client id placed (the terminal restarted with a new id) stays working, with
        a warning: IB sends its updates to that client only, so here it is brought up to date at each
        reconciliation, and only that client (or a global cancel) can cancel it."""
        before = dict(self.orders)
        seen: set[str | None] = set()
        for update in open_orders:
            key = self.on_order(update)
            seen.add(key)
            order = self.orders.get(key) if key else None
            if order is not None and not order.is_external and client_id and update.api_client_id not in (0, client_id):
                self._log.warning("orders", f"order {key} ({order.describe()}) is working under API client id "
                                            f"{update.api_client_id}, not this terminal's {client_id}: its updates "
                                            "reach this terminal only at reconciliations, and only that client or "
                                            "Cancel all can cancel it")
        seen |= {self.on_order(order) for order in completed_orders}
        new_fills = sum(self.on_fill(fill) for fill in executions)
        inactivated = []
        now = datetime.now(UTC)
        for key, order in list(self.orders.items()):
            if not order.status.is_working or key in seen or key in self._in_flight:
                continue
            why = (f"{NOT_AT_BROKER} after reconnect" if order.perm_id or order.order_id else
                   f"{NOT_AT_BROKER}: it never reached the broker")
            self._record(order.with_status(OrderStatus.INACTIVE, reason=why, updated=now))
            self._log.warning("orders", f"order {key} ({order.describe()}, was {order.status.value}) is Inactive: {why}")
            inactivated.append(key)
        updated = tuple(k for k, o in self.orders.items() if k not in inactivated and
                        (k not in before or not _same(before[k], o)))
        return ReconcileReport(open_orders=len(open_orders), completed_orders=len(completed_orders),
                               executions=len(executions), new_fills=new_fills, updated=updated,
                               inactivated=tuple(inactivated))

    def unapplied_fills(self) -> list[Fill]:
        """Fills still waiting for their order."""
        return [f for waiting in self._held.values() for f in waiting]
