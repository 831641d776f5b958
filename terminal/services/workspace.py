"""Workspace service: what the user arranged and keeps between runs — watchlists, the window layout,
chart drawings, risk limits — and instrument lookups in the store. The UI reads and writes these
through here, never the store."""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Coroutine
from typing import Any

from terminal.domain import Instrument
from terminal.store import Store

WORKSPACE_KEY = "workspace"
RISK_LIMITS_KEY = "risk_limits"


class WorkspaceService:
    def __init__(self, store: Store) -> None:
        self._store = store
        # Layout saves are numbered when asked for and written in that order's favour: a save that reaches
        # the store after a newer one (a thread still waiting on a lock when the window closes) is dropped.
        self._layout_numbers = itertools.count(1)
        self._layout_lock = threading.Lock()
        self._layout_written = 0

    # --- watchlists ------------------------------------------------------------------------------
    async def watchlist_names(self, defaults: dict[str, list[str]] | None = None) -> list[str]:
        """The saved lists; on a first start, ``defaults`` (name → symbols) are created first."""
        names = await asyncio.to_thread(self._store.watchlists.names)
        if not names and defaults:
            for name, symbols in defaults.items():
                await self.set_watchlist(name, [f"@{s}" for s in symbols])
            names = list(defaults)
        return names

    async def watchlist(self, name: str) -> list[str]:
        return await asyncio.to_thread(self._store.watchlists.items, name)

    async def set_watchlist(self, name: str, keys: list[str]) -> None:
        await asyncio.to_thread(self._store.watchlists.set_items, name, keys)

    async def create_watchlist(self, name: str) -> None:
        await asyncio.to_thread(self._store.watchlists.create, name)

    # --- instruments -----------------------------------------------------------------------------
    async def instrument(self, key: str) -> Instrument | None:
        return await asyncio.to_thread(self._store.instruments.get, key)

    async def find_symbol(self, symbol: str) -> list[Instrument]:
        return await asyncio.to_thread(self._store.instruments.find_symbol, symbol)

    # --- saved values ----------------------------------------------------------------------------
    async def layout(self) -> dict[str, Any]:
        return await asyncio.to_thread(self._store.key_values.get, WORKSPACE_KEY, {}) or {}

    def save_layout(self, layout: dict[str, Any]) -> None:
        """Synchronous on purpose: called while the window closes, after which the loop may be gone.
        While the loop runs, use :meth:`save_layout_async`."""
        self._write_layout(next(self._layout_numbers), layout)

    def save_layout_async(self, layout: dict[str, Any]) -> Coroutine[Any, Any, None]:
        """Save the window layout in a thread (a theme change, any save while the window is open); await the
        result. If a newer layout is saved first, this one is dropped. Not ``async def``: the save is
        numbered when asked for, not when the coroutine first runs (a close may come in between)."""
        return asyncio.to_thread(self._write_layout, next(self._layout_numbers), layout)

    def _write_layout(self, number: int, layout: dict[str, Any]) -> None:
        with self._layout_lock:
            if number < self._layout_written:
                return
            self._store.key_values.set(WORKSPACE_KEY, layout)
            self._layout_written = number

    async def drawings(self, instrument: Instrument) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self._store.key_values.get, _drawings_key(instrument), []) or []

    async def save_drawings(self, instrument: Instrument, drawings: list[dict[str, Any]]) -> None:
        await asyncio.to_thread(self._store.key_values.set, _drawings_key(instrument), drawings)

    def saved_risk_limits(self) -> dict[str, Any] | None:
        return self._store.key_values.get(RISK_LIMITS_KEY)

    async def save_risk_limits(self, limits: dict[str, Any]) -> None:
        await asyncio.to_thread(self._store.key_values.set, RISK_LIMITS_KEY, limits)


def _drawings_key(instrument: Instrument) -> str:
    return f"drawings:{instrument.key}"
