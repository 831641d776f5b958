"""Where a record came from (a live account, paper, the simulator, a replay, a file), so simulated never passes for real.

Stored as its short lower-case text (``Provenance.value``, at most 16 characters) in the
``provenance`` columns of orders, fills and bar sources (schema v3). Broker sessions are
classified once after connecting (``session_provenance``): the simulator says what it is in
the account value ``AccountType`` (``SIMULATOR`` or ``REPLAY``, a value a real TWS never
sends); any other IB account is paper when its id starts with ``DU`` or ``DF`` (IB's
convention for paper accounts), otherwise live.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Provenance(StrEnum):
    LIVE = "live"
    PAPER = "paper"
    SIMULATOR = "simulator"
    REPLAY = "replay"
    CSV = "csv"
    QUANDL = "quandl"
    UNKNOWN = "unknown"

    @property
    def is_simulated(self) -> bool:
        """Made by our simulator (GBM prices or a replay): never real market data, never real money."""
        return self in (Provenance.SIMULATOR, Provenance.REPLAY)

    @property
    def label(self) -> str:
        """How the UI and reports name it: ``SIMULATOR``, ``PAPER``, ``LIVE`` …"""
        return self.value.upper()

    @classmethod
    def parse(cls, text: object) -> Provenance:
        """The provenance named by ``text`` (any case); UNKNOWN for anything else (an old row, a foreign value)."""
        try:
            return cls(str(text or "").strip().lower())
        except ValueError:
            return cls.UNKNOWN


# The account value tag the simulator identifies itself with, and the values it sends in it.
ACCOUNT_TYPE_TAG = "AccountType"
SIMULATED_ACCOUNT_TYPES = {"SIMULATOR": Provenance.SIMULATOR, "REPLAY": Provenance.REPLAY}
PAPER_ACCOUNT_PREFIXES = ("DU", "DF")


def session_provenance(account_ids: Iterable[str], account_type: str = "") -> Provenance:
    """The provenance of a broker session from its managed account ids and its ``AccountType`` account value."""
    simulated = SIMULATED_ACCOUNT_TYPES.get(account_type.strip().upper())
    if simulated is not None:
        return simulated
    ids = [a.strip() for a in account_ids if a and a.strip()]
    if not ids:
        return Provenance.UNKNOWN
    return Provenance.PAPER if ids[0].upper().startswith(PAPER_ACCOUNT_PREFIXES) else Provenance.LIVE


def weakest(provenances: Iterable[Provenance]) -> Provenance:
    """The one provenance a mix of sources is shown as: simulated before unknown before real data.

    A series with any simulator bars in it is synthetic, whatever else it holds."""
    found = set(provenances)
    for worst in (Provenance.SIMULATOR, Provenance.REPLAY, Provenance.UNKNOWN):
        if worst in found:
            return worst
    for real in (Provenance.PAPER, Provenance.LIVE, Provenance.CSV, Provenance.QUANDL):
        if real in found:
            return real
    return Provenance.UNKNOWN


def data_warning(provenance: Provenance) -> str:
    """What a backtest on bars of ``provenance`` must say about them; empty for real market data."""
    if provenance.is_simulated:
        return (f"synthetic data ({provenance.value}): these bars are the simulator's random walk, not market "
                "prices; figures from them say nothing about the strategy")
    if provenance is Provenance.UNKNOWN:
        return ("data of unknown provenance: the store does not know where these bars came from (stored before "
                "provenance was recorded, or written without it); they may be the simulator's synthetic bars")
    return ""
