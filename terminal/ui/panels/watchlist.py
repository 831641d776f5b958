"""Watchlist panel: named lists persisted in the store; add by symbol, remove, reorder; live quotes with flashes,
greyed while the session's connection is not live."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from terminal.domain import DomainError, Instrument, OrderSide
from terminal.ui.models.watchlist import WatchlistModel
from terminal.ui.panels.common import make_table, mark_stale, spawn

DEFAULT_LISTS = {
    "Tech": ["AAPL", "MSFT", "NVDA", "GOOG", "AMZN", "META", "TSLA", "AMD"],
    "Macro": ["SPY", "QQQ", "ES FUT", "NQ FUT", "EUR.USD", "GBP.USD"],
    "Pairs": ["KO", "PEP", "XOM", "CVX"],
}


class WatchlistPanel(QWidget):
    open_chart = Signal(object)  # Instrument
    trade = Signal(object, object)  # Instrument, OrderSide
    selected = Signal(object)  # Instrument

    def __init__(self, session, theme, parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self.session = session
        self.model = WatchlistModel(theme)
        self.lists = QComboBox()
        self.lists.setMinimumWidth(120)
        new_list = QToolButton()
        new_list.setText("+")
        new_list.setToolTip("New watchlist")
        self.entry = QLineEdit()
        self.entry.setPlaceholderText("Add symbol: AAPL, EUR.USD, ES FUT …  (Enter)")
        self.message = QLabel("")
        self.message.setObjectName("error")
        self.table = make_table(self.model)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        for column, width in enumerate((64, 64, 64, 64, 56, 58, 70, 58, 58)):
            self.table.setColumnWidth(column, width)
        top = QHBoxLayout()
        top.addWidget(self.lists)
        top.addWidget(new_list)
        top.addWidget(self.entry, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(self.message)
        layout.addWidget(self.table, 1)
        self.message.hide()

        self.entry.returnPressed.connect(self._add_from_entry)
        new_list.clicked.connect(self._new_list)
        self.lists.currentTextChanged.connect(lambda name: spawn(self.show_list(name), self.show_error))
        self.table.doubleClicked.connect(lambda index: self._emit_instrument(index.row(), self.open_chart))
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.table.selectionModel().currentRowChanged.connect(lambda current, _: self._emit_instrument(current.row(), self.selected))
        remove = QAction("Remove", self.table)
        remove.setShortcut(QKeySequence.StandardKey.Delete)
        remove.triggered.connect(self.remove_selected)
        self.table.addAction(remove)
        session.market.quote_updated.connect(self._on_quote)
        session.status_changed.connect(self.show_status)
        self.show_status(session.status)
        self._current = ""

    # --- lists ---------------------------------------------------------------------------
    async def load(self, preferred: str = "") -> None:
        names = await self.session.workspace.watchlist_names(DEFAULT_LISTS)
        self.lists.blockSignals(True)
        self.lists.clear()
        self.lists.addItems(names)
        self.lists.setCurrentText(preferred if preferred in names else names[0])
        self.lists.blockSignals(False)
        await self.show_list(self.lists.currentText())

    async def show_list(self, name: str) -> None:
        if not name:
            return
        for instrument in self.model.instruments():
            await self.session.market.unsubscribe(instrument)
        self._current = name
        entries = await self.session.workspace.watchlist(name)
        instruments: list[Instrument] = []
        problems = []
        for entry in entries:
            try:
                instruments.append(await self._resolve(entry))
            except DomainError as exc:
                problems.append(str(exc))
        self.model.set_instruments(instruments, self.session.market.quotes)
        for instrument in instruments:
            await self.session.market.subscribe(instrument)
        if [f"@{i.symbol}" for i in instruments] != entries:
            await self._save()
        if problems:
            self.show_error(DomainError("; ".join(problems)))

    async def _resolve(self, entry: str) -> Instrument:
        if entry.startswith("@"):  # a default list entry not yet qualified: the text a user would type
            return await self.session.market.qualify(entry[1:])
        stored = await self.session.workspace.instrument(entry)
        return await self.session.market.qualify(stored if stored else entry.split(":")[0])

    async def _save(self) -> None:
        keys = [i.key for i in self.model.instruments()]
        await self.session.workspace.set_watchlist(self._current, keys)

    def _new_list(self) -> None:
        name, ok = QInputDialog.getText(self, "New watchlist", "Name:")
        if ok and name.strip():
            spawn(self._create(name.strip()), self.show_error)

    async def _create(self, name: str) -> None:
        await self.session.workspace.create_watchlist(name)
        await self.load(preferred=name)

    # --- editing -------------------------------------------------------------------------
    def _add_from_entry(self) -> None:
        text = self.entry.text()
        spawn(self.add_symbol(text), self.show_error)

    async def add_symbol(self, text: str) -> Instrument:
        instrument = await self.session.market.qualify(text)
        if self.model.row_of(instrument.key) < 0:
            self.model.set_instruments(self.model.instruments() + [instrument], self.session.market.quotes)
            await self.session.market.subscribe(instrument)
            await self._save()
        self.entry.clear()
        self.message.hide()
        return instrument

    def remove_selected(self) -> None:
        row = self.table.currentIndex().row()
        instrument = self.model.instrument_at(row)
        if instrument is None:
            return
        self.model.set_instruments([i for i in self.model.instruments() if i.key != instrument.key], self.session.market.quotes)
        spawn(self._after_remove(instrument), self.show_error)

    async def _after_remove(self, instrument: Instrument) -> None:
        await self.session.market.unsubscribe(instrument)
        await self._save()

    def move_selected(self, step: int) -> None:
        row = self.table.currentIndex().row()
        items = self.model.instruments()
        target = row + step
        if not (0 <= row < len(items) and 0 <= target < len(items)):
            return
        items[row], items[target] = items[target], items[row]
        self.model.set_instruments(items, self.session.market.quotes)
        self.table.selectRow(target)
        spawn(self._save(), self.show_error)

    def _context_menu(self, pos) -> None:  # type: ignore[no-untyped-def]
        row = self.table.indexAt(pos).row()
        instrument = self.model.instrument_at(row)
        menu = QMenu(self)
        if instrument is not None:
            menu.addAction(f"Buy {instrument.display_name}…", lambda: self.trade.emit(instrument, OrderSide.BUY))
            menu.addAction(f"Sell {instrument.display_name}…", lambda: self.trade.emit(instrument, OrderSide.SELL))
            menu.addAction("Chart", lambda: self.open_chart.emit(instrument))
            menu.addSeparator()
            menu.addAction("Move up", lambda: self.move_selected(-1))
            menu.addAction("Move down", lambda: self.move_selected(1))
            menu.addAction("Remove", self.remove_selected)
        menu.addAction("New list…", self._new_list)
        menu.popup(self.table.viewport().mapToGlobal(pos))

    def _emit_instrument(self, row: int, signal) -> None:  # type: ignore[no-untyped-def]
        instrument = self.model.instrument_at(row)
        if instrument is not None:
            signal.emit(instrument)

    def show_status(self, status) -> None:  # type: ignore[no-untyped-def]
        """Grey every quote, the selected row's too, while the session's prices are stale (``status.stale``)."""
        self.model.set_stale(status.stale)
        mark_stale(self.table, status.stale)  # the selection's colours: the model cannot set those

    def _on_quote(self, item) -> None:  # type: ignore[no-untyped-def]
        instrument, quote = item
        self.model.update_quote(instrument.key, quote)

    def show_error(self, error: Exception) -> None:
        self.message.setText(str(error))
        self.message.show()
        self.session.log.warning("watchlist", str(error))
