"""Small dialogs: risk limits, the connection (TWS, IB Gateway or the desk hub on Kafka), and About."""

from __future__ import annotations

from dataclasses import dataclass, fields

from PySide6.QtCore import Qt, qVersion
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
)

from terminal.config import RiskLimits, parse_feed_url, parse_ib_endpoint

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


@dataclass(frozen=True)
class ConnectChoice:
    """Where the connect dialog asks to trade: TWS / IB Gateway at ``ib`` (HOST:PORT:CLIENT_ID), or the desk
    hub on the Kafka bus ``feed`` (kafka://HOST:PORT) as ``trader`` ('' = the trader setting or login name)."""

    ib: str = ""
    feed: str = ""
    trader: str = ""


TWS, GATEWAY, DESK_HUB = "TWS", "IB Gateway", "Desk hub (Kafka)"
_DEFAULT_PORTS = {TWS: "127.0.0.1:7497", GATEWAY: "127.0.0.1:4002"}  # the paper-trading ports
_HINTS = {
    TWS: "TWS paper 7497, live 7496.",
    GATEWAY: "IB Gateway paper 4002, live 4001.",
    DESK_HUB: "The desk hub (quant-terminal hub --kafka HOST:PORT) holds the broker connection: quotes come "
              "from the bus, orders go to the hub under the desk's limits.",
}


class ConnectDialog(QDialog):
    """TWS, IB Gateway (HOST:PORT and client id) or the desk hub (kafka://HOST:PORT and trader); the session
    leaves its connection for the chosen one at once (``choice()``), the window stays up."""

    def __init__(self, current: str = "127.0.0.1:7497", client_id: int = 1, feed: str = "", trader: str = "",
                 parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Connect")
        self.setMinimumWidth(460)
        self.kinds = {kind: QRadioButton(kind) for kind in (TWS, GATEWAY, DESK_HUB)}
        kinds = QHBoxLayout()
        for button in self.kinds.values():
            kinds.addWidget(button)
            button.toggled.connect(lambda on: on and self._kind_changed())
        kinds.addStretch(1)
        self.endpoint = QLineEdit(current)
        self.client_id = QSpinBox()
        self.client_id.setRange(0, 999)
        self.client_id.setValue(client_id)
        self.feed = QLineEdit(feed or "kafka://127.0.0.1:9092")
        self.feed.setPlaceholderText("kafka://HOST:PORT")
        self.trader = QLineEdit(trader)
        self.trader.setPlaceholderText("your login name")
        self.hint = QLabel("")
        self.hint.setWordWrap(True)
        self.hint.setObjectName("preview")
        self.error = QLabel("")
        self.error.setObjectName("error")
        self.error.setWordWrap(True)
        self.form = QFormLayout(self)
        self.form.addRow(kinds)
        self.form.addRow("Host:port", self.endpoint)
        self.form.addRow("Client id", self.client_id)
        self.form.addRow("Desk bus", self.feed)
        self.form.addRow("Trader", self.trader)
        self.form.addRow(self.hint)
        self.form.addRow(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._check)
        buttons.rejected.connect(self.reject)
        self.form.addRow(buttons)
        start = DESK_HUB if feed else GATEWAY if current == _DEFAULT_PORTS[GATEWAY] else TWS
        self.kinds[start].setChecked(True)

    @property
    def kind(self) -> str:
        return next((kind for kind, button in self.kinds.items() if button.isChecked()), TWS)

    def choose(self, kind: str) -> None:
        self.kinds[kind].setChecked(True)

    def _kind_changed(self) -> None:
        kind = self.kind
        desk = kind == DESK_HUB
        for widget, shown in ((self.endpoint, not desk), (self.client_id, not desk), (self.feed, desk),
                              (self.trader, desk)):
            self.form.setRowVisible(widget, shown)
        if not desk and self.endpoint.text().strip() in _DEFAULT_PORTS.values():
            self.endpoint.setText(_DEFAULT_PORTS[kind])  # the other one's default port: this one's instead
        self.hint.setText(_HINTS[kind])
        self.error.setText("")

    def _check(self) -> None:
        try:
            self.choice()
        except ValueError as exc:
            self.error.setText(str(exc))
            return
        self.accept()

    def choice(self) -> ConnectChoice:
        """What was chosen; ConfigError (a ValueError) names the field that is wrong."""
        if self.kind == DESK_HUB:
            return ConnectChoice(feed=parse_feed_url(self.feed.text()), trader=self.trader.text().strip())
        return ConnectChoice(ib=self.value())

    def value(self) -> str:
        host, port, _ = parse_ib_endpoint(self.endpoint.text())
        return f"{host}:{port}:{self.client_id.value()}"


class AboutDialog(QDialog):
    """Help → About: the version, the versions a bug report needs (Qt, the IB client, the engines) and where
    this copy keeps its data; "Copy for a bug report" puts all of it on the clipboard as text."""

    def __init__(self, icon, where: list[tuple[str, str]], parent=None) -> None:  # type: ignore[no-untyped-def]
        from terminal import __version__
        from terminal.versions import build_kind, component_versions

        super().__init__(parent)
        self.setWindowTitle("About QuantTerminal")
        self.rows = [("Version", __version__), ("Build", build_kind()), ("Qt runtime", qVersion()),
                     *component_versions(), *where]
        layout = QVBoxLayout(self)
        head = QHBoxLayout()
        logo = QLabel()
        logo.setPixmap(icon.pixmap(64, 64))
        head.addWidget(logo)
        title = QLabel(f"<b style='font-size:16pt'>QuantTerminal {__version__}</b><br>"
                       "Trading terminal for Interactive Brokers, with a built-in exchange simulator")
        title.setWordWrap(True)
        head.addWidget(title, 1)
        layout.addLayout(head)
        form = QFormLayout()
        for label, value in self.rows:
            text = QLabel(value)
            text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            form.addRow(label, text)
        layout.addLayout(form)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        copy = QPushButton("Copy for a bug report")
        copy.clicked.connect(self.copy)
        buttons.addButton(copy, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def text(self) -> str:
        return "\n".join(f"{label}: {value}" for label, value in self.rows)

    def copy(self) -> None:
        QApplication.clipboard().setText(self.text())
