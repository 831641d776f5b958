"""Small dialogs: risk limits and the TWS / IB Gateway connection."""

from __future__ import annotations

from dataclasses import fields

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
)

from terminal.config import RiskLimits, parse_ib_endpoint

_LABELS = {
    "max_order_quantity": "Max order quantity",
    "max_notional": "Max notional per order",
    "price_band_percent": "Price band around last (%)",
    "max_position": "Max position per symbol",
    "daily_loss_limit": "Daily loss limit",
}


class RiskDialog(QDialog):
    def __init__(self, limits: RiskLimits, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Risk limits")
        self.fields: dict[str, QDoubleSpinBox] = {}
        form = QFormLayout(self)
        for f in fields(RiskLimits):
            box = QDoubleSpinBox()
            box.setRange(0.01, 1e12)
            box.setDecimals(2 if f.name == "price_band_percent" else 0)
            box.setValue(getattr(limits, f.name))
            box.setGroupSeparatorShown(True)
            self.fields[f.name] = box
            form.addRow(_LABELS[f.name], box)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def limits(self) -> RiskLimits:
        return RiskLimits(**{name: box.value() for name, box in self.fields.items()})


class ConnectDialog(QDialog):
    """HOST:PORT and client id of TWS / IB Gateway; the terminal restarts its session on that endpoint."""

    def __init__(self, current: str = "127.0.0.1:7497", client_id: int = 1, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Connect to TWS / IB Gateway")
        self.endpoint = QLineEdit(current)
        self.client_id = QSpinBox()
        self.client_id.setRange(0, 999)
        self.client_id.setValue(client_id)
        self.error = QLabel("")
        self.error.setObjectName("error")
        form = QFormLayout(self)
        form.addRow("Host:port", self.endpoint)
        form.addRow("Client id", self.client_id)
        form.addRow(QLabel("TWS paper 7497, live 7496; IB Gateway paper 4002, live 4001"))
        form.addRow(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._check)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _check(self) -> None:
        try:
            parse_ib_endpoint(self.endpoint.text(), self.client_id.value())
        except ValueError as exc:
            self.error.setText(str(exc))
            return
        self.accept()

    def value(self) -> str:
        host, port, _ = parse_ib_endpoint(self.endpoint.text())
        return f"{host}:{port}:{self.client_id.value()}"
