"""How every UI path sends order actions: the order service decides whether to ask, this asks the user.

Ticket, ladder, hotkeys, chart drags, close position, modify and cancel all call these
methods. The service raises ``ConfirmationRequired`` when its policy wants a yes
(Confirm orders on, or the same order sent again within two seconds); the question is
shown in an application-modal box opened without a nested event loop, so quotes and
order events keep flowing while it is up, and on Yes the same call runs again confirmed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from terminal.domain import Instrument, Order
from terminal.services.confirmation import ConfirmationRequired
from terminal.ui.panels.common import spawn

ErrorHandler = Callable[[Exception], None]


class OrderEntry(QObject):
    """The UI's single entry point for orders; ``asked`` carries each confirmation box as it opens."""

    asked = Signal(object)

    def __init__(self, session: Any, parent: QWidget) -> None:
        super().__init__(parent)
        self.session = session
        self._parent = parent
        self.dialog: QMessageBox | None = None

    # --- actions -------------------------------------------------------------------------------
    def place(self, order: Order, on_error: ErrorHandler, on_done: Callable[[Any], None] | None = None) -> None:
        self.run(lambda confirmed: self.session.orders.place(order, confirmed=confirmed), on_error, on_done)

    def place_bracket(self, order: Order, take_profit: float | None, stop_loss: float | None, on_error: ErrorHandler,
                      on_done: Callable[[Any], None] | None = None) -> None:
        self.run(lambda confirmed: self.session.orders.place_bracket(order, take_profit, stop_loss, confirmed=confirmed),
                 on_error, on_done)

    def modify(self, client_order_id: str, on_error: ErrorHandler, on_declined: Callable[[], None] | None = None,
               **changes: float | None) -> None:
        self.run(lambda confirmed: self.session.orders.modify(client_order_id, confirmed=confirmed, **changes),
                 on_error, on_declined=on_declined)

    def close_position(self, instrument: Instrument, on_error: ErrorHandler) -> None:
        self.run(lambda confirmed: self.session.orders.close_position(instrument, confirmed=confirmed), on_error)

    def cancel_all(self, on_error: ErrorHandler) -> None:
        self.run(lambda confirmed: self.session.orders.cancel_all(confirmed=confirmed), on_error)

    def cancel(self, client_order_id: str, on_error: ErrorHandler) -> None:
        spawn(self.session.orders.cancel(client_order_id), on_error)

    # --- the question --------------------------------------------------------------------------
    def run(self, action: Callable[[bool], Awaitable[Any]], on_error: ErrorHandler,
            on_done: Callable[[Any], None] | None = None, on_declined: Callable[[], None] | None = None) -> None:
        """Run ``action(False)``; if the service asks, ask the user and run ``action(True)`` on Yes."""

        async def attempt(confirmed: bool) -> None:
            try:
                result = await action(confirmed)
            except ConfirmationRequired as question:
                if confirmed:  # the policy asked twice for the same yes: a bug, never send
                    raise
                self._ask(question, lambda: spawn(attempt(True), on_error), on_declined)
                return
            if on_done is not None:
                on_done(result)

        spawn(attempt(False), on_error)

    def ask(self, question: ConfirmationRequired, on_yes: Callable[[], object]) -> None:
        """Ask ``question`` in the same box as an order's (not an order: a replay of a trade, say)."""
        self._ask(question, on_yes, None)

    def _ask(self, question: ConfirmationRequired, on_yes: Callable[[], object],
             on_no: Callable[[], None] | None) -> None:
        box = QMessageBox(QMessageBox.Icon.Question, question.title, question.question,
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self._parent)
        box.setObjectName("confirm_order")
        # A repeated order (or ending the kill switch) defaults to No: a held key or a double click must
        # not say yes by Enter.
        box.setDefaultButton(QMessageBox.StandardButton.No if question.default_no else QMessageBox.StandardButton.Yes)
        box.setWindowModality(Qt.WindowModality.ApplicationModal)

        def answered(_: int) -> None:
            clicked = box.clickedButton()
            yes = clicked is not None and box.standardButton(clicked) == QMessageBox.StandardButton.Yes
            self.dialog = None
            box.deleteLater()
            if yes:
                on_yes()
            elif on_no is not None:
                on_no()

        box.finished.connect(answered)
        self.dialog = box
        box.open()
        self.asked.emit(box)
