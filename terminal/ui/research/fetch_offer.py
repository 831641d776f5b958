"""The offer to fetch missing bars, in the research docks: a run (backtest, grid, pair scan) whose bars are not
stored asks "Fetch them from SIMULATOR now?"; Fetch backfills them on the app's loop through the session's
backfill service, with progress and Cancel in the dock, then the run goes on as asked.

What to fetch (symbols, trading days) is planned in ``services.missing_data``, as for the CLI."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import date
from typing import TypeVar

from PySide6.QtWidgets import QHBoxLayout, QLabel, QMessageBox, QProgressBar, QPushButton, QWidget

from terminal.domain import BarSize
from terminal.services.backfill import BackfillCancelled, BackfillProgress
from terminal.services.backtests import MissingBars
from terminal.services.missing_data import FetchFailed, FetchPlan, fetch, fetched_text, plan_fetch

T = TypeVar("T")


class MissingDataFetch(QWidget):
    """A progress bar and Cancel, shown only while missing bars are fetched; ``load`` wraps a run's data load."""

    def __init__(self, session, show: Callable[[str], None], parent: QWidget | None = None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self.session = session
        self.show_line = show  # the dock's one status line
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel fetch")
        self.cancel_button.clicked.connect(self.cancel)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        self.dialog: QMessageBox | None = None  # the open offer, for tests and screenshots
        self.fetching = False
        self._cancelled = False
        self._source = ""
        self.hide()

    def source(self) -> str:
        """Where a fetch would come from, as the status bar names the session: SIMULATOR, PAPER, LIVE …"""
        status = self.session.status
        return status.provenance.label if status.state == "CONNECTED" else "the broker (not connected)"

    async def load(self, load: Callable[[], Awaitable[T]], symbols: Sequence[str], bar_size: BarSize | str,
                   start: str | date | None = None, end: str | date | None = None) -> T | None:
        """``load()``; when bars are missing, offer to fetch them and load again. None when the user said
        Cancel or the fetch failed or was cancelled (the dock's line says which)."""
        try:
            return await load()
        except MissingBars:
            plan = await plan_fetch(self.session.backtests, symbols, bar_size, start, end)
            if plan is None:  # nothing can be fetched (the range lies in the future): the run's own message
                raise
        source = self.source()
        if not await self.ask(plan, source):
            self.show_line(f"{plan.describe()}: not fetched (the Data dock's Add… fetches them too)")
            return None
        try:
            results = await self.fetch(plan, source)
        except (FetchFailed, BackfillCancelled) as exc:
            self.show_line(str(exc))
            return None
        self.show_line(f"{fetched_text(results)} from {source}")
        return await load()

    async def ask(self, plan: FetchPlan, source: str) -> bool:
        """The offer as a dialog that leaves the loop running; True when the user chose Fetch."""
        box = QMessageBox(QMessageBox.Icon.Question, "Missing bars",
                          f"{plan.describe()}.\n\nFetch them from {source} now?", parent=self)
        fetch_button = box.addButton("Fetch", QMessageBox.ButtonRole.AcceptRole)
        cancel_button = box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(cancel_button)  # Enter must not start a download from a live account unasked
        box.setEscapeButton(cancel_button)
        label = box.findChild(QLabel, "qt_msgbox_label")
        if label is not None:  # the first line unbroken: a range split at its "…" reads as two sentences
            label.setMinimumWidth(min(640, label.fontMetrics().horizontalAdvance(plan.describe() + ".") + 8))
        answered: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

        def finished(_code: int) -> None:
            if not answered.done():
                answered.set_result(box.clickedButton() is fetch_button)

        box.finished.connect(finished)
        self.dialog = box
        box.open()  # not exec(): a nested event loop would stall the app's asyncio loop
        try:
            return await answered
        finally:
            self.dialog = None
            box.deleteLater()

    async def fetch(self, plan: FetchPlan, source: str) -> list:  # type: ignore[type-arg]
        """Backfill the plan with progress in the dock; Cancel stops after the request in flight."""
        self.fetching, self._cancelled, self._source = True, False, source
        self.progress.setValue(0)
        self.progress.setFormat(f"fetching {', '.join(plan.symbols)} {plan.bar_size.short} from {source} …")
        self.cancel_button.setEnabled(True)
        self.show()
        self.show_line(f"{plan.describe()}: fetching them from {source} …")
        try:
            return await fetch(self.session.backfill, plan, self._on_progress, lambda: self._cancelled, source)
        finally:
            self.fetching = False
            self.hide()

    def cancel(self) -> None:
        self._cancelled = True
        self.cancel_button.setEnabled(False)
        self.progress.setFormat(f"{self.progress.format()} (cancelling after the request in flight)")

    def _on_progress(self, progress: BackfillProgress) -> None:
        self.progress.setValue(int(1000 * progress.fraction))
        if not self._cancelled:
            self.progress.setFormat(f"fetching {progress.instrument.display_name} {progress.bar_size.short} from "
                                    f"{self._source}: {progress.requests_done}/{progress.requests} requests, "
                                    f"{progress.bars:,} bars")
