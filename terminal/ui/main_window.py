"""The terminal window: docked panels, menus, hotkeys, status bar, and the workspace saved in the store."""

from __future__ import annotations

import math
import time
from datetime import datetime
from functools import partial

from PySide6.QtCore import QByteArray, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QDialog,
    QDockWidget,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QTextEdit,
    QWidget,
)

from terminal.domain import Instrument, Order, OrderSide, OrderType, Provenance
from terminal.ui.dialogs import AboutDialog, ConnectChoice, ConnectDialog, RiskDialog
from terminal.ui.order_entry import OrderEntry
from terminal.ui.panels.blotter import BlotterPanel
from terminal.ui.panels.common import spawn
from terminal.ui.panels.depth import DepthPanel
from terminal.ui.panels.log import LogPanel
from terminal.ui.panels.positions import PositionsPanel
from terminal.ui.panels.replay_bar import DISPLAY_ZONE
from terminal.ui.panels.ticket import OrderTicket
from terminal.ui.panels.watchlist import WatchlistPanel
from terminal.ui.theme import STALE_BADGE, THEMES, apply_theme, provenance_badge


class MainWindow(QMainWindow):
    def __init__(self, session, theme_name: str = "dark") -> None:  # type: ignore[no-untyped-def]
        super().__init__()
        self.session = session
        self.theme = THEMES[theme_name]
        self.setWindowTitle("QuantTerminal")
        self.setDockNestingEnabled(True)
        self.resize(1600, 960)
        self.docks: dict[str, QDockWidget] = {}

        self.entry = OrderEntry(session, self)  # every order action of every panel goes through it
        self.watchlist = WatchlistPanel(session, self.theme)
        self.ticket = OrderTicket(session, self.entry)
        self.depth = DepthPanel(session, self.theme, self.entry)
        self.blotter = BlotterPanel(session, self.theme, self.entry)
        self.positions = PositionsPanel(session, self.theme, self.entry)
        self.log_panel = LogPanel(session, self.theme)
        self.chart = self._make_chart()
        self.setCentralWidget(self.chart)
        # The ticket and the ladder take the right edge top to bottom: a ladder needs height (it showed
        # two rows when the blotter took the bottom right corner).
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        self._dock("Watchlist", self.watchlist, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._dock("Order ticket", self.ticket, Qt.DockWidgetArea.RightDockWidgetArea)
        self._dock("Depth", self.depth, Qt.DockWidgetArea.RightDockWidgetArea)
        self._dock("Orders", self.blotter, Qt.DockWidgetArea.BottomDockWidgetArea)
        self._dock("Positions", self.positions, Qt.DockWidgetArea.BottomDockWidgetArea)
        self._dock("Log", self.log_panel, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.tabifyDockWidget(self.docks["Positions"], self.docks["Log"])
        self._add_research_docks()
        self.docks["Positions"].raise_()
        self.resizeDocks([self.docks["Watchlist"], self.docks["Order ticket"]], [560, 330], Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["Orders"]], [300], Qt.Orientation.Vertical)
        self.resizeDocks([self.docks["Order ticket"], self.docks["Depth"]], [330, 600], Qt.Orientation.Vertical)
        # the blotter's tab group holds the optimizer and results too: it gets the wider share of the bottom
        self.resizeDocks([self.docks["Orders"], self.docks["Positions"]], [880, 470], Qt.Orientation.Horizontal)
        self._default_state = self.saveState()

        self._build_menus()
        self._build_status_bar()
        self._build_replay_bar()
        self._hotkeys()
        self.watchlist.open_chart.connect(self.show_instrument)
        self.watchlist.selected.connect(self.show_instrument)
        self.watchlist.trade.connect(self.trade)
        session.market.quote_updated.connect(lambda item: self.ticket.on_quote(*item))
        session.log.added.connect(self._on_log)
        session.status_changed.connect(lambda _: self._update_status())
        session.alerts.fired.connect(lambda alert: self.statusBar().showMessage(f"ALERT {alert.describe()}", 15000))
        session.orders.reconciled.connect(self._on_reconciled)
        self.current: Instrument | None = None
        self._workspace_saved = False

    # --- construction ----------------------------------------------------------------------
    def _make_chart(self) -> QWidget:
        from terminal.ui.panels.chart import ChartPanel

        return ChartPanel(self.session, self.theme, self.entry)

    def _add_research_docks(self) -> None:
        from terminal.ui import review
        from terminal.ui.panels.data import DataPanel
        from terminal.ui.panels.journal import JournalPanel
        from terminal.ui.panels.step_through import StepThroughPanel
        from terminal.ui.panels.strategies import StrategiesPanel
        from terminal.ui.research.analytics_panel import AnalyticsPanel
        from terminal.ui.research.editor_panel import StrategyEditorPanel
        from terminal.ui.research.optimizer_panel import OptimizerPanel
        from terminal.ui.research.results_panel import ResultsPanel

        self.editor = StrategyEditorPanel(self.session, self.theme)
        self.data = DataPanel(self.session, self.theme)
        self.results = ResultsPanel(self.session, self.theme)
        self.analytics = AnalyticsPanel(self.session, self.theme)
        self.optimizer = OptimizerPanel(self.session, self.theme, self.editor)
        self.journal = JournalPanel(self.session, self.theme)
        self.step_panel = StepThroughPanel(self.theme)
        self.strategies = StrategiesPanel(self.session, self.theme, self.entry, self.editor)
        for title, widget in (("Strategy editor", self.editor), ("Strategies", self.strategies),
                              ("Backtest results", self.results),
                              ("Optimizer", self.optimizer), ("Analytics", self.analytics), ("Journal", self.journal),
                              ("Step-through", self.step_panel), ("Data", self.data)):
            self._dock(title, widget, Qt.DockWidgetArea.BottomDockWidgetArea)
            self.tabifyDockWidget(self.docks["Orders"], self.docks[title])
        self.docks["Orders"].raise_()
        self.editor.run_finished.connect(self._backtest_finished)
        self.results.show_trade.connect(self._show_backtest_trade)
        self.journal.show_trade.connect(lambda trip: spawn(self._chart_journal_trade(trip), self._show_error))
        self.journal.replay_trade.connect(lambda t: spawn(review.replay_trade(self, t), self.journal.show_error))
        self.results.step_through.connect(self.step_through)
        self.step_panel.ended.connect(self._end_step_through)
        self.docks["Journal"].visibilityChanged.connect(self.journal.shown)  # synced when first opened, not at start
        self.analytics.backtest_pair.connect(self._backtest_pair)
        self.optimizer.use_params.connect(lambda _: self.docks["Strategy editor"].raise_())

    def _backtest_finished(self, run: dict) -> None:
        self.results.add_run(run)
        self.docks["Backtest results"].raise_()

    def _show_backtest_trade(self, run: dict, trade: dict) -> None:
        """Put the run's trades on the chart of the traded symbol and jump to the clicked one."""
        spawn(self._chart_backtest(trade["symbol"], run, trade), self._show_error)

    async def _chart_backtest(self, symbol: str, run: dict, trade: dict) -> None:
        import pandas as pd

        from terminal.ui.chart import TradeMark

        found = await self.session.workspace.find_symbol(symbol)
        if not found:
            raise ValueError(f"no stored instrument {symbol}")
        chart = self.chart.chart
        frame = await self.session.history.stored_or_aggregated(found[0], self.session.backtests.run_bar_size(run))
        self.chart.instrument = None  # the chart now shows a backtest, not the live feed
        chart.set_data(frame, found[0])
        marks = [TradeMark(pd.Timestamp(t["entry_time"]).to_pydatetime(), t["entry_price"],
                           pd.Timestamp(t["exit_time"]).to_pydatetime(), t["exit_price"], t["size"] > 0, t["pnl"])
                 for t in run["trades"] if t["symbol"] == symbol]
        chart.set_trades(marks)
        chart.show_range(max(0, trade["entry_bar"] - 30), trade["exit_bar"] + 30)

    async def _chart_journal_trade(self, trip) -> None:  # type: ignore[no-untyped-def]
        """A journal round trip on the chart of its symbol: a backtest's at its run's bar size, a fill's on
        one-minute bars (or the finest stored), entry and exit joined and its P&L written at the exit."""
        from terminal.domain import BarSize
        from terminal.ui.chart import TradeMark

        found = await self.session.workspace.find_symbol(trip.symbol)
        if not found:
            raise ValueError(f"no stored instrument {trip.symbol}; the journal's trade cannot be charted")
        bar_size = BarSize.MIN_1
        if trip.run_id is not None:
            run = await self.session.backtests.saved_run(trip.run_id)
            bar_size = self.session.backtests.run_bar_size(run) if run else BarSize.DAY_1
        frame = await self.session.history.stored_or_aggregated(found[0], bar_size)
        if frame.empty:
            raise ValueError(f"no stored {bar_size.short} bars of {trip.symbol} to chart the trade on")
        chart = self.chart.chart
        self.chart.instrument = None  # the chart now shows a journal trade, not the live feed
        chart.set_data(frame, found[0])
        chart.set_trades([TradeMark(trip.entry_time, trip.entry_price, trip.exit_time, trip.exit_price,
                                    trip.side == "long", trip.pnl)])
        first, last = chart.marks.bar_index(trip.entry_time), chart.marks.bar_index(trip.exit_time)
        chart.show_range(max(0, first - 30), last + 30)

    def step_through(self, run: dict):  # type: ignore[no-untyped-def]
        from terminal.ui.review import start_step_through

        return spawn(start_step_through(self, run), self._show_error)

    def _end_step_through(self) -> None:
        from terminal.ui.review import end_step_through

        end_step_through(self, back_to_live=True)

    def _backtest_pair(self, y: str, x: str) -> None:
        self.editor.strategies.setCurrentText("pairs")
        self.editor.symbols.setText(f"{y},{x}")
        self.editor.bar_size.setCurrentText(self.analytics.bar_size.currentText())
        self.docks["Strategy editor"].raise_()

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title.replace(" ", "_").lower())
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        self.docks[title] = dock
        return dock

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction("Connect (TWS, IB Gateway, desk hub)…", self.connect_dialog)
        file_menu.addAction("Replay…", self.replay_dialog)
        self.end_replay_action = file_menu.addAction("End replay", self.end_replay)
        self.end_replay_action.setEnabled(self.session.replay is not None)
        file_menu.addSeparator()
        file_menu.addAction("Quit", self.close, QKeySequence.StandardKey.Quit)
        trade = bar.addMenu("&Trading")
        # Ctrl+K only ever switches the kill switch on (a second press must not end an emergency stop);
        # off is the menu item, and it asks. "\t" shows the key in the menu's shortcut column.
        self.kill_action = QAction("Kill switch\tCtrl+K", self, checkable=True)
        self.kill_action.toggled.connect(self._kill_switch_toggled)
        trade.addAction(self.kill_action)
        self.kill_key = QShortcut(QKeySequence("Ctrl+K"), self)
        self.kill_key.setContext(Qt.ShortcutContext.WindowShortcut)
        self.kill_key.activated.connect(self.kill_switch_on)
        trade.addAction("Cancel all orders", lambda: self.entry.cancel_all(self._show_error),
                        QKeySequence("Ctrl+Shift+X"))
        trade.addAction("Risk limits…", self.risk_dialog)
        trade.addAction("Reconcile with the broker", lambda: spawn(self.session.reconcile(), self._show_error))
        self.confirm_action = QAction("Confirm orders", self, checkable=True)
        self.confirm_action.toggled.connect(self.session.set_confirm_orders)
        trade.addAction(self.confirm_action)
        self.sync_trading_state()
        data = bar.addMenu("&Data")
        data.addAction("Record…", self.record_dialog)
        self.stop_recording_action = data.addAction("Stop recording",
                                                    lambda: spawn(self.session.stop_recording(), self._show_error))
        self.stop_recording_action.setEnabled(False)
        view = bar.addMenu("&View")
        for dock in self.docks.values():
            view.addAction(dock.toggleViewAction())
        view.addSeparator()
        view.addAction("Dark theme", lambda: self.set_theme("dark"))
        view.addAction("Light theme", lambda: self.set_theme("light"))
        view.addAction("Reset layout", self.reset_layout)
        help_menu = bar.addMenu("&Help")
        help_menu.addAction("About QuantTerminal", self.about_dialog)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.provenance_label = QLabel("")  # SIMULATOR / PAPER / LIVE / REPLAY: what this session trades
        self.provenance_label.hide()
        self._shown_provenance = ""
        self.connection_label = QLabel("○ disconnected")
        self.stale_label = QLabel("STALE")  # while the connection is not live: the prices shown are not the market's
        self.stale_label.setStyleSheet(STALE_BADGE)
        self.stale_label.setToolTip("Not live: every price on screen is the last one received, greyed, until the "
                                    "connection is back")
        self.stale_label.hide()
        self.account_label = QLabel("")
        self.clock_label = QLabel("")
        self.lag_label = QLabel("")
        self.recording_label = QLabel("")  # ● REC and the rows recorded, while Data → Record runs
        self.recording_label.setStyleSheet("color:#ef4444;font-weight:bold;")
        self.recording_label.hide()
        self.session.recording_changed.connect(self._recording_changed)
        for label in (self.recording_label, self.provenance_label, self.stale_label, self.connection_label,
                      self.account_label, self.clock_label, self.lag_label):
            bar.addPermanentWidget(label)
        self._lag_ms = 0.0
        self._expected = time.perf_counter() + 0.1
        self._lag_timer = QTimer(self)
        self._lag_timer.setInterval(100)
        self._lag_timer.timeout.connect(self._measure_lag)
        self._lag_timer.start()

    def _build_replay_bar(self) -> None:
        from terminal.ui.panels.replay_bar import ReplayBar

        self.replay_bar = ReplayBar(self)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.replay_bar)
        self.replay_bar.failed.connect(lambda text: self.statusBar().showMessage(text, 10000))
        self._replay_changed(self.session.replay)  # quant-terminal replay: on it from the start
        self.session.replay_changed.connect(self._replay_changed)

    def _replay_changed(self, controller) -> None:  # type: ignore[no-untyped-def]
        from terminal.ui.review import end_step_through

        end_step_through(self)  # a market replay takes the transport bar and the chart
        if controller is not None:  # after a jump the chart holds what lies before the new time, nothing after
            controller.jumped.connect(lambda _: self.chart.reload())
        self.replay_bar.attach(controller)
        self.end_replay_action.setEnabled(controller is not None)
        self.chart.reload()  # the replay's history (up to its clock), or the simulator's again

    def record_dialog(self) -> None:
        from terminal.ui.panels.replay_bar import RecordDialog

        symbols = [i.display_name for i in self.watchlist.model.instruments()]
        dialog = RecordDialog(symbols, self.session.settings.resolved_archive, self.session.status.provenance.label,
                              self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.start_recording(dialog.symbol_list(), dialog.depth.isChecked(), dialog.archive.text().strip())

    def start_recording(self, symbols: list[str], depth: bool = False, archive: str = ""):  # type: ignore[no-untyped-def]
        from terminal.services.market import parse_symbol

        try:
            instruments = [parse_symbol(s) for s in symbols]
        except Exception as exc:  # a malformed symbol: one line, nothing started
            self._show_error(exc)
            return None
        return spawn(self.session.start_recording(instruments, depth, archive), self._show_error)

    def _recording_changed(self, service) -> None:  # type: ignore[no-untyped-def]
        self.stop_recording_action.setEnabled(service is not None)
        self.recording_label.setVisible(service is not None)

    def replay_dialog(self) -> None:
        from terminal.ui.panels.replay_bar import ReplayDialog

        dialog = ReplayDialog(self.session.settings.resolved_archive, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            request = dialog.request()
            answer = QMessageBox.question(
                self, "Market replay",
                f"Leave the current connection and trade on a replay of {request.archive}?\n"
                "Working orders stay with the current connection; no order reaches it until the replay ends.")
            if answer == QMessageBox.StandardButton.Yes:
                spawn(self.session.start_replay(request), self._show_error)

    def end_replay(self) -> None:
        spawn(self.session.end_replay(), self._show_error)

    def _hotkeys(self) -> None:
        """Buy/sell hotkeys live in the trading docks only: in the strategy editor Ctrl+S saves."""
        self.hotkeys: list[QShortcut] = []
        for widget in (self.watchlist, self.ticket, self.depth, self.blotter, self.positions, self.chart):
            for keys, side in (("Ctrl+B", OrderSide.BUY), ("Ctrl+S", OrderSide.SELL)):
                shortcut = QShortcut(QKeySequence(keys), widget)
                shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
                shortcut.activated.connect(lambda side=side: self.hit(side))
                self.hotkeys.append(shortcut)

    def kill_switch_on(self) -> None:
        if not self.session.risk.kill_switch:
            self.kill_action.setChecked(True)  # toggled → _kill_switch_toggled(True)

    def _kill_switch_toggled(self, on: bool) -> None:
        if on:
            task = self.session.orders.set_kill_switch(True)
            if task is not None:
                task.add_done_callback(lambda t: t.cancelled() or t.exception() is None
                                       or self._show_error(t.exception()))
        else:
            self.entry.run(lambda confirmed: self.session.orders.reset_kill_switch(confirmed=confirmed),
                           self._show_error, on_done=lambda _: self.sync_trading_state(),
                           on_declined=self.sync_trading_state)
        self.sync_trading_state()

    def sync_trading_state(self) -> None:
        """Menu checkmarks from the session (kill switch and confirm preference are restored from the store)."""
        for action, on in ((self.kill_action, self.session.risk.kill_switch),
                           (self.confirm_action, self.session.confirmation.confirm_orders)):
            action.blockSignals(True)
            action.setChecked(on)
            action.blockSignals(False)

    def _on_reconciled(self, report) -> None:  # type: ignore[no-untyped-def]
        self.statusBar().showMessage(report.describe(), 20000)

    # --- actions -------------------------------------------------------------------------
    def show_instrument(self, instrument: Instrument) -> None:
        from terminal.ui.review import end_step_through

        end_step_through(self)  # the chart goes back to the feed: a step-through must not draw on it any more
        self.current = instrument
        self.ticket.set_instrument(instrument)
        spawn(self.depth.show_instrument(instrument), self._show_error)
        self.chart.show_instrument(instrument)

    def trade(self, instrument: Instrument, side: OrderSide) -> None:
        self.show_instrument(instrument)
        self.ticket.set_instrument(instrument, side)
        self.docks["Order ticket"].raise_()
        self.ticket.quantity.setFocus()

    def hit(self, side: OrderSide) -> None:
        """Hotkey: a limit order at the ask (buy) or bid (sell) for the ticket's quantity — marketable, capped.

        Not while the user types in a text field (the watchlist's symbol entry, a search box): the
        keys are then part of typing, and the order would be for the ticket's symbol, not the typed one."""
        if _typing(QApplication.focusWidget()):
            self.statusBar().showMessage("Ctrl+B / Ctrl+S trade only from a table, chart or the ticket's numbers, "
                                         "not while typing in a text field", 8000)
            return
        instrument = self.ticket.instrument
        if instrument is None:
            self._show_error(ValueError("select a symbol before using the buy/sell hotkeys"))
            return
        quote = self.session.market.quotes.get(instrument.key)
        price = (quote.ask if side is OrderSide.BUY else quote.bid) if quote else math.nan
        if not math.isfinite(price):
            self._show_error(ValueError(f"no {'ask' if side is OrderSide.BUY else 'bid'} for {instrument.display_name} yet"))
            return
        order = Order(instrument, side, float(self.ticket.quantity.value()), OrderType.LIMIT,
                      limit_price=instrument.round_to_tick(price), source="hotkey")
        self.entry.place(order, self._show_error)

    def about_dialog(self) -> AboutDialog:
        from terminal.store import safe_url

        settings = self.session.settings
        where = [("Database", safe_url(settings.resolved_db_url)), ("Data folder", str(settings.resolved_data_dir)),
                 ("Connection", f"{self.session.status.state.lower()} {self.session.status.endpoint}".strip())]
        dialog = AboutDialog(self.windowIcon(), where, self)  # the app's icon, drawn once at start
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def risk_dialog(self) -> None:
        dialog = RiskDialog(self.session.risk.limits, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            try:
                self.session.risk.set_limits(dialog.limits())
            except ValueError as exc:
                self._show_error(exc)
                return
            spawn(self.session.workspace.save_risk_limits(vars(dialog.limits())), self._show_error)
            self.session.log.info("risk", f"risk limits changed: {dialog.limits()}")

    def connect_dialog(self) -> None:
        settings = self.session.settings
        dialog = ConnectDialog(client_id=settings.client_id, feed=settings.feed, trader=settings.trader, parent=self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.connect_to(dialog.choice(), ask=True)

    def connect_to(self, choice: ConnectChoice, ask: bool = True):  # type: ignore[no-untyped-def]
        """Leave the current connection for TWS / IB Gateway or the desk hub (after asking, with ``ask``);
        returns the switch's task (None when declined)."""
        from terminal.config import parse_ib_endpoint

        if choice.feed:
            where = f"the desk hub on {choice.feed}" + (f" as {choice.trader}" if choice.trader else "")
            switch = partial(self.session.switch_to_feed, choice.feed, choice.trader)
        else:
            host, port, client_id = parse_ib_endpoint(choice.ib)
            where = f"{host}:{port} (client {client_id})"
            switch = partial(self.session.switch_to, host, port, client_id)
        if ask:
            answer = QMessageBox.question(
                self, "Switch connection",
                f"Leave the current connection and trade on {where}?\nWorking orders stay with the current connection.")
            if answer != QMessageBox.StandardButton.Yes:
                return None
        return spawn(switch(), self._show_error)

    def set_theme(self, name: str) -> None:
        """Restyle this window now and rebuild its chart in the next loop turn (each takes tens of ms; the loop
        waits for one at a time); the layout, with the theme, is saved in a thread, as the store may be slow
        or locked by another writer."""
        self.theme = THEMES[name]
        apply_theme(QApplication.instance(), self.theme, self)
        for model in (self.watchlist.model, self.blotter.working, self.blotter.history, self.blotter.executions,
                      self.positions.model, self.log_panel.model, self.depth.model):
            model.theme = self.theme
        QTimer.singleShot(0, self, self._theme_chart)
        spawn(self.session.workspace.save_layout_async(self.workspace()), self._show_error)

    def _theme_chart(self) -> None:
        if self.isVisible() and self.chart.theme.name != self.theme.name:  # a closed window keeps its chart
            self.chart.set_theme(self.theme)

    def reset_layout(self) -> None:
        self.restoreState(self._default_state)
        for dock in self.docks.values():
            dock.show()

    # --- workspace -------------------------------------------------------------------------
    def workspace(self) -> dict:
        return {
            "geometry": bytes(self.saveGeometry().toBase64()).decode(),
            "state": bytes(self.saveState().toBase64()).decode(),
            "theme": self.theme.name,
            "watchlist": self.watchlist.lists.currentText(),
            "instrument": self.current.key if self.current else "",
        }

    def save_workspace(self) -> None:
        self.session.workspace.save_layout(self.workspace())

    def restore_workspace(self, saved: dict) -> None:
        if saved.get("geometry"):
            self.restoreGeometry(QByteArray.fromBase64(saved["geometry"].encode()))
        if saved.get("state"):
            self.restoreState(QByteArray.fromBase64(saved["state"].encode()))
        self.replay_bar.setVisible(self.session.replay is not None)  # a saved layout must not show it

    def closeEvent(self, event) -> None:  # noqa: N802
        if not self._workspace_saved:
            self._workspace_saved = True
            try:
                self.save_workspace()
            except Exception as exc:  # closing must not fail because the store is gone
                self.session.log.error("workspace", f"layout not saved: {exc}")
        super().closeEvent(event)

    # --- status ----------------------------------------------------------------------------
    def _measure_lag(self) -> None:
        now = time.perf_counter()
        lag = max(0.0, (now - self._expected) * 1000)
        self._lag_ms = 0.8 * self._lag_ms + 0.2 * lag
        self._expected = now + 0.1
        self.lag_label.setText(f"loop lag {self._lag_ms:4.1f} ms")
        recording = self.session.recording
        if recording is not None and recording.recorder is not None:
            stats = recording.recorder.stats
            self.recording_label.setText(f"● REC {stats.rows + recording.recorder.buffered:,} rows")
        replay = self.session.replay.now() if self.session.replay is not None else None
        if replay is not None:  # what the market's clock says: the replay's
            self.clock_label.setText("replay " + replay.astimezone(DISPLAY_ZONE).strftime("%H:%M:%S %Z"))
        else:
            self.clock_label.setText(datetime.now().astimezone().strftime("%H:%M:%S %Z"))
        self._update_status()

    def _update_status(self) -> None:
        status = self.session.status
        symbol = {"CONNECTED": "●", "RECONNECTING": "◐", "CONNECTING": "◐"}.get(status.state, "○")
        text = f"{symbol} {status.state.lower()} {status.endpoint}"
        if not status.live and status.state != "CONNECTING" and status.message:
            text += f" — {status.message}"  # why: the feed is stale, the connection was lost and is retried …
        elif status.state == "RECONNECTING" and status.next_retry_seconds:
            text += f" (retry in {status.next_retry_seconds:.0f} s)"
        if self.session.replay is not None:
            text += " [replay]"
        elif self.session.simulator is not None:
            text += " [simulator]"
        self.connection_label.setText(text)
        self.connection_label.setToolTip(status.message)
        self.stale_label.setVisible(status.stale)
        account = self.session.portfolio.account
        self.account_label.setText(account.account)
        provenance = status.provenance
        if provenance.value != self._shown_provenance:
            self._shown_provenance = provenance.value
            self.provenance_label.setText(provenance.label)
            self.provenance_label.setStyleSheet(provenance_badge(provenance.value))
            self.provenance_label.setToolTip(_PROVENANCE_TIPS.get(provenance.value, ""))
            self.provenance_label.setVisible(provenance is not Provenance.UNKNOWN)

    def _on_log(self, entry) -> None:  # type: ignore[no-untyped-def]
        if entry.severity >= 40:
            self.statusBar().showMessage(f"{entry.source}: {entry.message}", 10000)

    def _show_error(self, error: Exception) -> None:
        self.session.log.error("ui", str(error))


_PROVENANCE_TIPS = {
    "live": "a live IB account: orders trade real money",
    "paper": "an IB paper-trading account (DU…/DF…)",
    "simulator": "the built-in exchange simulator: prices are a random walk, no order reaches a market",
    "replay": "a replay of recorded market data in the simulator: no order reaches a market",
}


def _typing(widget: QWidget | None) -> bool:
    """Whether ``widget`` takes free text (a spin box's own line edit is a number field, not free text)."""
    if isinstance(widget, (QTextEdit, QPlainTextEdit)):
        return not widget.isReadOnly()
    if isinstance(widget, QComboBox):
        return widget.isEditable()
    if isinstance(widget, QLineEdit):
        return not widget.isReadOnly() and not isinstance(widget.parent(), (QAbstractSpinBox, QComboBox))
    return False
