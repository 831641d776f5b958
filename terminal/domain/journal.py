"""The trade journal's round trips: from fills (first in, first out, per account and instrument), from a
backtest's trade list, and the measures a trader reviews them by (R-multiple, MAE, MFE, holding time).

Definitions (q = quantity, s = +1 long / −1 short, E = entry price, X = exit price):
- pnl          s·q·(X − E) minus the commission charged on the fills' shares of the trade (fills); a
               backtest trade's P&L as its engine reports it (before commission)
- R-multiple   pnl before commission / (q·|E − stop|), the stop being the price of the stop order attached
               to the entry (a bracket's stop child); none without a stop
- MAE          the worst open P&L while held: min(0, s·q·(worst price − E)) over the bars inside the holding
               period and the exit price (a number ≤ 0, money)
- MFE          the best: max(0, s·q·(best price − E)) (a number ≥ 0, money)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from terminal.domain.order import Fill
from terminal.domain.provenance import Provenance

SOURCES = ("live", "paper", "sim", "replay", "backtest", "unknown")
_BY_PROVENANCE = {Provenance.LIVE: "live", Provenance.PAPER: "paper", Provenance.SIMULATOR: "sim",
                  Provenance.REPLAY: "replay"}


def source_of(provenance: Provenance) -> str:
    """The journal source of a fill from a broker session of this provenance."""
    return _BY_PROVENANCE.get(provenance, "unknown")


@dataclass(frozen=True)
class RoundTrip:
    key: str  # unique: "fill:<entry execution>><exit execution>" or "backtest:<run>:<n>"
    source: str
    symbol: str
    side: str  # "long" or "short"
    quantity: float
    entry_time: datetime
    exit_time: datetime
    entry_price: float
    exit_price: float
    pnl: float
    commission: float = 0.0
    account: str = ""
    instrument_key: str = ""
    entry_order: str = ""  # client order id of the entry (fills)
    stop_price: float | None = None
    r_multiple: float | None = None
    mae: float | None = None
    mfe: float | None = None
    run_id: int | None = None
    strategy: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)
    notes: str = ""

    @property
    def sign(self) -> int:
        return 1 if self.side == "long" else -1

    @property
    def gross(self) -> float:
        return self.sign * self.quantity * (self.exit_price - self.entry_price)

    @property
    def holding_seconds(self) -> float:
        return (self.exit_time - self.entry_time).total_seconds()

    def with_stop(self, stop: float | None) -> RoundTrip:
        return replace(self, stop_price=stop, r_multiple=r_multiple(self.gross, self.quantity, self.entry_price, stop))

    def with_excursions(self, highs: Sequence[float], lows: Sequence[float]) -> RoundTrip:
        mae, mfe = excursions(self.sign, self.quantity, self.entry_price, self.exit_price, highs, lows)
        return replace(self, mae=mae, mfe=mfe)


def r_multiple(gross: float, quantity: float, entry: float, stop: float | None) -> float | None:
    risk = abs(entry - stop) * quantity if stop is not None else 0.0
    return gross / risk if risk > 0 else None


def excursions(sign: int, quantity: float, entry: float, exit_price: float, highs: Sequence[float],
               lows: Sequence[float]) -> tuple[float, float]:
    """(MAE, MFE) in money over the bars' highs and lows while held and the exit price."""
    worst = min([*(lows if sign > 0 else highs), exit_price], key=lambda p: sign * (p - entry))
    best = max([*(highs if sign > 0 else lows), exit_price], key=lambda p: sign * (p - entry))
    return min(0.0, sign * quantity * (worst - entry)), max(0.0, sign * quantity * (best - entry))


def fill_round_trips(fills: Iterable[Fill]) -> list[RoundTrip]:
    """Round trips of the fills, FIFO per (account, instrument): a fill against the open lots closes them
    oldest first (a partial close splits a lot; a fill larger than the position reverses it). Fills are
    taken in time order; a position still open is no round trip yet."""
    lots: dict[tuple[str, str], list[list]] = {}
    trips: list[RoundTrip] = []
    for fill in sorted(fills, key=lambda f: (f.time, f.execution_id)):
        book = lots.setdefault((fill.account, fill.instrument.key), [])
        remaining = fill.quantity * fill.side.sign
        per_share = fill.commission / fill.quantity if fill.quantity else 0.0
        while remaining and book and (book[0][0] > 0) != (remaining > 0):
            lot = book[0]  # [signed quantity, fill, commission per share]
            qty = min(abs(remaining), abs(lot[0]))
            entry: Fill = lot[1]
            sign = 1 if lot[0] > 0 else -1
            commission = qty * (lot[2] + per_share)
            gross = sign * qty * (fill.price - entry.price)
            trips.append(RoundTrip(
                key=f"fill:{entry.execution_id}>{fill.execution_id}", source=source_of(fill.provenance),
                symbol=fill.instrument.symbol, side="long" if sign > 0 else "short", quantity=qty,
                entry_time=entry.time, exit_time=fill.time, entry_price=entry.price, exit_price=fill.price,
                pnl=gross - commission, commission=commission, account=fill.account,
                instrument_key=fill.instrument.key, entry_order=entry.client_order_id))
            lot[0] -= sign * qty
            remaining += sign * qty
            if abs(lot[0]) < 1e-9:
                book.pop(0)
        if abs(remaining) > 1e-9:
            book.append([remaining, fill, per_share])
    return trips


def backtest_round_trips(run_id: int, strategy: str, trades: Iterable[dict]) -> list[RoundTrip]:
    """A saved backtest's trade list as journal round trips, one for one and in order; a trade opened with a stop
    has its R-multiple."""
    out = []
    for n, t in enumerate(trades):
        size = float(t["size"])
        trip = RoundTrip(
            key=f"backtest:{run_id}:{n}", source="backtest", symbol=t["symbol"],
            side="long" if size > 0 else "short", quantity=abs(size),
            entry_time=datetime.fromisoformat(t["entry_time"]), exit_time=datetime.fromisoformat(t["exit_time"]),
            entry_price=float(t["entry_price"]), exit_price=float(t["exit_price"]), pnl=float(t["pnl"]),
            run_id=run_id, strategy=strategy, tags=("open",) if t.get("open") else ())
        out.append(trip.with_stop(float(t["stop"])) if t.get("stop") is not None else trip)
    return out



@dataclass(frozen=True)
class Matched:
    backtest: RoundTrip
    actual: RoundTrip
    entry_slippage: float  # per unit, what the actual entry cost more than the backtest's (positive: worse)
    exit_slippage: float  # per unit, what the actual exit gave less than the backtest's (positive: worse)

    @property
    def slippage_cost(self) -> float:
        """Both legs' slippage in money on the actual quantity."""
        return (self.entry_slippage + self.exit_slippage) * self.actual.quantity


@dataclass(frozen=True)
class Comparison:
    matched: list[Matched]
    missed: list[RoundTrip]  # the backtest traded, the account did not
    extra: list[RoundTrip]  # the account traded, the backtest did not

    @property
    def slippage_cost(self) -> float:
        return sum(m.slippage_cost for m in self.matched)


def compare(backtest: list[RoundTrip], actual: list[RoundTrip], tolerance_seconds: float) -> Comparison:
    """Pair each backtest round trip with the first actual one of the same symbol and side entered within
    ``tolerance_seconds`` of it (each used once, in entry-time order); the rest are missed or extra trades."""
    unused = sorted(actual, key=lambda t: t.entry_time)
    matched: list[Matched] = []
    missed: list[RoundTrip] = []
    for bt in sorted(backtest, key=lambda t: t.entry_time):
        match = next((a for a in unused if a.symbol == bt.symbol and a.side == bt.side
                      and abs((a.entry_time - bt.entry_time).total_seconds()) <= tolerance_seconds), None)
        if match is None:
            missed.append(bt)
            continue
        unused.remove(match)
        sign = bt.sign
        matched.append(Matched(bt, match, sign * (match.entry_price - bt.entry_price),
                               sign * (bt.exit_price - match.exit_price)))
    return Comparison(matched, missed, unused)
