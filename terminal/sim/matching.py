"""Matching engine and accounts of the simulator.

Rules (IB-like, documented so tests and users know what to expect):
- MKT buys walk the ask levels, sells the bids; only displayed size fills now, the rest
  on later books (partial fills). IOC cancels whatever did not fill at once.
- LMT: the marketable part fills at book prices (price improvement); the rest rests and
  fills when the opposite side reaches the limit, up to the size shown there. In a replay a
  resting limit also fills at its limit when a recorded trade prints through it (``on_trade``).
- STP triggers when last trades through the stop (buy: last >= stop; sell: last <= stop)
  and then behaves as MKT; STP LMT then behaves as LMT at its limit.
- TRAIL: the stop follows the best last price by the trail amount (or percent) and
  never loosens; it triggers like STP.
- Brackets: a child (parent_id set) is held (PreSubmitted) until its parent has filled
  completely, then works. Orders with transmit=False wait until an order of the same
  parent chain arrives with transmit=True. A fill of an order in an OCA group cancels
  the rest of the group (IB ocaType 1). Cancelling a parent cancels its children.
- DAY orders are cancelled by ``end_of_day``; GTC orders stay.
- Commission: stocks 0.0035 USD/share, min 0.35, max 1% of value; futures 0.85 per
  contract; FX 0.2 bp of value, min 2 USD.
- Accounts: average-cost positions; stock fills move cash by the traded value; futures
  only by realized P&L; commissions always. Net liquidation = cash + stock market value +
  unrealized futures P&L; buying power = 4 × (net liquidation − maintenance margin).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from terminal.domain import (
    AccountValue,
    DomainError,
    Fill,
    Instrument,
    Order,
    OrderSide,
    OrderStatus,
    OrderType,
    Position,
    TimeInForce,
)
from terminal.domain.commission import commission_estimate
from terminal.sim.events import BookSnapshot, EngineEvent, Execution, OrderUpdate, Rejection

commission = commission_estimate  # the simulator charges the domain's IB-like schedule


class Accounts:
    """Cash, positions and P&L per account."""

    def __init__(self, starting_cash: float = 1_000_000.0, account_ids: tuple[str, ...] = ("DU1234567",)) -> None:
        self.starting_cash = starting_cash
        self.cash = {a: starting_cash for a in account_ids}
        self.positions: dict[str, dict[int, Position]] = {a: {} for a in account_ids}
        self.marks: dict[int, float] = {}
        self.day_start = {a: starting_cash for a in account_ids}

    def ids(self) -> list[str]:
        return list(self.cash)

    def apply(self, fill: Fill) -> Fill:
        account = fill.account or self.ids()[0]
        book = self.positions.setdefault(account, {})
        ins = fill.instrument
        before = book.get(ins.contract_id, Position(ins, account=account))
        after = before.apply_fill(fill)
        realized = after.realized_pnl - before.realized_pnl + fill.commission  # P&L of this fill, before commission
        if ins.sec_type.value == "FUT":
            self.cash[account] += realized - fill.commission
        else:
            self.cash[account] += -fill.signed_quantity * fill.price * ins.multiplier - fill.commission
        book[ins.contract_id] = replace(after, market_price=self.marks.get(ins.contract_id, fill.price))
        self.marks.setdefault(ins.contract_id, fill.price)
        return replace(fill, realized_pnl=round(realized, 2) if before.quantity and realized else 0.0, account=account)

    def mark(self, contract_id: int, price: float) -> None:
        self.marks[contract_id] = price

    def positions_of(self, account: str) -> list[Position]:
        return [replace(p, market_price=self.marks.get(cid, p.market_price))
                for cid, p in self.positions.get(account, {}).items()]

    def _totals(self, account: str) -> tuple[float, float, float, float]:
        stock_value = unrealized = gross = realized = 0.0
        for p in self.positions_of(account):
            price = p.market_price if math.isfinite(p.market_price) else p.average_cost
            value = p.quantity * price * p.instrument.multiplier
            gross += abs(value)
            pnl = (price - p.average_cost) * p.quantity * p.instrument.multiplier
            unrealized += pnl
            realized += p.realized_pnl
            if p.instrument.sec_type.value != "FUT":
                stock_value += value
        return stock_value, unrealized, gross, realized

    def net_liquidation(self, account: str) -> float:
        stock_value, unrealized, _, _ = self._totals(account)
        futures_pnl = sum((p.market_price - p.average_cost) * p.quantity * p.instrument.multiplier
                          for p in self.positions_of(account) if p.instrument.sec_type.value == "FUT"
                          and math.isfinite(p.market_price))
        return self.cash[account] + stock_value + futures_pnl

    def pnl(self, account: str) -> tuple[float, float, float]:
        """(daily, unrealized, realized)."""
        _, unrealized, _, realized = self._totals(account)
        return self.net_liquidation(account) - self.day_start[account], unrealized, realized

    def values(self, account: str) -> list[AccountValue]:
        net = self.net_liquidation(account)
        _, unrealized, gross, realized = self._totals(account)
        maintenance = 0.25 * gross
        daily = net - self.day_start[account]
        numbers = {
            "NetLiquidation": net, "TotalCashValue": self.cash[account], "BuyingPower": max(0.0, 4 * (net - maintenance)),
            "GrossPositionValue": gross, "UnrealizedPnL": unrealized, "RealizedPnL": realized,
            "AvailableFunds": net - maintenance, "ExcessLiquidity": net - maintenance, "EquityWithLoanValue": net,
            "InitMarginReq": maintenance, "MaintMarginReq": maintenance, "DailyPnL": daily,
        }
        return [AccountValue(account, tag, f"{value:.2f}", "USD") for tag, value in numbers.items()]

    def what_if(self, account: str, instrument: Instrument, signed_quantity: float, price: float,
                fee: float) -> dict[str, float]:
        """Margin and equity before, change and after a hypothetical fill (a what-if order; nothing changes)."""
        net = self.net_liquidation(account)
        _, _, gross, _ = self._totals(account)
        current = self.positions.get(account, {}).get(instrument.contract_id)
        held = current.quantity if current is not None else 0.0
        mark = self.marks.get(instrument.contract_id, price)
        gross_after = gross - abs(held * mark * instrument.multiplier) + abs(
            (held + signed_quantity) * mark * instrument.multiplier)
        margin_before, margin_after = 0.25 * gross, 0.25 * gross_after
        return {"init_before": margin_before, "maint_before": margin_before, "equity_before": net,
                "init_change": margin_after - margin_before, "maint_change": margin_after - margin_before,
                "equity_change": -fee, "init_after": margin_after, "maint_after": margin_after,
                "equity_after": net - fee, "commission": fee}

    def reset_day(self) -> None:
        for account in self.cash:
            self.day_start[account] = self.net_liquidation(account)


@dataclass
class _Working:
    client_id: int
    order: Order
    perm_id: int
    held: bool = False  # bracket child waiting for its parent, or not transmitted yet
    triggered: bool = False
    trail_stop: float = math.nan
    best: float = math.nan


class MatchingEngine:
    """Per-contract order books of working orders, matched against each new BookSnapshot."""

    def __init__(self, accounts: Accounts, clock: Callable[[], datetime] | None = None) -> None:
        self.accounts = accounts
        self._clock = clock or (lambda: datetime.now(UTC))
        # Permanent ids (and the execution ids made from them) stay unique across restarts, as IB's
        # do; order ids are per client and start again after a restart, as a restarted Gateway's may.
        self._perm_ids = itertools.count(time.time_ns() // 1000)
        self._exec_ids = itertools.count(1)
        self.orders: dict[tuple[int, int], _Working] = {}
        self.books: dict[int, BookSnapshot] = {}
        self.executions: list[Execution] = []
        self.submitted_count = 0

    # --- requests --------------------------------------------------------------------------
    def submit(self, client_id: int, order: Order) -> list[EngineEvent]:
        key = (client_id, order.order_id)
        existing = self.orders.get(key)
        if existing is not None:
            return self._modify(existing, order)
        try:
            order.validate()
        except DomainError as exc:
            return [Rejection(client_id, order.order_id, 201, f"Order rejected - reason:{exc}")]
        if not order.account:
            order = replace(order, account=self.accounts.ids()[0])
        elif order.account not in self.accounts.ids():
            return [Rejection(client_id, order.order_id, 201,
                              f"Order rejected - reason:account {order.account} is not managed by this connection")]
        order = replace(order, status=OrderStatus.PENDING_SUBMIT, filled_quantity=0.0, average_fill_price=0.0,
                        created=order.created or self._clock())
        working = _Working(client_id, order, next(self._perm_ids))
        self.orders[key] = working
        self.submitted_count += 1
        events: list[EngineEvent] = []
        parent = self.orders.get((client_id, order.parent_id)) if order.parent_id else None
        if order.parent_id and parent is None:
            del self.orders[key]
            return [Rejection(client_id, order.order_id, 201,
                              f"Order rejected - reason:parent order {order.parent_id} is not known")]
        if not order.transmit:
            working.held = True
            return [self._update(working, OrderStatus.PRE_SUBMITTED, why="not transmitted")]
        # this order transmits its whole chain (parent + earlier children)
        chain = self._chain(client_id, order.parent_id or order.order_id)
        for member in chain:
            member.held = False
        for member in sorted(chain, key=lambda w: w.order.order_id):
            events += self._activate(member)
        if working not in chain:
            events += self._activate(working)
        return events

    def _chain(self, client_id: int, root_id: int) -> list[_Working]:
        """Held (not yet transmitted) orders of a bracket rooted at ``root_id``."""
        return [w for (c, oid), w in self.orders.items()
                if c == client_id and w.held and (oid == root_id or w.order.parent_id == root_id)]

    def _activate(self, working: _Working) -> list[EngineEvent]:
        if working.order.status is not OrderStatus.PENDING_SUBMIT and working.order.status is not OrderStatus.PRE_SUBMITTED:
            return []
        parent = self.orders.get((working.client_id, working.order.parent_id)) if working.order.parent_id else None
        if parent is not None and parent.order.status is not OrderStatus.FILLED:
            return [self._update(working, OrderStatus.PRE_SUBMITTED, why="child")]
        order = working.order
        if order.order_type in (OrderType.STOP, OrderType.STOP_LIMIT, OrderType.TRAIL) and not working.triggered:
            events: list[EngineEvent] = [self._update(working, OrderStatus.PRE_SUBMITTED, why="trigger")]
        else:
            events = [self._update(working, OrderStatus.SUBMITTED)]
        book = self.books.get(order.instrument.contract_id)
        if book is not None:
            events += self._match(working, book)
        if order.time_in_force is TimeInForce.IOC and working.order.status.is_working and (
            working.triggered or order.order_type in (OrderType.MARKET, OrderType.LIMIT)
        ):
            events.append(self._update(working, OrderStatus.CANCELLED))
        return events

    def _modify(self, working: _Working, wanted: Order) -> list[EngineEvent]:
        current = working.order
        if not current.status.is_working:
            return [Rejection(working.client_id, current.order_id, 104 if current.status is OrderStatus.FILLED else 10148,
                              f"Cannot modify a {current.status.value.lower()} order {current.order_id}")]
        if wanted.quantity < current.filled_quantity:
            return [Rejection(working.client_id, current.order_id, 201,
                              f"Order rejected - reason:quantity {wanted.quantity:g} is below the filled "
                              f"{current.filled_quantity:g}")]
        candidate = replace(current, quantity=wanted.quantity, limit_price=wanted.limit_price,
                            stop_price=wanted.stop_price, trail_amount=wanted.trail_amount,
                            trail_percent=wanted.trail_percent, time_in_force=wanted.time_in_force,
                            outside_rth=wanted.outside_rth)
        try:
            candidate.validate()
        except DomainError as exc:
            return [Rejection(working.client_id, current.order_id, 201, f"Order rejected - reason:{exc}")]
        working.order = candidate
        if candidate.order_type is OrderType.TRAIL:
            working.trail_stop = math.nan
        events: list[EngineEvent] = [self._update(working, candidate.status)]
        book = self.books.get(candidate.instrument.contract_id)
        if book is not None and self._live(working):  # a modified bracket exit still waits for its parent
            events += self._match(working, book)
        return events

    def cancel(self, client_id: int, order_id: int) -> list[EngineEvent]:
        working = self.orders.get((client_id, order_id))
        if working is None:
            return [Rejection(client_id, order_id, 10147, f"OrderId {order_id} that needs to be cancelled is not found.")]
        if not working.order.status.is_working:
            return [Rejection(client_id, order_id, 10148,
                              f"OrderId {order_id} that needs to be cancelled cannot be cancelled, state: "
                              f"{working.order.status.value}.")]
        events: list[EngineEvent] = [self._update(working, OrderStatus.CANCELLED)]
        for child in self._children(working):
            if child.order.status.is_working:
                events.append(self._update(child, OrderStatus.CANCELLED))
        return events

    def cancel_all(self) -> list[EngineEvent]:
        events: list[EngineEvent] = []
        for working in list(self.orders.values()):
            if working.order.status.is_working:
                events.append(self._update(working, OrderStatus.CANCELLED))
        return events

    def end_of_day(self) -> list[EngineEvent]:
        events: list[EngineEvent] = []
        for working in list(self.orders.values()):
            if working.order.status.is_working and working.order.time_in_force is TimeInForce.DAY:
                events.append(self._update(working, OrderStatus.CANCELLED))
        self.accounts.reset_day()
        return events

    def open_orders(self, client_id: int | None = None) -> list[OrderUpdate]:
        return [OrderUpdate(w.client_id, w.order, w.perm_id) for w in self.orders.values()
                if w.order.status.is_working and (client_id is None or w.client_id == client_id)]

    def completed_orders(self, client_id: int | None = None) -> list[OrderUpdate]:
        return [OrderUpdate(w.client_id, w.order, w.perm_id) for w in self.orders.values()
                if w.order.status.is_done and (client_id is None or w.client_id == client_id)]

    def executions_of(self, client_id: int | None = None) -> list[Execution]:
        return [e for e in self.executions if client_id is None or e.client_id == client_id]

    def working_contracts(self) -> set[int]:
        return {w.order.instrument.contract_id for w in self.orders.values() if w.order.status.is_working}

    # --- market ----------------------------------------------------------------------------
    def on_book(self, book: BookSnapshot) -> list[EngineEvent]:
        self.books[book.contract_id] = book
        if math.isfinite(book.last):
            self.accounts.mark(book.contract_id, book.last)
        events: list[EngineEvent] = []
        for working in [w for w in self.orders.values()
                        if w.order.instrument.contract_id == book.contract_id and w.order.status.is_working]:
            if working.order.status is not OrderStatus.PENDING_SUBMIT and self._live(working):
                events += self._match(working, book)
        return events

    def on_trade(self, contract_id: int, price: float, size: float, when: datetime) -> list[EngineEvent]:
        """A recorded trade (replay): a resting limit it trades through — a buy limit above the print, a sell
        limit below it — fills at its limit, up to the print's size. Our orders do not move the tape, so
        each resting order sees the whole print; a print at the limit itself fills nothing (queue unknown)."""
        events: list[EngineEvent] = []
        if not (math.isfinite(price) and size > 0):
            return events
        for working in [w for w in self.orders.values()
                        if w.order.instrument.contract_id == contract_id and w.order.status.is_working]:
            order = working.order
            if (order.order_type is not OrderType.LIMIT and not (order.order_type is OrderType.STOP_LIMIT
                                                                 and working.triggered)) \
                    or order.status is OrderStatus.PENDING_SUBMIT or not self._live(working):
                continue
            limit = order.limit_price
            assert limit is not None
            through = price < limit - 1e-9 if order.side is OrderSide.BUY else price > limit + 1e-9
            if through and order.remaining > 0:
                events += self._fill(working, min(order.remaining, size), limit, when)
        return events

    def _live(self, working: _Working) -> bool:
        """Whether the order may trade now: transmitted, and (a bracket exit) its parent has filled."""
        if working.held:
            return False
        parent = self.orders.get((working.client_id, working.order.parent_id)) if working.order.parent_id else None
        return parent is None or parent.order.status is OrderStatus.FILLED

    def _match(self, working: _Working, book: BookSnapshot) -> list[EngineEvent]:
        order = working.order
        events: list[EngineEvent] = []
        if order.order_type in (OrderType.STOP, OrderType.STOP_LIMIT, OrderType.TRAIL) and not working.triggered:
            last = book.last if math.isfinite(book.last) else book.mid
            stop = self._stop_level(working, last)
            hit = last >= stop if order.side is OrderSide.BUY else last <= stop
            if not hit:
                return events
            working.triggered = True
            events.append(self._update(working, OrderStatus.SUBMITTED))
        limit = order.limit_price if order.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None
        levels = book.asks if order.side is OrderSide.BUY else book.bids
        remaining = order.remaining
        for level in levels:
            if remaining <= 0:
                break
            if limit is not None and ((order.side is OrderSide.BUY and level.price > limit + 1e-9) or
                                      (order.side is OrderSide.SELL and level.price < limit - 1e-9)):
                break
            quantity = min(remaining, level.size)
            events += self._fill(working, quantity, level.price, book.time)
            remaining = working.order.remaining
        return events

    def _stop_level(self, working: _Working, last: float) -> float:
        order = working.order
        if order.order_type is not OrderType.TRAIL:
            return order.stop_price  # type: ignore[return-value]
        if not math.isfinite(working.best):
            working.best = last
        working.best = max(working.best, last) if order.side is OrderSide.SELL else min(working.best, last)
        distance = order.trail_amount if order.trail_amount is not None else working.best * order.trail_percent / 100
        candidate = working.best - distance if order.side is OrderSide.SELL else working.best + distance
        candidate = order.instrument.round_to_tick(candidate)
        if not math.isfinite(working.trail_stop):
            working.trail_stop = candidate
        elif order.side is OrderSide.SELL:
            working.trail_stop = max(working.trail_stop, candidate)
        else:
            working.trail_stop = min(working.trail_stop, candidate)
        return working.trail_stop

    def _fill(self, working: _Working, quantity: float, price: float, when: datetime) -> list[EngineEvent]:
        order = working.order
        filled = order.filled_quantity + quantity
        average = (order.average_fill_price * order.filled_quantity + price * quantity) / filled
        fill = Fill(
            execution_id=f"0000e{working.perm_id:07x}.{next(self._exec_ids):08x}.01.01",
            order_id=order.order_id, instrument=order.instrument, side=order.side, quantity=quantity, price=price,
            time=when, commission=commission(order.instrument, quantity, price), account=order.account,
            client_order_id=order.client_order_id,
        )
        fill = self.accounts.apply(fill)
        execution = Execution(working.client_id, fill, working.perm_id, filled, average)
        self.executions.append(execution)
        status = OrderStatus.FILLED if filled >= order.quantity - 1e-9 else OrderStatus.SUBMITTED
        working.order = replace(order, filled_quantity=filled, average_fill_price=average)
        events: list[EngineEvent] = [execution, self._update(working, status, last_fill=price)]
        if status is OrderStatus.FILLED:
            events += self._after_filled(working)
        elif order.oca_group:
            events += self._oca_siblings_cancel(working)
        return events

    def _after_filled(self, working: _Working) -> list[EngineEvent]:
        events: list[EngineEvent] = []
        for child in self._children(working):
            if child.order.status.is_working and not child.held:
                events += self._activate(child)
        events += self._oca_siblings_cancel(working)
        if working.order.parent_id:  # a filled bracket exit cancels the other exits of its parent
            events += [self._update(w, OrderStatus.CANCELLED) for w in list(self.orders.values())
                       if w is not working and w.client_id == working.client_id
                       and w.order.parent_id == working.order.parent_id and w.order.status.is_working]
        return events

    def _oca_siblings_cancel(self, working: _Working) -> list[EngineEvent]:
        group = working.order.oca_group
        if not group:
            return []
        return [self._update(w, OrderStatus.CANCELLED) for w in list(self.orders.values())
                if w is not working and w.client_id == working.client_id and w.order.oca_group == group
                and w.order.status.is_working]

    def _children(self, working: _Working) -> list[_Working]:
        return [w for (c, _), w in self.orders.items()
                if c == working.client_id and w.order.parent_id == working.order.order_id]

    def _update(self, working: _Working, status: OrderStatus, why: str = "", last_fill: float = 0.0) -> OrderUpdate:
        working.order = working.order.with_status(status, updated=self._clock())
        return OrderUpdate(working.client_id, working.order, working.perm_id, last_fill, why)
