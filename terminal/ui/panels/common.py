"""Helpers shared by panels: a table view set up the terminal's way, and running service coroutines from Qt slots."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from PySide6.QtCore import QSortFilterProxyModel, Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

log = logging.getLogger(__name__)
_background: set[asyncio.Task] = set()


def make_table(model, sortable: bool = False, parent=None) -> QTableView:  # type: ignore[no-untyped-def]
    view = QTableView(parent)
    if sortable:
        proxy = QSortFilterProxyModel(view)
        proxy.setSourceModel(model)
        proxy.setSortRole(Qt.ItemDataRole.UserRole)
        view.setModel(proxy)
        view.setSortingEnabled(True)
    else:
        view.setModel(model)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setAlternatingRowColors(True)
    view.setShowGrid(False)
    view.setWordWrap(False)
    view.verticalHeader().setVisible(False)
    view.verticalHeader().setDefaultSectionSize(22)
    view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    view.horizontalHeader().setDefaultSectionSize(68)
    view.horizontalHeader().setMinimumSectionSize(36)
    view.horizontalHeader().setStretchLastSection(True)
    view.horizontalHeader().setHighlightSections(False)
    return view


def mark_stale(widget: QWidget, stale: bool) -> None:
    """Set the widget's ``stale`` property, which the theme's style sheet greys (``[stale="true"]`` rules); Qt
    applies a property rule only on a re-polish."""
    if bool(widget.property("stale")) == stale:
        return
    widget.setProperty("stale", stale)
    widget.style().unpolish(widget)
    widget.style().polish(widget)


def source_row(view: QTableView, row: int) -> int:
    """Row in the source model for a (possibly sorted) view row."""
    model = view.model()
    if isinstance(model, QSortFilterProxyModel):
        return model.mapToSource(model.index(row, 0)).row()
    return row


def spawn(coroutine: Awaitable, on_error: Callable[[Exception], None] | None = None) -> asyncio.Task | None:
    """Run a service coroutine from a Qt slot; errors go to ``on_error`` (the panel shows them), never lost.

    A Qt timer or signal can still fire while the window closes, after the asyncio loop has stopped:
    then there is nothing to run on, the coroutine is closed unstarted and ``None`` is returned.
    """
    try:
        task = asyncio.ensure_future(coroutine)
    except RuntimeError as exc:  # no event loop any more: the application is shutting down
        close = getattr(coroutine, "close", None)
        if close is not None:
            close()
        log.debug("not started, no event loop: %s", exc)
        return None
    _background.add(task)

    def done(t: asyncio.Task) -> None:
        _background.discard(t)
        if t.cancelled():
            return
        error = t.exception()
        if error is not None:
            if on_error is not None:
                on_error(error)
            else:
                log.error("background task failed: %s", error, exc_info=error)

    task.add_done_callback(done)
    return task
