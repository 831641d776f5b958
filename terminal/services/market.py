"""Market data service: resolves symbols to instruments, shares quote and depth subscriptions, keeps last quotes."""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from terminal.broker.base import Broker, BrokerError, UnknownInstrument
from terminal.domain import Instrument, Quote, SecType, ValidationError
from terminal.services.signal import Signal
from terminal.store import Store

_FX = re.compile(r"^([A-Z]{3})[./]([A-Z]{3})$")
SNAPSHOT_SECONDS = 10.0  # how long a snapshot quote serves as the reference price of an unsubscribed instrument
_TYPED = re.compile(r"^([A-Z0-9.]+)[\s:]+(STK|FUT|CASH|IND)$")
_CLASS_SHARE = re.compile(r"^([A-Z]{1,5})[ ./]([A-Z])$")  # BRK.B, BRK/B, BRK B: IB spells it "BRK B"


class UnknownSymbol(ValidationError):
    """The broker has no instrument for what the user typed."""


@dataclass(frozen=True)
class DepthBook:
    instrument: Instrument
    bids: tuple[tuple[float, float], ...]  # (price, size), best first
    asks: tuple[tuple[float, float], ...]


def parse_symbol(text: str) -> Instrument:
    """What a user types → an unqualified instrument: ``AAPL``, ``EUR.USD``, ``ES FUT``."""
    cleaned = " ".join(text.strip().upper().split())
    if not cleaned:
        raise UnknownSymbol("symbol is empty; type a ticker such as AAPL, EUR.USD or ES FUT")
    fx = _FX.match(cleaned)
    if fx:
        return Instrument(fx.group(1), SecType.FOREX, "IDEALPRO", fx.group(2), tick_size=0.00005)
    share_class = _CLASS_SHARE.match(cleaned)
    if share_class:
        return Instrument(f"{share_class.group(1)} {share_class.group(2)}")
    typed = _TYPED.match(cleaned)
    if typed:
        sec_type = SecType(typed.group(2))
        exchange = {SecType.FUTURE: "", SecType.FOREX: "IDEALPRO"}.get(sec_type, "SMART")
        return Instrument(typed.group(1), sec_type, exchange or "SMART")
    if not re.fullmatch(r"[A-Z0-9.\-]{1,12}", cleaned):
        raise UnknownSymbol(f"{text!r} is not a symbol; type a ticker such as AAPL, EUR.USD or ES FUT")
    return Instrument(cleaned)


class MarketService:
    """One subscription per instrument however many views want it; quotes are published as they come."""

    def __init__(self, broker: Broker, store: Store | None = None) -> None:
        self._broker = broker
        self._store = store
        self.instruments: dict[str, Instrument] = {}
        self.quotes: dict[str, Quote] = {}
        self.depth: dict[str, DepthBook] = {}
        self._quote_refs: Counter[str] = Counter()
        self._depth_refs: Counter[str] = Counter()
        self._by_symbol: dict[str, str] = {}
        self._snapshots: dict[str, tuple[Quote, float]] = {}
        self.quote_updated: Signal[tuple[Instrument, Quote]] = Signal("market.quote_updated")
        self.depth_updated: Signal[DepthBook] = Signal("market.depth_updated")

    def use_broker(self, broker: Broker) -> None:
        """The session switched to a broker of another kind (the desk feed, or IB's after it)."""
        self._broker = broker

    async def qualify(self, text_or_instrument: str | Instrument) -> Instrument:
        """Resolve to a qualified instrument (contract id, tick size, multiplier) or raise UnknownSymbol."""
        wanted = parse_symbol(text_or_instrument) if isinstance(text_or_instrument, str) else text_or_instrument
        if wanted.contract_id and wanted.key in self.instruments:
            return self.instruments[wanted.key]
        try:
            instrument = await self._broker.qualify(wanted)
        except UnknownInstrument as first_error:
            if wanted.sec_type is not SecType.STOCK or not isinstance(text_or_instrument, str):
                raise UnknownSymbol(str(first_error)) from first_error
            matches = [i for i in await self._broker.search(wanted.symbol) if i.symbol == wanted.symbol]
            if not matches:
                raise UnknownSymbol(f"no instrument {wanted.symbol} at the broker: {first_error}") from first_error
            instrument = await self._broker.qualify(matches[0])
        self.remember(instrument)
        if self._store is not None:
            await asyncio.to_thread(self._store.instruments.save, instrument)
        return instrument

    def remember(self, instrument: Instrument) -> None:
        self.instruments[instrument.key] = instrument
        self._by_symbol.setdefault(instrument.symbol, instrument.key)

    async def subscribe(self, instrument: Instrument) -> None:
        self.remember(instrument)
        self._quote_refs[instrument.key] += 1
        if self._quote_refs[instrument.key] == 1:
            await self._broker.subscribe_quotes(instrument)

    async def unsubscribe(self, instrument: Instrument) -> None:
        if self._quote_refs[instrument.key] <= 0:
            return
        self._quote_refs[instrument.key] -= 1
        if self._quote_refs[instrument.key] == 0:
            await self._broker.unsubscribe_quotes(instrument)

    async def subscribe_depth(self, instrument: Instrument, levels: int = 10) -> None:
        self.remember(instrument)
        self._depth_refs[instrument.key] += 1
        if self._depth_refs[instrument.key] == 1:
            await self._broker.subscribe_depth(instrument, levels)

    async def unsubscribe_depth(self, instrument: Instrument) -> None:
        if self._depth_refs[instrument.key] <= 0:
            return
        self._depth_refs[instrument.key] -= 1
        if self._depth_refs[instrument.key] == 0:
            await self._broker.unsubscribe_depth(instrument)

    def subscribed(self) -> list[Instrument]:
        return [self.instruments[k] for k, n in self._quote_refs.items() if n > 0]

    def subscribed_depth(self) -> list[Instrument]:
        return [self.instruments[k] for k, n in self._depth_refs.items() if n > 0]

    def forget_market_data(self) -> None:
        """The broker changed (a switch, a replay): what the last one quoted must not stand for the next.

        Every view is told its instrument has no quote and no book now; the subscriptions' counts stay."""
        known = [self.instruments[k] for k in self.quotes if k in self.instruments]
        books = [book.instrument for book in self.depth.values()]
        self.quotes.clear()
        self.depth.clear()
        self._snapshots.clear()
        for instrument in known:
            self.quote_updated.emit((instrument, Quote(instrument.symbol)))
        for instrument in books:
            self.depth_updated.emit(DepthBook(instrument, (), ()))

    def instrument_for_symbol(self, symbol: str) -> Instrument | None:
        key = self._by_symbol.get(symbol)
        return self.instruments.get(key) if key else None

    def reference_price(self, instrument: Instrument) -> float:
        """Last (or mid, or close) of the streaming quote, else of a snapshot taken in the last 10 s; NaN if none."""
        quote = self.quotes.get(instrument.key)
        if quote is not None and math.isfinite(quote.reference_price):
            return quote.reference_price
        taken = self._snapshots.get(instrument.key)
        if taken is not None and time.monotonic() - taken[1] < SNAPSHOT_SECONDS:
            return taken[0].reference_price
        return math.nan

    async def reference_price_now(self, instrument: Instrument, timeout: float = 3.0) -> tuple[float, str]:
        """The reference price, asking the broker for a snapshot when no quote streams; (NaN, why) if none."""
        price = self.reference_price(instrument)
        if math.isfinite(price):
            return price, ""
        try:
            quote = await self._broker.snapshot(instrument, timeout)
        except BrokerError as exc:
            return math.nan, str(exc)
        self._snapshots[instrument.key] = (quote, time.monotonic())
        return quote.reference_price, ""

    # --- from the broker ---------------------------------------------------------------
    def on_quote(self, instrument: Instrument, quote: Quote) -> None:
        self.quotes[instrument.key] = quote
        self.quote_updated.emit((instrument, quote))

    def on_depth(self, instrument: Instrument, bids: Iterable[tuple[float, float]],
                 asks: Iterable[tuple[float, float]]) -> None:
        book = DepthBook(instrument, tuple(bids), tuple(asks))
        self.depth[instrument.key] = book
        self.depth_updated.emit(book)
