"""Positions with average cost, last, unrealized and realized P&L, a close action; account values above;
position mismatches found by reconciliation, each blocking its symbol until acknowledged here.

Every tick of a held symbol re-marks its position; the model only records it, and repaints the marked cells
(last, market value, unrealized P&L) at display rate."""

from __future__ import annotations

import math

from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from terminal.domain import Account, Provenance
from terminal.ui.models.records import POSITION_COLUMNS, RecordTableModel
from terminal.ui.order_entry import OrderEntry
from terminal.ui.panels.common import make_table, source_row
from terminal.ui.theme import provenance_badge

_ACCOUNT_FIELDS = (
    ("Net liquidation", "net_liquidation"),
    ("Cash", "total_cash"),
    ("Buying power", "buying_power"),
    ("Daily P&L", "daily_pnl"),
    ("Unrealized P&L", "unrealized_pnl"),
    ("Realized P&L", "realized_pnl"),
)


class PositionsPanel(QWidget):
    def __init__(self, session, theme, entry: OrderEntry | None = None, parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self.session = session
        self.entry = entry or OrderEntry(session, self)
        self.theme = theme
        self.model = RecordTableModel(POSITION_COLUMNS, lambda p: p.instrument.key, theme)
        self.table = make_table(self.model, sortable=True)
        for column, width in enumerate((70, 70, 90, 80, 100, 110, 100)):
            self.table.setColumnWidth(column, width)
        self.account_label = QLabel("Account —")
        self.provenance_label = QLabel("")  # the account's provenance as a badge: SIMULATOR, PAPER, LIVE, REPLAY
        self.provenance_label.hide()
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
        self.mismatch = QLabel("")
        self.mismatch.setObjectName("error")
        self.mismatch.setWordWrap(True)
        self.acknowledge_button = QPushButton("Acknowledge: follow the broker")
        self.acknowledge_button.setToolTip("Accept the broker's quantity for the mismatched position(s) and allow "
                                           "orders in them again")
        mismatch_row = QHBoxLayout()
        mismatch_row.addWidget(self.mismatch, 1)
        mismatch_row.addWidget(self.acknowledge_button)
        self.mismatch_box = QWidget()
        self.mismatch_box.setLayout(mismatch_row)
        self.mismatch_box.hide()
        self.close_button = QPushButton("Close position")
        self.message = QLabel("")
        self.message.setObjectName("error")
        bottom = QHBoxLayout()
        bottom.addWidget(self.close_button)
        bottom.addWidget(self.message, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        heading = QHBoxLayout()
        heading.addWidget(self.provenance_label)
        heading.addWidget(self.account_label, 1)
        layout.addLayout(heading)
        layout.addLayout(grid)
        layout.addWidget(self.mismatch_box)
        layout.addWidget(self.table, 1)
        layout.addLayout(bottom)
        self.close_button.clicked.connect(self.close_selected)
        self.acknowledge_button.clicked.connect(self.acknowledge)
        session.mismatches_changed.connect(self.show_mismatches)
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
        known = account.provenance is not Provenance.UNKNOWN
        self.provenance_label.setText(account.provenance.label)
        self.provenance_label.setStyleSheet(provenance_badge(account.provenance.value))
        self.provenance_label.setVisible(known)
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
        self.message.setText("")
        self.entry.close_position(position.instrument, lambda e: self.message.setText(str(e)))

    def show_mismatches(self, mismatches) -> None:  # type: ignore[no-untyped-def]
        """A banner over the positions: what differs, and that orders in it wait for the acknowledgement."""
        if not mismatches:
            self.mismatch_box.hide()
            return
        lines = [f"Position mismatch — {m.describe()}. Orders in {m.instrument.display_name} are blocked."
                 for m in mismatches]
        self.mismatch.setText("\n".join(lines))
        self.mismatch_box.show()

    def acknowledge(self) -> None:
        for key in list(self.session.positions.mismatches):
            self.session.acknowledge_position(key)
