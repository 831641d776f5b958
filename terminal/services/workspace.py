"""Workspace service: what the user arranged and keeps between runs — watchlists, the window layout,
chart drawings, risk limits — and instrument lookups in the store. The UI reads and writes these
through here, never the store."""

from __future__ import annotations

import asyncio
from typing import Any

from terminal.domain import Instrument
from terminal.store import Store

WORKSPACE_KEY = "workspace"
RISK_LIMITS_KEY = "risk_limits"


class WorkspaceService:
    def __init__(self, store: Store) -> None:
        self._store = store

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
        """Synchronous on purpose: called while the window closes, after which the loop may be gone."""
        self._store.key_values.set(WORKSPACE_KEY, layout)

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
