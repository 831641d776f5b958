"""Order ticket: side, quantity, type, prices snapped to tick, TIF, bracket, the broker's preview; sends through the order entry."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from terminal.domain import (
    DomainError,
    Instrument,
    Order,
    OrderPreview,
    OrderRejected,
    OrderSide,
    OrderType,
    Quote,
    TimeInForce,
)
from terminal.ui.order_entry import OrderEntry
from terminal.ui.panels.common import mark_stale, spawn


class PriceField(QLineEdit):
    """A price entry that reads '' as unset and rejects text that is not a finite number."""

    def __init__(self, placeholder: str, parent=None) -> None:
        super().__init__(parent)
        self.setPlaceholderText(placeholder)
        self.setAlignment(Qt.AlignmentFlag.AlignRight)

    def value(self, name: str) -> float | None:
        text = self.text().strip().replace(",", "")
        if not text:
            return None
        try:
            number = float(text)
        except ValueError:
            raise DomainError(f"{name} {text!r} is not a number") from None
        if not math.isfinite(number):
            raise DomainError(f"{name} {text!r} is not a finite number")
        return number

    def set_price(self, value: float, decimals: int) -> None:
        self.setText("" if not math.isfinite(value) else f"{value:.{decimals}f}")


class OrderTicket(QWidget):
    """Builds an Order from the fields; every problem is shown inline and nothing is sent."""

    order_sent = Signal(object)

    def __init__(self, session, entry: OrderEntry | None = None, parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self.session = session
        self.entry = entry or OrderEntry(session, self)
        self.instrument: Instrument | None = None
        self._preview_timer = QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(400)  # ask the broker once the user stops typing
        self._preview_timer.timeout.connect(self._ask_preview)
        self._preview_task = None
        self._pending_preview: Order | None = None  # the order the next broker preview is for
        self.symbol = QLabel("—")
        self.symbol.setStyleSheet("font-weight: bold; font-size: 14px;")
        self.quote_label = QLabel("")
        self.quote_label.setObjectName("preview")
        self.stale = False  # the session's connection is not live: the quote shown is the last received
        self.quantity = QDoubleSpinBox()
        self.quantity.setRange(0, 1e9)
        self.quantity.setDecimals(0)
        self.quantity.setValue(100)
        self.quantity.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.order_type = QComboBox()
        for t in OrderType:
            self.order_type.addItem(t.value, t)
        self.limit_price = PriceField("limit")
        self.stop_price = PriceField("stop / trigger")
        self.trail = PriceField("trail amount, or 1.5%")
        self.tif = QComboBox()
        for tif in TimeInForce:
            self.tif.addItem(tif.value, tif)
        self.outside_rth = QCheckBox("Outside RTH")
        self.bracket = QCheckBox("Bracket")
        self.take_profit = PriceField("take-profit offset")
        self.stop_loss = PriceField("stop-loss offset")
        self.preview = QLabel("")
        self.preview.setObjectName("preview")
        self.preview.setWordWrap(True)
        self.error = QLabel("")
        self.error.setObjectName("error")
        self.error.setWordWrap(True)
        self.buy = QPushButton("BUY")
        self.buy.setObjectName("buy")
        self.sell = QPushButton("SELL")
        self.sell.setObjectName("sell")

        header = QHBoxLayout()
        header.addWidget(self.symbol)
        header.addStretch(1)
        header.addWidget(self.quote_label)
        form = QFormLayout()
        form.addRow("Quantity", self.quantity)
        form.addRow("Type", self.order_type)
        form.addRow("Limit", self.limit_price)
        form.addRow("Stop", self.stop_price)
        form.addRow("Trail", self.trail)
        form.addRow("TIF", self.tif)
        bracket_row = QHBoxLayout()
        bracket_row.addWidget(self.take_profit)
        bracket_row.addWidget(self.stop_loss)
        form.addRow(self.bracket, bracket_row)
        form.addRow("", self.outside_rth)
        buttons = QHBoxLayout()
        buttons.addWidget(self.buy)
        buttons.addWidget(self.sell)
        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addLayout(form)
        layout.addWidget(self.preview)
        layout.addWidget(self.error)
        layout.addLayout(buttons)
        layout.addStretch(1)

        self.buy.clicked.connect(lambda: self.submit(OrderSide.BUY))
        self.sell.clicked.connect(lambda: self.submit(OrderSide.SELL))
        self.order_type.currentIndexChanged.connect(self._type_changed)
        for field in (self.limit_price, self.stop_price, self.trail, self.take_profit, self.stop_loss):
            field.textChanged.connect(self.update_preview)
        self.quantity.valueChanged.connect(self.update_preview)
        self.bracket.toggled.connect(self._type_changed)
        self._type_changed()
        session.status_changed.connect(self.show_status)
        self.show_status(session.status)

    # --- filling the ticket ------------------------------------------------------------
    def set_instrument(self, instrument: Instrument, side: OrderSide | None = None) -> None:
        self.instrument = instrument
        self.symbol.setText(instrument.display_name)
        self.quantity.setDecimals(0 if instrument.lot_size >= 1 else 2)
        if instrument.sec_type.value == "CASH" and self.quantity.value() < 1000:
            self.quantity.setValue(20000)
        elif instrument.sec_type.value == "FUT" and self.quantity.value() > 10:
            self.quantity.setValue(1)
        self.prefill(side)

    def prefill(self, side: OrderSide | None = None) -> None:
        """Prices from the quote, snapped to the tick grid: bid for a buy limit, ask for a sell."""
        if self.instrument is None:
            return
        quote = self.session.market.quotes.get(self.instrument.key)
        if quote is None:
            return
        nd = self.instrument.price_decimals()
        price = quote.bid if side is OrderSide.BUY else quote.ask if side is OrderSide.SELL else quote.last
        if not math.isfinite(price):
            price = quote.reference_price
        if math.isfinite(price):
            self.limit_price.set_price(self.instrument.round_to_tick(price), nd)
        self._show_quote(quote)

    def _show_quote(self, quote: Quote | None) -> None:
        nd = self.instrument.price_decimals() if self.instrument else 2
        text = (f"{quote.bid:.{nd}f} × {quote.ask:.{nd}f}"
                if quote is not None and math.isfinite(quote.bid) and math.isfinite(quote.ask) else "")
        self.quote_label.setText(f"stale {text}" if text and self.stale else text)

    def show_status(self, status) -> None:  # type: ignore[no-untyped-def]
        """Grey the quote and mark it stale while the session's prices are stale (``status.stale``)."""
        if self.stale == status.stale:
            return
        self.stale = status.stale
        mark_stale(self.quote_label, self.stale)
        self.quote_label.setToolTip("the last quote received: the connection is not live" if self.stale else "")
        self._show_quote(self.session.market.quotes.get(self.instrument.key) if self.instrument else None)

    def on_quote(self, instrument: Instrument, quote: Quote) -> None:
        if self.instrument is not None and instrument.key == self.instrument.key:
            self._show_quote(quote)
            if not self.limit_price.text():
                self.prefill()

    def _type_changed(self) -> None:
        order_type = OrderType(self.order_type.currentData())
        self.limit_price.setEnabled(order_type.needs_limit_price)
        self.stop_price.setEnabled(order_type.needs_stop_price)
        self.trail.setEnabled(order_type is OrderType.TRAIL)
        self.take_profit.setEnabled(self.bracket.isChecked())
        self.stop_loss.setEnabled(self.bracket.isChecked())
        self.update_preview()

    # --- building and sending ----------------------------------------------------------
    def build(self, side: OrderSide) -> Order:
        """The order the fields describe; raises DomainError naming the field that is wrong."""
        if self.instrument is None:
            raise DomainError("choose a symbol first (double-click or right-click one in the watchlist)")
        order_type = OrderType(self.order_type.currentData())
        limit = self.limit_price.value("limit price") if order_type.needs_limit_price else None
        stop = self.stop_price.value("stop price") if order_type.needs_stop_price else None
        trail_amount = trail_percent = None
        if order_type is OrderType.TRAIL:
            text = self.trail.text().strip()
            if text.endswith("%"):
                try:
                    trail_percent = float(text[:-1])
                except ValueError:
                    raise DomainError(f"trail {text!r} is not a percentage") from None
            else:
                trail_amount = self.trail.value("trail amount")
        order = Order(
            self.instrument, side, float(self.quantity.value()), order_type,
            limit_price=limit, stop_price=stop, trail_amount=trail_amount, trail_percent=trail_percent,
            time_in_force=TimeInForce(self.tif.currentData()), outside_rth=self.outside_rth.isChecked(), source="ticket",
        )
        order.validate()
        return order

    def update_preview(self) -> None:
        if self.instrument is None:
            self.preview.setText("")
            return
        try:
            order = self.build(OrderSide.BUY)
        except DomainError as exc:
            self.preview.setText("")
            self.error.setText(str(exc))
            return
        self.error.setText("")
        self.preview.setText(f"{self._notional_text(order)}  ·  asking the broker for a preview…")
        self._pending_preview = order
        self._preview_timer.start()

    def _notional_text(self, order: Order) -> str:
        assert self.instrument is not None
        price = order.price_for_notional
        if not math.isfinite(price):
            price = self.session.market.reference_price(self.instrument)
        if not math.isfinite(price):
            return "waiting for a quote"
        notional = order.quantity * price * self.instrument.multiplier
        return f"{order.quantity:g} × {self.instrument.display_name} ≈ {notional:,.2f} {self.instrument.currency}"

    def _ask_preview(self) -> None:
        order = self._pending_preview  # disconnected: the service answers with a labelled local estimate
        if order is None:
            return
        if self._preview_task is not None and not self._preview_task.done():
            self._preview_task.cancel()

        async def ask() -> None:
            preview = await self.session.orders.preview(order)
            if order is self._pending_preview:
                self.show_preview(order, preview)

        self._preview_task = spawn(ask(), lambda exc: self.preview.setText(f"no preview: {exc}"))

    def show_preview(self, order: Order, preview: OrderPreview) -> None:
        """The broker's what-if answer (commission, margin), or the local estimate labelled as one."""
        parts = [self._notional_text(order)]
        currency = preview.commission_currency or (self.instrument.currency if self.instrument else "")
        if preview.source == "broker":
            if math.isfinite(preview.commission):
                parts.append(f"commission {preview.commission:.2f} {currency} (broker)")
            elif math.isfinite(preview.min_commission):
                parts.append(f"commission {preview.min_commission:.2f}–{preview.max_commission:.2f} {currency} (broker)")
            if math.isfinite(preview.initial_margin_change):
                parts.append(f"initial margin {preview.initial_margin_change:+,.0f}")
            if math.isfinite(preview.equity_with_loan_after):
                parts.append(f"equity after {preview.equity_with_loan_after:,.0f}")
            if preview.warning:
                parts.append(f"broker warning: {preview.warning}")
        else:
            parts.append(f"est. commission {preview.commission:.2f} (local estimate: {preview.note})")
        self.preview.setText("  ·  ".join(parts))

    def submit(self, side: OrderSide) -> None:
        """Send the ticket's order (or bracket) through the order entry; problems show inline, nothing is sent."""
        try:
            order = self.build(side)
            self.session.orders.check(order)  # what can be told at once is shown at once; the service checks all
            tp = sl = None
            if self.bracket.isChecked():
                tp = self.take_profit.value("take-profit offset")
                sl = self.stop_loss.value("stop-loss offset")
        except DomainError as exc:  # includes OrderRejected from the risk rules
            self.show_error(exc)
            return
        self.error.setText("")
        if self.bracket.isChecked():
            self.entry.place_bracket(order, tp, sl, self.show_error, self.order_sent.emit)
        else:
            self.entry.place(order, self.show_error, self.order_sent.emit)

    def show_error(self, error: Exception) -> None:
        rule = f"[{error.rule}] " if isinstance(error, OrderRejected) and error.rule != "validation" else ""
        self.error.setText(f"{rule}{error}")
