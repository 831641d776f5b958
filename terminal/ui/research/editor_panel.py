"""Strategy editor and backtest runner: edit, check and save (versioned), run in a worker with progress,
cancel and a time limit; an error shows its traceback and marks the line. A run whose bars are not stored
offers to fetch them first (``fetch_offer``)."""

from __future__ import annotations

import asyncio
import threading

import pandas as pd
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from terminal.domain import BarSize
from terminal.services.backtests import BacktestRequest, Cancelled, StrategyError, result_to_json
from terminal.ui.panels.common import spawn
from terminal.ui.research.code_editor import EditorWithFind
from terminal.ui.research.fetch_offer import MissingDataFetch


class StrategyEditorPanel(QWidget):
    run_finished = Signal(object)  # result JSON dict

    def __init__(self, session, theme, parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self.session = session
        self.strategies = QComboBox()
        self.strategies.setEditable(True)
        self.strategies.addItems(session.backtests.templates())
        self.save_button = QPushButton("Check && save")
        self.editor = EditorWithFind(theme)
        self.params = QTableWidget(0, 2)
        self.params.setHorizontalHeaderLabels(["Parameter", "Value"])
        self.params.verticalHeader().setVisible(False)
        self.symbols = QLineEdit("GOOG")
        self.symbols.setPlaceholderText("symbols, e.g. GOOG or KO,PEP for pairs")
        self.bar_size = QComboBox()
        self.bar_size.addItems([b.short for b in BarSize])
        self.bar_size.setCurrentText("1D")
        self.start = QLineEdit()
        self.start.setPlaceholderText("from YYYY-MM-DD")
        self.end = QLineEdit()
        self.end.setPlaceholderText("to YYYY-MM-DD")
        self.engine = QComboBox()
        self.engine.addItems(["auto", "vectorized", "backtrader", "backtesting"])
        self.cash = QDoubleSpinBox()
        self.cash.setRange(1_000, 1e10)
        self.cash.setValue(100_000)
        self.cash.setDecimals(0)
        self.commission = QDoubleSpinBox()
        self.commission.setRange(0, 0.05)
        self.commission.setDecimals(4)
        self.commission.setSingleStep(0.0005)
        self.run_button = QPushButton("Run backtest")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.messages = QPlainTextEdit()
        self.messages.setReadOnly(True)
        self.messages.setMaximumHeight(120)
        self.messages.setPlaceholderText("Checks, errors and tracebacks appear here.")
        self.fetcher = MissingDataFetch(session, self.messages.setPlainText)

        top = QHBoxLayout()
        top.addWidget(QLabel("Strategy"))
        top.addWidget(self.strategies, 1)
        top.addWidget(self.save_button)
        form = QFormLayout()
        form.addRow("Symbols", self.symbols)
        dates = QHBoxLayout()
        dates.addWidget(self.start)
        dates.addWidget(self.end)
        form.addRow("Range", dates)
        form.addRow("Bar size", self.bar_size)
        form.addRow("Engine", self.engine)
        form.addRow("Cash", self.cash)
        form.addRow("Commission", self.commission)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(self.params, 1)
        side_layout.addLayout(form)
        run_row = QHBoxLayout()
        run_row.addWidget(self.run_button)
        run_row.addWidget(self.cancel_button)
        side_layout.addLayout(run_row)
        side_layout.addWidget(self.progress)
        splitter = QSplitter()
        splitter.addWidget(self.editor)
        splitter.addWidget(side)
        splitter.setSizes([640, 300])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.fetcher)
        layout.addWidget(self.messages)

        self._cancel = threading.Event()
        self._opening: asyncio.Task | None = None
        self.strategies.currentTextChanged.connect(self._open_later)
        self.save_button.clicked.connect(lambda: spawn(self.save(), self.show_error))
        # Ctrl+S saves here (the buy/sell hotkeys are bound to the trading docks only).
        save = QShortcut(QKeySequence.StandardKey.Save, self)
        save.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        save.activated.connect(lambda: spawn(self.save(), self.show_error))
        self.save_shortcut = save
        self.run_button.clicked.connect(lambda: spawn(self.run(), self.show_error))
        self.cancel_button.clicked.connect(self._cancel.set)
        self.time_limit = 120.0  # seconds a run may take in its worker
        first = session.backtests.templates()[0]
        self.load_source(session.backtests.template_source(first))

    # --- source and parameters ---------------------------------------------------------------
    def load_source(self, source: str, params: dict | None = None) -> None:
        """Show the source and its declared parameters (read from the text: nothing of it runs here)."""
        self.editor.editor.setPlainText(source)
        self.editor.editor.mark_error(0)
        self.progress.setValue(0)  # the bar belongs to the last run, not to this source
        try:
            declared = dict(self.session.backtests.declaration(source, self.name()).params)
        except StrategyError as exc:
            declared = {}
            self.messages.setPlainText(str(exc))
            self.editor.editor.mark_error(exc.line)
        declared.update({k: v for k, v in (params or {}).items() if k in declared})
        self.params.setRowCount(len(declared))
        for row, (key, value) in enumerate(declared.items()):
            name = QTableWidgetItem(key)
            name.setFlags(Qt.ItemFlag.ItemIsEnabled)
            self.params.setItem(row, 0, name)
            self.params.setItem(row, 1, QTableWidgetItem(str(value)))

    def name(self) -> str:
        return self.strategies.currentText().strip() or "strategy"

    def _open_later(self, name: str) -> None:
        self._opening = spawn(self.open_strategy(name), self.show_error)

    async def wait_opened(self) -> None:
        """Save and run must see the source of the strategy just picked, not the previous one."""
        if self._opening is not None and not self._opening.done():
            await asyncio.wait([self._opening])

    async def open_strategy(self, name: str) -> None:
        opened = await self.session.backtests.open(name)
        if opened is not None:
            self.load_source(*opened)

    def raw_param_values(self) -> dict[str, str]:
        return {self.params.item(r, 0).text(): self.params.item(r, 1).text() for r in range(self.params.rowCount())}

    def param_values(self) -> dict:
        """The table's values, typed and checked against the declaration (StrategyError names the parameter)."""
        return self.session.backtests.coerce(self.source(), self.name(), self.raw_param_values())

    def source(self) -> str:
        return self.editor.editor.toPlainText()

    def _show_problems(self, problems: list) -> None:
        self.messages.setPlainText("\n".join(str(p) for p in problems))
        self.editor.editor.mark_error(problems[0].line)

    async def check(self) -> bool:
        """The static checks, then the module loaded in a worker process under the load time limit."""
        self.messages.setPlainText(f"checking {self.name()} …")
        problems = await self.session.backtests.check(self.source(), self.name())
        if problems:
            self._show_problems(problems)
            return False
        return True

    async def save(self, check: bool = True) -> bool:
        """Check (in a worker) and save a new version; ``check=False`` keeps to the static checks (a run that
        follows loads the module in its own worker anyway)."""
        await self.wait_opened()
        if check:
            if not await self.check():
                return False
        elif problems := self.session.backtests.static_problems(self.source(), self.name()):
            self._show_problems(problems)
            return False
        stored = await self.session.backtests.save(self.name(), self.source(), self.raw_param_values())
        self.editor.editor.mark_error(0)
        self.messages.setPlainText(f"saved {stored.name} version {stored.version}")
        return True

    # --- running -----------------------------------------------------------------------------
    def data(self) -> tuple[list[str], str, str | None, str | None]:
        """Symbols, bar size, from and to as entered: the data of a run (and of the optimizer's grid)."""
        return (self.symbols.text().split(","), self.bar_size.currentText(), self.start.text().strip() or None,
                self.end.text().strip() or None)

    async def frames(self) -> dict[str, pd.DataFrame]:
        return await self.session.backtests.frames(*self.data())

    async def request(self) -> BacktestRequest:
        """The run the editor describes: its strategy, parameters, data and settings (the optimizer varies it)."""
        return self.session.backtests.request(self.source(), self.name(), await self.frames(), self.raw_param_values(),
                                              self.engine.currentText(), self.cash.value(), self.commission.value(),
                                              time_limit=self.time_limit,
                                              bar_size=BarSize.parse(self.bar_size.currentText()))

    def set_param_values(self, values: dict) -> None:
        for row in range(self.params.rowCount()):
            key = self.params.item(row, 0).text()
            if key in values:
                self.params.setItem(row, 1, QTableWidgetItem(str(values[key])))

    async def request_fetching(self) -> BacktestRequest | None:
        """The run's request; when its bars are missing, offer to fetch them first (None: not fetched)."""
        return await self.fetcher.load(self.request, *self.data())

    async def run(self) -> dict | None:
        if not await self.save(check=False):
            return None
        self.run_button.setEnabled(False)  # not twice while the offer or the fetch is open
        try:
            request = await self.request_fetching()
        finally:
            self.run_button.setEnabled(True)
        if request is None:
            return None
        loop = asyncio.get_running_loop()
        request = self.session.backtests.with_engine(request)  # auto settled (and why) before it runs
        self._cancel.clear()
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setValue(0)
        self.messages.setPlainText(f"running {self.name()} on {', '.join(request.frames)} on {request.engine} "
                                   f"({request.engine_reason}) …")

        def progress(fraction: float) -> None:
            loop.call_soon_threadsafe(self.progress.setValue, int(fraction * 100))

        try:
            result = await self.session.backtests.run(request, progress, self._cancel.is_set)
        except Cancelled as exc:
            self.messages.setPlainText(str(exc))
            return None
        finally:
            self.run_button.setEnabled(True)
            self.cancel_button.setEnabled(False)
        if not result.ok:
            self.messages.setPlainText(f"{result.error}\n\n{result.traceback}".strip())
            self.editor.editor.mark_error(result.error_line)
            return None
        self.progress.setValue(100)
        payload = result_to_json(result)
        run_id = await self.session.backtests.record(request, result)
        payload["run_id"] = run_id
        st = result.statistics
        self.messages.setPlainText(f"run {run_id}: return {st['total_return']:.2%}, Sharpe {st['sharpe']:.2f}, "
                                   f"{int(st['trades'])} trades, {result.seconds:.2f} s")
        self.run_finished.emit(payload)
        return payload

    def show_error(self, error: Exception) -> None:
        self.messages.setPlainText(str(error))
        self.session.log.warning("backtest", str(error))
