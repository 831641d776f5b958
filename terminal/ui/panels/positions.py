"""Positions with average cost, last, unrealized and realized P&L, a close action; account values above."""

from __future__ import annotations

import math

from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from terminal.domain import Account
from terminal.ui.models.records import POSITION_COLUMNS, RecordTableModel
from terminal.ui.panels.common import make_table, source_row, spawn

_ACCOUNT_FIELDS = (
    ("Net liquidation", "net_liquidation"),
    ("Cash", "total_cash"),
    ("Buying power", "buying_power"),
    ("Daily P&L", "daily_pnl"),
    ("Unrealized P&L", "unrealized_pnl"),
    ("Realized P&L", "realized_pnl"),
)


class PositionsPanel(QWidget):
    def __init__(self, session, theme, parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self.session = session
        self.theme = theme
        self.model = RecordTableModel(POSITION_COLUMNS, lambda p: p.instrument.key, theme)
        self.table = make_table(self.model, sortable=True)
        for column, width in enumerate((70, 70, 90, 80, 100, 110, 100)):
            self.table.setColumnWidth(column, width)
        self.account_label = QLabel("Account —")
        self.values: dict[str, QLabel] = {}
        grid = QGridLayout()
        for n, (title, attr) in enumerate(_ACCOUNT_FIELDS):
            caption = QLabel(title)
            caption.setObjectName("preview")
            value = QLabel("—")
            value.setStyleSheet("font-weight: bold;")
            self.values[attr] = value
            grid.addWidget(caption, 0, n)
            grid.addWidget(value, 1, n)
        self.close_button = QPushButton("Close position")
        self.message = QLabel("")
        self.message.setObjectName("error")
        bottom = QHBoxLayout()
        bottom.addWidget(self.close_button)
        bottom.addWidget(self.message, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.account_label)
        layout.addLayout(grid)
        layout.addWidget(self.table, 1)
        layout.addLayout(bottom)
        self.close_button.clicked.connect(self.close_selected)
        session.portfolio.position_changed.connect(self.on_position)
        session.portfolio.account_changed.connect(self.on_account)
        for position in session.portfolio.positions.values():
            self.on_position(position)
        self.on_account(session.portfolio.account)

    def on_position(self, position) -> None:  # type: ignore[no-untyped-def]
        if position.quantity == 0 and position.realized_pnl == 0:
            self.model.remove(position.instrument.key)
        else:
            self.model.upsert(position)

    def on_account(self, account: Account) -> None:
        self.account_label.setText(f"Account {account.account or '—'}  ({account.currency})")
        for attr, label in self.values.items():
            value = getattr(account, attr)
            label.setText("—" if not math.isfinite(value) else f"{value:,.2f}")
            if attr.endswith("pnl") and math.isfinite(value) and value:
                label.setStyleSheet(f"font-weight: bold; color: {self.theme.up if value > 0 else self.theme.down};")

    def close_selected(self) -> None:
        row = source_row(self.table, self.table.currentIndex().row())
        position = self.model.record_at(row)
        if position is None or position.quantity == 0:
            self.message.setText("select an open position first")
            return
        spawn(self.session.orders.close_position(position.instrument), lambda e: self.message.setText(str(e)))
