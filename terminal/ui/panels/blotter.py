"""Orders and fills: working orders (modify in place, cancel, cancel all), order history, executions."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from terminal.domain import Order
from terminal.ui.models.records import FILL_COLUMNS, ORDER_COLUMNS, RecordTableModel
from terminal.ui.order_entry import OrderEntry
from terminal.ui.panels.common import make_table, source_row


class ModifyDialog(QDialog):
    """Quantity and price of a working order; the order service checks the result like a new order."""

    def __init__(self, order: Order, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Modify #{order.order_id}")
        nd = order.instrument.price_decimals()
        self.quantity = QDoubleSpinBox()
        self.quantity.setRange(0, 1e9)
        self.quantity.setDecimals(0)
        self.quantity.setValue(order.quantity)
        self.price = QDoubleSpinBox()
        self.price.setRange(0, 1e9)
        self.price.setDecimals(nd)
        self.price.setSingleStep(order.instrument.tick_size)
        self.price.setValue(order.limit_price or order.stop_price or 0.0)
        self.price.setEnabled(order.limit_price is not None or order.stop_price is not None)
        form = QFormLayout(self)
        form.addRow(QLabel(order.describe()))
        form.addRow("Quantity", self.quantity)
        form.addRow("Limit" if order.limit_price is not None else "Stop", self.price)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)


class BlotterPanel(QWidget):
    def __init__(self, session, theme, entry: OrderEntry | None = None, parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self.entry = entry or OrderEntry(session, self)
        self.session = session
        key = lambda o: o.client_order_id  # noqa: E731
        self.working = RecordTableModel(ORDER_COLUMNS, key, theme, newest_first=True)
        self.history = RecordTableModel(ORDER_COLUMNS, key, theme, newest_first=True)
        self.executions = RecordTableModel(FILL_COLUMNS, lambda f: f.execution_id, theme, newest_first=True)
        self.working_view = make_table(self.working)
        self.history_view = make_table(self.history, sortable=True)
        self.fills_view = make_table(self.executions, sortable=True)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.working_view, "Working")
        self.tabs.addTab(self.history_view, "Orders")
        self.tabs.addTab(self.fills_view, "Executions")
        self.modify_button = QPushButton("Modify…")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_all_button = QPushButton("Cancel all")
        self.message = QLabel("")
        self.message.setObjectName("error")
        buttons = QHBoxLayout()
        for b in (self.modify_button, self.cancel_button, self.cancel_all_button):
            buttons.addWidget(b)
        buttons.addWidget(self.message, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.tabs, 1)
        layout.addLayout(buttons)

        self.modify_button.clicked.connect(self.modify_selected)
        self.cancel_button.clicked.connect(self.cancel_selected)
        self.cancel_all_button.clicked.connect(lambda: self.entry.cancel_all(self.show_error))
        self.working_view.doubleClicked.connect(lambda _: self.modify_selected())
        self.working_view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.working_view.customContextMenuRequested.connect(self._menu)
        session.orders.order_changed.connect(self.on_order)
        session.orders.fill_added.connect(self.executions.upsert)
        self.reload()

    def reload(self) -> None:
        orders = sorted(self.session.orders.orders.values(), key=lambda o: o.created.timestamp() if o.created else 0,
                        reverse=True)
        self.working.set_records([o for o in orders if o.status.is_working])
        self.history.set_records(orders)
        self.executions.set_records(reversed(self.session.orders.fills))

    def on_order(self, order: Order) -> None:
        self.history.upsert(order)
        if order.status.is_working:
            self.working.upsert(order)
        else:
            self.working.remove(order.client_order_id)

    def selected_order(self) -> Order | None:
        row = self.working_view.currentIndex().row()
        return self.working.record_at(source_row(self.working_view, row))

    def modify_selected(self) -> None:
        order = self.selected_order()
        if order is None:
            self.show_error(ValueError("select a working order first"))
            return
        dialog = ModifyDialog(order, self)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        price = dialog.price.value() if dialog.price.isEnabled() else None
        self.entry.modify(
            order.client_order_id, self.show_error, quantity=dialog.quantity.value(),
            limit_price=price if order.limit_price is not None else None,
            stop_price=price if order.limit_price is None and order.stop_price is not None else None,
        )

    def cancel_selected(self) -> None:
        order = self.selected_order()
        if order is not None:
            self.entry.cancel(order.client_order_id, self.show_error)

    def _menu(self, pos) -> None:  # type: ignore[no-untyped-def]
        menu = QMenu(self)
        menu.addAction("Modify…", self.modify_selected)
        menu.addAction("Cancel", self.cancel_selected)
        menu.addAction("Cancel all", lambda: self.entry.cancel_all(self.show_error))
        menu.popup(self.working_view.viewport().mapToGlobal(pos))

    def show_error(self, error: Exception) -> None:
        self.message.setText(str(error))
