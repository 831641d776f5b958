"""Chart panel: the ChartWidget fed by the history service and live quotes, with the user's fills, orders and drawings;
a STALE badge in its toolbar while the session's connection is not live."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime

import pandas as pd
from PySide6.QtCore import QBuffer, QIODevice, QTimer
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QLabel, QProgressBar, QVBoxLayout, QWidget

from terminal.domain import Bar, BarSize, DomainError, Instrument, Quote
from terminal.ui.chart import DARK as CHART_DARK
from terminal.ui.chart import LIGHT as CHART_LIGHT
from terminal.ui.chart import ChartWidget
from terminal.ui.order_entry import OrderEntry
from terminal.ui.panels.common import spawn
from terminal.ui.theme import STALE_BADGE

BASE_BAR_SIZE = BarSize.MIN_1


class ChartPanel(QWidget):
    def __init__(self, session, theme, entry: OrderEntry | None = None, parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self.entry = entry or OrderEntry(session, self)
        self.session = session
        self.instrument: Instrument | None = None
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setMaximumHeight(4)
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.message = QLabel("")
        self.message.setObjectName("error")
        self.message.hide()
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(0)
        self._layout.addWidget(self.progress)
        self._layout.addWidget(self.message)
        self.theme = theme
        self.chart = self._new_chart(theme)
        self._bar: Bar | None = None
        self._bar_volume_start = math.nan
        self._load_task: asyncio.Task | None = None
        self._empty_size: BarSize | None = None  # history came back empty: the first quote starts the chart
        session.market.quote_updated.connect(self._on_quote)
        session.orders.order_changed.connect(lambda _: self._show_orders())
        session.orders.fill_added.connect(self._on_fill)
        self._snapshot_for: list[str] = []  # executions waiting for the chart's picture (one grab serves a burst)
        self._snapshot_timer = QTimer(self, singleShot=True, interval=150)  # the fill's arrow drawn first
        self._snapshot_timer.timeout.connect(self._take_snapshot)
        self._snapshot_waits = 0
        session.status_changed.connect(self.show_status)
        self.show_status(session.status)

    def _new_chart(self, theme) -> ChartWidget:  # type: ignore[no-untyped-def]
        chart = ChartWidget(theme=CHART_LIGHT if theme.name == "light" else CHART_DARK)
        chart.order_line_moved.connect(self._order_line_moved)
        chart.alert_requested.connect(self._alert_requested)
        chart.drawings_changed.connect(self._save_drawings)
        chart.history_requested.connect(lambda size: self._load(size))
        for kind in ("SMA", "Bollinger"):
            chart.add_study(kind)
        stale = QLabel("STALE")
        stale.setStyleSheet(STALE_BADGE)
        stale.setToolTip("Not live: the last bar is from the last price received, until the connection is back")
        chart.toolbar.addSeparator()
        self.stale_badge = chart.toolbar.addWidget(stale)  # the action: shown while the connection is not live
        self.stale_badge.setVisible(self.session.status.stale)
        self._layout.addWidget(chart, 1)
        return chart

    def show_status(self, status) -> None:  # type: ignore[no-untyped-def]
        """The toolbar's STALE badge while the session's prices are stale (``status.stale``)."""
        self.stale_badge.setVisible(status.stale)

    def set_theme(self, theme) -> None:  # type: ignore[no-untyped-def]
        self.theme = theme
        old = self.chart
        self.chart = self._new_chart(theme)
        old.setParent(None)
        old.deleteLater()
        if self.instrument is not None:
            instrument, self.instrument = self.instrument, None
            self.show_instrument(instrument)

    # --- loading -----------------------------------------------------------------------------
    def show_instrument(self, instrument: Instrument) -> None:
        if self.instrument is not None and self.instrument.key == instrument.key:
            return
        self.instrument = instrument
        self._bar = None
        self._load(BASE_BAR_SIZE)

    def _load(self, bar_size: BarSize) -> None:
        if self._load_task is not None and not self._load_task.done():
            self._load_task.cancel()
        self._load_task = spawn(self.load(bar_size), self._show_error)

    async def load(self, bar_size: BarSize = BASE_BAR_SIZE) -> None:
        """History for the current instrument in the background, with progress; then marks and drawings."""
        instrument = self.instrument
        if instrument is None:
            return
        self.progress.setValue(0)
        self.progress.show()
        self.message.hide()
        try:
            frame = await self.session.history.bars(instrument, bar_size,
                                                    progress=lambda f: self.progress.setValue(int(f * 100)))
        finally:
            self.progress.hide()
        if self.instrument is None or instrument.key != self.instrument.key:
            return
        if frame.empty:
            if self.session.replay is not None:  # at the start of a recording: the replay's quotes will draw it
                self._empty_size = bar_size
                return
            self._show_error(DomainError(f"no {bar_size.short} history for {instrument.display_name}"))
            return
        self._empty_size = None
        self.chart.set_data(frame, instrument, bar_size)
        self.chart.show_last(150)
        self.chart.set_fills([f for f in self.session.orders.fills if f.instrument.key == instrument.key])
        self._show_orders()
        self.chart.load_drawings(await self.session.workspace.drawings(instrument))

    # --- live --------------------------------------------------------------------------------
    def reload(self) -> None:
        """History again for the instrument shown (the broker changed: a replay began or ended)."""
        if self.instrument is not None:
            self._bar = None
            self._load(self.chart.base.bar_size if len(self.chart.base) else BASE_BAR_SIZE)

    def _on_quote(self, item) -> None:  # type: ignore[no-untyped-def]
        instrument, quote = item
        if self.instrument is None or instrument.key != self.instrument.key:
            return
        price = quote.last if math.isfinite(quote.last) else quote.mid
        if not math.isfinite(price):
            return
        if len(self.chart.base) == 0:
            if self._empty_size is None:
                return
            self._start_from(quote, price, self._empty_size)
            return
        self.chart.on_bar(self._live_bar(quote, price))

    def _start_from(self, quote: Quote, price: float, bar_size: BarSize) -> None:
        """No history before this quote (a replay at its start): the chart begins with this quote's bar."""
        assert self.instrument is not None
        now = quote.time or datetime.now(UTC)
        start = pd.Timestamp((int(now.timestamp()) // bar_size.seconds) * bar_size.seconds, unit="s", tz="UTC")
        frame = pd.DataFrame({"open": [price], "high": [price], "low": [price], "close": [price], "volume": [0.0]},
                             index=pd.DatetimeIndex([start], name="time"))
        self._empty_size = None
        self.chart.set_data(frame, self.instrument, bar_size)

    def _live_bar(self, quote: Quote, price: float) -> Bar:
        """The current base-size bar grown by this quote (volume from the change in day volume)."""
        base = self.chart.base.bar_size
        now = quote.time or datetime.now(UTC)
        seconds = base.seconds
        start = datetime.fromtimestamp((int(now.timestamp()) // seconds) * seconds, UTC)
        last_time = pd.Timestamp(int(self.chart.base.times[-1]), tz="UTC").to_pydatetime()
        if start < last_time:
            start = last_time
        bar = self._bar
        day_volume = quote.volume if math.isfinite(quote.volume) else math.nan
        if bar is None or bar.time != start:
            if bar is None and start == last_time:
                row = self.chart.base.bar_at(len(self.chart.base) - 1)
                o, h, lo, volume = row[1], row[2], row[3], row[5]
            else:
                o = h = lo = price
                volume = 0.0
            self._bar_volume_start = day_volume - volume if math.isfinite(day_volume) else math.nan
            bar = Bar(start, o, max(h, price), min(lo, price), price, volume, base)
        else:
            volume = bar.volume
            if math.isfinite(day_volume) and math.isfinite(self._bar_volume_start):
                volume = max(volume, day_volume - self._bar_volume_start)
            bar = Bar(start, bar.open, max(bar.high, price), min(bar.low, price), price, volume, base)
        self._bar = bar
        return bar

    def _on_fill(self, fill) -> None:  # type: ignore[no-untyped-def]
        if self.instrument is not None and fill.instrument.key == self.instrument.key:
            self.chart.add_fill(fill)
            self._snapshot_for.append(fill.execution_id)  # the journal's chart at entry and exit
            self._snapshot_timer.start()

    def _take_snapshot(self) -> None:
        if len(self.chart.series) == 0 and self._snapshot_waits < 40:  # history still loading: wait for the bars
            self._snapshot_waits += 1
            self._snapshot_timer.start()
            return
        self._snapshot_waits = 0
        executions, self._snapshot_for = self._snapshot_for, []
        if executions and self.chart.isVisible():
            spawn(self._store_snapshot(executions, self.chart.grab().toImage()))

    async def _store_snapshot(self, executions: list[str], image: QImage) -> None:
        png = await asyncio.to_thread(_png, image)  # encoding off the loop; the grab itself was on it
        for execution_id in executions:
            await self.session.journal.save_snapshot(execution_id, png)

    def _show_orders(self) -> None:
        if self.instrument is None:
            return
        working = [o for o in self.session.orders.working() if o.instrument.key == self.instrument.key]
        self.chart.show_orders(working)

    # --- user actions on the chart -----------------------------------------------------------
    def _order_line_moved(self, order_id: object, price: float) -> None:
        """A dragged order line modifies the order through the same risk checks as the ticket."""
        order = next((o for o in self.session.orders.working() if o.client_order_id == order_id), None)
        if order is None:
            return
        price = order.instrument.round_to_tick(price)  # the chart may not know the tick size yet
        changes = {"limit_price": price} if order.limit_price is not None else {"stop_price": price}

        def failed(error: Exception) -> None:
            self._show_error(error)
            self._show_orders()  # the line goes back to where the order really is

        self.entry.modify(order.client_order_id, failed, on_declined=self._show_orders, **changes)

    def _alert_requested(self, price: float) -> None:
        if self.instrument is None:
            return
        try:
            self.session.alerts.add(self.instrument, price, self.session.market.reference_price(self.instrument))
        except DomainError as exc:
            self._show_error(exc)

    def _save_drawings(self) -> None:
        if self.instrument is not None:
            spawn(self.session.workspace.save_drawings(self.instrument, self.chart.drawings_to_list()), self._show_error)

    def _show_error(self, error: Exception) -> None:
        self.message.setText(str(error))
        self.message.show()
        self.session.log.warning("chart", str(error))


def _png(image: QImage) -> bytes:
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return bytes(buffer.data().data())
