"""The one place that decides whether an order action needs the user's yes: confirm-orders and double sends.

The order service asks the policy before it sends anything; when the answer is "ask",
it raises ``ConfirmationRequired`` with the question, and the caller (the UI's order
entry, for every path: ticket, ladder, hotkeys, chart drag, close position, cancel all)
asks the user and repeats the call with ``confirmed=True``. Automated callers pass
``confirmed=True`` themselves and own that decision.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from terminal.domain import Order

DUPLICATE_WINDOW_SECONDS = 2.0


class ConfirmationRequired(Exception):  # noqa: N818 - a question, not an error
    """The action waits for the user's yes: ``question`` says what would happen and why we ask."""

    def __init__(self, title: str, question: str, default_no: bool = False) -> None:
        """``default_no``: Enter answers No (a repeat, ending the kill switch: a held key must not say yes)."""
        super().__init__(question)
        self.title = title
        self.question = question
        self.default_no = default_no


class ConfirmationPolicy:
    """Confirm-orders switch plus the double-send guard (same symbol, side and quantity within 2 s)."""

    def __init__(self, confirm_orders: bool = True, duplicate_window: float = DUPLICATE_WINDOW_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.confirm_orders = confirm_orders
        self.duplicate_window = duplicate_window
        self._clock = clock
        self._sent: deque[tuple[str, str, float, float]] = deque(maxlen=64)

    def _duplicate(self, order: Order) -> str:
        now = self._clock()
        for key, side, quantity, when in reversed(self._sent):
            if now - when > self.duplicate_window:
                break
            if (key, side, quantity) == (order.instrument.key, order.side.value, order.quantity):
                return (f"The same order ({order.side.value} {order.quantity:g} {order.instrument.display_name}) "
                        f"was sent {now - when:.1f} s ago.")
        return ""

    def check_new(self, orders: list[Order], confirmed: bool) -> None:
        """Raise ConfirmationRequired unless ``orders`` (one order, or a bracket: parent first) may go."""
        if confirmed:
            return
        duplicate = self._duplicate(orders[0])
        if not (self.confirm_orders or duplicate):
            return
        lines = [order.describe() for order in orders]
        if len(orders) > 1:
            lines = [lines[0]] + [f"  exit: {line}" for line in lines[1:]]
        question = "\n".join(lines)
        if duplicate:
            question += f"\n\n{duplicate} Send it again?"
            raise ConfirmationRequired("Send the same order again?", question, default_no=True)
        raise ConfirmationRequired("Send order?", question + "\n\nSend this order?")

    def check_close(self, order: Order, cancels: int, kill_switch: bool, confirmed: bool) -> None:
        """Close position: asked like a new order, and always while the kill switch is on."""
        if confirmed:
            return
        duplicate = self._duplicate(order)
        if not (self.confirm_orders or duplicate or kill_switch):
            return
        lines = [order.describe()]
        if cancels:
            lines.append(f"First cancels the {cancels} working order(s) in {order.instrument.display_name}.")
        if kill_switch:
            lines.append("The kill switch is on: it blocks new orders, but this one only closes the position.")
        if duplicate:
            lines.append(duplicate)
        title = "Close the position again?" if duplicate else "Close position?"
        raise ConfirmationRequired(title, "\n".join(lines) + "\n\nClose the position?", default_no=bool(duplicate))

    def check_kill_switch_off(self, confirmed: bool) -> None:
        if not confirmed:
            raise ConfirmationRequired("Turn the kill switch off?", "The kill switch blocks every new order. "
                                       "Turn it off and allow orders again?", default_no=True)

    def check_modify(self, before: Order, after: Order, confirmed: bool) -> None:
        if confirmed or not self.confirm_orders:
            return
        raise ConfirmationRequired("Modify order?", f"{before.describe()}\n→ {after.describe()}\n\nModify this order?")

    def check_cancel_all(self, working: int, confirmed: bool, external: int = 0) -> None:
        """Cancel all is a global cancel: the question counts every open order of the account."""
        if confirmed or not self.confirm_orders:
            return
        if working == 0:
            raise ConfirmationRequired("Cancel all orders?", "No working order is known. Send a global cancel to "
                                                             "the broker anyway?")
        outside = f", {external} of them placed outside this terminal (TWS or another client)" if external else ""
        raise ConfirmationRequired("Cancel all orders?", f"Cancel all {working} working order(s){outside}?")

    def check_strategy_start(self, what: str, confirmed: bool) -> None:
        """Starting (or resuming) a strategy live is always asked: from then on it sends orders without asking
        for each (the risk rules still check every one). The yes to this is the yes to its orders."""
        if not confirmed:
            raise ConfirmationRequired("Start the strategy live?", f"{what}\n\nIt sends market orders without "
                                       "asking for each; the risk limits and the kill switch apply to every one. "
                                       "Start it?", default_no=True)

    def sent(self, order: Order) -> None:
        """Remember an accepted order for the double-send guard."""
        self._sent.append((order.instrument.key, order.side.value, order.quantity, self._clock()))
