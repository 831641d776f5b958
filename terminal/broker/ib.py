"""IB adapter: the Broker protocol over ib_async (or ib_insync as a drop-in); the only module importing them.

Set QT_IB_CLIENT=ib_insync to use ib_insync even when ib_async is installed.
On a dropped socket it reconnects with exponential backoff, re-subscribes every
stream and republishes open orders and executions; it never re-sends an order.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from terminal.broker import convert
from terminal.broker.base import HISTORY_CHUNK, BrokerError, NotConnected, UnknownInstrument
from terminal.broker.events import (
    AccountEvent,
    BarEvent,
    ConnectionEvent,
    ConnectionState,
    DepthEvent,
    EventBus,
    PositionEvent,
    QuoteEvent,
    TickEvent,
)
from terminal.broker.ib_orders import IBOrders
from terminal.broker.pacing import PacingLimiter
from terminal.domain import (
    Account,
    AccountValue,
    Bar,
    BarSize,
    Instrument,
    Position,
    Provenance,
    session_provenance,
)
from terminal.domain.provenance import ACCOUNT_TYPE_TAG

if os.environ.get("QT_IB_CLIENT") == "ib_insync":
    import ib_insync as ibapi
else:
    try:
        import ib_async as ibapi
    except ImportError:  # pragma: no cover - depends on what is installed
        import ib_insync as ibapi

log = logging.getLogger(__name__)
CLIENT_LIBRARY = ibapi.__name__

def _duration(span: timedelta, bar_size: BarSize) -> str:
    seconds = max(1, int(span.total_seconds()))
    if bar_size is BarSize.DAY_1:
        return f"{max(1, math.ceil(seconds / 86400))} D"
    if seconds <= 86400:
        return f"{seconds} S"
    return f"{math.ceil(seconds / 86400)} D"


def history_spans(start: datetime, end: datetime, chunk: timedelta,
                  open_periods: Sequence[tuple[datetime, datetime]] | None = None) -> list[tuple[datetime, datetime]]:
    """The (start, end) of each request that covers [start, end], newest first, none longer than ``chunk``;
    with ``open_periods``, only their parts inside [start, end] (periods closer than a chunk share one)."""
    periods = [(start, end)] if open_periods is None else sorted(
        (max(a, start), min(b, end)) for a, b in open_periods if b > start and a < end)
    merged: list[tuple[datetime, datetime]] = []
    for a, b in reversed(periods):  # newest first; a request may reach over a short closed stretch
        if merged and merged[-1][1] - a <= chunk:
            merged[-1] = (min(a, merged[-1][0]), merged[-1][1])
            continue
        merged.append((a, b))
    spans: list[tuple[datetime, datetime]] = []
    for a, b in merged:
        span_end = b
        while span_end > a:
            span_start = max(a, span_end - chunk)
            spans.append((span_start, span_end))
            span_end = span_start
    return spans


class IBBroker(IBOrders):
    """Broker over one IB connection; events are published on ``events`` (orders: ``ib_orders.py``)."""

    def __init__(self, reconnect_initial: float = 0.5, reconnect_max: float = 30.0,
                 pacing: PacingLimiter | None = None) -> None:
        self.events = EventBus()
        self.ibapi = ibapi
        self.ib = ibapi.IB()
        self._init_orders()
        self.reconnect_initial = reconnect_initial
        self.reconnect_max = reconnect_max
        self.pacing = pacing or PacingLimiter()
        self._endpoint: tuple[str, int, int] | None = None
        self._closing = False
        self._reconnect_task: asyncio.Task | None = None
        self._instruments: dict[int, Instrument] = {}
        self._quote_tickers: dict[int, Any] = {}
        self._depth_tickers: dict[int, tuple[Any, int]] = {}
        self._bar_streams: dict[int, Any] = {}
        self._values: dict[str, str] = {}
        self._daily_pnl = math.nan
        self._pnl = None
        self.record_ticks = False  # publish TickEvents (every tick) besides the QuoteEvents: a recorder asks
        ib = self.ib
        ib.pendingTickersEvent += self._on_tickers
        ib.orderStatusEvent += self._on_trade
        ib.openOrderEvent += self._on_trade
        ib.commissionReportEvent += self._on_commission
        ib.updatePortfolioEvent += self._on_portfolio
        ib.accountValueEvent += self._on_account_value
        ib.pnlEvent += self._on_pnl
        ib.errorEvent += self._on_error
        ib.disconnectedEvent += self._on_disconnected

    # --- connection --------------------------------------------------------------------------
    @property
    def is_connected(self) -> bool:
        return self.ib.isConnected()

    @property
    def client_id(self) -> int:
        """The API client id of this connection (0 before the first connect)."""
        return self._endpoint[2] if self._endpoint else 0

    async def connect(self, host: str, port: int, client_id: int, timeout: float = 10.0) -> None:
        self._endpoint = (host, port, client_id)
        self._closing = False
        self.events.publish(ConnectionEvent(ConnectionState.CONNECTING, message=f"{host}:{port}"))
        self.provenance = Provenance.UNKNOWN  # somewhere else now: known again after the connect
        self._hold_sync()
        try:
            await self.ib.connectAsync(host, port, clientId=client_id, timeout=timeout)
        except (TimeoutError, OSError, ConnectionError) as exc:
            self._release_sync(Provenance.UNKNOWN)
            raise BrokerError(f"cannot connect to {host}:{port} with client id {client_id}: "
                              f"{exc or type(exc).__name__}") from exc
        await self._after_connect()

    async def _after_connect(self) -> None:
        _bound_reads(self.ib)
        accounts = self.ib.managedAccounts()
        self._release_sync(await self._session_provenance(accounts))
        if accounts:
            self._pnl = self.ib.reqPnL(accounts[0])
        host, port, client_id = self._endpoint  # type: ignore[misc]
        self.events.publish(ConnectionEvent(ConnectionState.CONNECTED,
                                            message=f"{host}:{port} client {client_id} via {CLIENT_LIBRARY}"))

    async def _session_provenance(self, accounts: list[str]) -> Provenance:
        """Simulator or replay when the server says so in ``AccountType`` (our simulator does; TWS never sends
        those values), else paper or live by the account id. The connect's sync has brought the account
        values; when it has not (no single account to subscribe to), the account summary is asked."""
        types = [v.value for v in self.ib.accountValues() if v.tag == ACCOUNT_TYPE_TAG]
        if not types:
            try:
                summary = await asyncio.wait_for(self.ib.accountSummaryAsync(), 5.0)
            except (TimeoutError, ConnectionError) as exc:
                log.warning("account summary not received (%s); the session's provenance is judged by its "
                            "account ids alone", exc)
                summary = []
            types = [v.value for v in summary if v.tag == ACCOUNT_TYPE_TAG]
        simulated = [t for t in types if session_provenance([], t).is_simulated]
        return session_provenance(accounts, simulated[0] if simulated else "")

    async def disconnect(self) -> None:
        self._closing = True
        if self._reconnect_task is not None:
            self._reconnect_task.cancel()
        if self.ib.isConnected():
            self.ib.disconnect()

    def forget_streams(self) -> None:
        """Drop every stream record (before connecting somewhere else; nothing is re-requested)."""
        self._quote_tickers.clear()
        self._depth_tickers.clear()
        self._bar_streams.clear()
        self._instruments.clear()

    def _on_disconnected(self) -> None:
        if self._closing or self._endpoint is None:
            self.events.publish(ConnectionEvent(ConnectionState.DISCONNECTED, message="disconnected"))
            return
        if self._reconnect_task is None or self._reconnect_task.done():
            self._reconnect_task = asyncio.ensure_future(self._reconnect())

    async def _reconnect(self) -> None:
        host, port, client_id = self._endpoint  # type: ignore[misc]
        delay, attempt = self.reconnect_initial, 0
        while not self._closing:
            attempt += 1
            self.events.publish(ConnectionEvent(ConnectionState.RECONNECTING, attempt, delay,
                                                f"connection to {host}:{port} lost; retry {attempt} in {delay:.1f} s"))
            await asyncio.sleep(delay)
            self._hold_sync()
            try:
                await self.ib.connectAsync(host, port, clientId=client_id, timeout=5)
            except (TimeoutError, OSError, ConnectionError) as exc:
                self._release_sync(self.provenance)
                log.info("reconnect attempt %d to %s:%d failed: %s", attempt, host, port, exc)
                if self.ib.isConnected():
                    self.ib.disconnect()
                delay = min(self.reconnect_max, delay * 2)
                continue
            await self._resubscribe()
            await self._after_connect()  # the session reconciles orders, fills and positions on CONNECTED
            return

    async def _resubscribe(self) -> None:
        """Streams die with the socket: request every quote, depth and bar stream again."""
        quotes, depth, bars = list(self._quote_tickers), list(self._depth_tickers.items()), list(self._bar_streams)
        self._quote_tickers.clear()
        self._depth_tickers.clear()
        self._bar_streams.clear()
        for con_id in quotes:
            await self.subscribe_quotes(self._instruments[con_id])
        for con_id, (_, levels) in depth:
            await self.subscribe_depth(self._instruments[con_id], levels)
        for con_id in bars:
            await self.subscribe_bars(self._instruments[con_id])

    def _require(self) -> None:
        if not self.ib.isConnected():
            raise NotConnected("not connected to the broker; the order was not sent")

    # --- instruments -------------------------------------------------------------------------
    def _contract(self, instrument: Instrument) -> Any:
        return ibapi.Contract(**convert.contract_kwargs(instrument))

    def _remember(self, instrument: Instrument) -> Instrument:
        self._instruments[instrument.contract_id] = instrument
        return instrument

    def remember(self, instrument: Instrument) -> None:
        """Know a qualified instrument by contract id (the session preloads the stored ones), so orders,
        fills and positions of it carry the same instrument (and key) as the rest of the terminal."""
        if instrument.contract_id:
            self._instruments.setdefault(instrument.contract_id, instrument)

    def _instrument_of(self, contract: Any) -> Instrument:
        known = self._instruments.get(contract.conId)
        if known is not None:
            return known
        kind = contract.secType if contract.secType in ("STK", "FUT", "CASH", "IND") else "STK"
        # Positions and executions name a stock's primary exchange; the terminal trades stocks on SMART.
        exchange = "SMART" if kind == "STK" else (contract.exchange or "SMART")
        return self._remember(Instrument(
            symbol=contract.symbol, sec_type=convert.SecType(kind), exchange=exchange,
            currency=contract.currency or "USD", contract_id=contract.conId,
            primary_exchange=(getattr(contract, "primaryExchange", "") or contract.exchange or "") if kind == "STK" else "",
            local_symbol=contract.localSymbol or "", multiplier=float(contract.multiplier or 1) or 1.0,
            tick_size=0.00005 if kind == "CASH" else (0.25 if kind == "FUT" else 0.01)))

    async def qualify(self, instrument: Instrument) -> Instrument:
        self._require()
        details = await self.ib.reqContractDetailsAsync(self._contract(instrument))
        if not details:
            raise UnknownInstrument(f"no security definition for {instrument.symbol} "
                                    f"({instrument.sec_type.value} {instrument.exchange} {instrument.currency})")
        return self._remember(convert.instrument_from_details(details[0]))

    async def search(self, pattern: str) -> list[Instrument]:
        self._require()
        found = await self.ib.reqMatchingSymbolsAsync(pattern) or []
        result = []
        for description in found:
            c = description.contract
            if c.secType not in ("STK", "FUT", "CASH"):
                continue
            result.append(Instrument(c.symbol, convert.SecType(c.secType), "SMART" if c.secType == "STK" else
                                     (c.primaryExchange or "SMART"), c.currency or "USD", contract_id=c.conId,
                                     primary_exchange=c.primaryExchange or ""))
        return result

    # --- streams -----------------------------------------------------------------------------
    async def subscribe_quotes(self, instrument: Instrument) -> None:
        self._require()
        self._remember(instrument)
        if instrument.contract_id not in self._quote_tickers:
            self._quote_tickers[instrument.contract_id] = self.ib.reqMktData(self._contract(instrument))

    async def unsubscribe_quotes(self, instrument: Instrument) -> None:
        ticker = self._quote_tickers.pop(instrument.contract_id, None)
        if ticker is not None and self.ib.isConnected():
            self.ib.cancelMktData(ticker.contract)

    def _on_tickers(self, tickers: Any) -> None:
        replay = self.provenance is Provenance.REPLAY
        for ticker in tickers:
            con_id = ticker.contract.conId
            instrument = self._instruments.get(con_id)
            if instrument is None:
                continue
            if con_id in self._quote_tickers and self._quote_tickers[con_id] is ticker:
                if self.record_ticks and ticker.ticks:
                    ticks = convert.ticks_from_ticker(ticker)
                    if ticks:
                        self.events.publish(TickEvent(instrument, ticks))
                self.events.publish(QuoteEvent(instrument, convert.quote_from_ticker(ticker, instrument.symbol, replay)))
            depth = self._depth_tickers.get(con_id)
            if depth is not None and depth[0] is ticker:
                self.events.publish(DepthEvent(instrument, tuple((d.price, d.size) for d in ticker.domBids),
                                               tuple((d.price, d.size) for d in ticker.domAsks)))

    async def subscribe_depth(self, instrument: Instrument, levels: int = 10) -> None:
        self._require()
        self._remember(instrument)
        if instrument.contract_id not in self._depth_tickers:
            ticker = self.ib.reqMktDepth(self._contract(instrument), levels)
            self._depth_tickers[instrument.contract_id] = (ticker, levels)

    async def unsubscribe_depth(self, instrument: Instrument) -> None:
        entry = self._depth_tickers.pop(instrument.contract_id, None)
        if entry is not None and self.ib.isConnected():
            self.ib.cancelMktDepth(entry[0].contract)

    async def subscribe_bars(self, instrument: Instrument) -> None:
        self._require()
        self._remember(instrument)
        if instrument.contract_id in self._bar_streams:
            return
        bars = self.ib.reqRealTimeBars(self._contract(instrument), 5, "TRADES", False)

        def on_update(stream: Any, has_new: bool) -> None:
            if has_new and stream:
                b = stream[-1]
                when = b.time if b.time.tzinfo else b.time.replace(tzinfo=UTC)
                self.events.publish(BarEvent(instrument, Bar(when, b.open_, b.high, b.low, b.close, float(b.volume),
                                                             BarSize.SEC_5)))

        bars.updateEvent += on_update
        self._bar_streams[instrument.contract_id] = bars

    async def history(self, instrument: Instrument, bar_size: BarSize, start: datetime, end: datetime,
                      progress: Callable[[float], None] | None = None,
                      open_periods: Sequence[tuple[datetime, datetime]] | None = None) -> list[Bar]:
        """Bars in [start, end], fetched newest chunk first within IB's per-request limits, paced.

        An empty chunk is a night, a weekend or a holiday, not the start of the data: the walk goes on to
        ``start`` (5-second bars asked from Monday back to Friday used to stop at Sunday). With
        ``open_periods`` (the exchange calendar's sessions, from the caller) only they are asked for."""
        self._require()
        contract = self._contract(instrument)
        spans = history_spans(start, end, HISTORY_CHUNK[bar_size], open_periods)
        collected: dict[datetime, Bar] = {}
        for done, (span_start, span_end) in enumerate(spans, 1):
            end_text = span_end.astimezone(UTC).strftime("%Y%m%d-%H:%M:%S")
            await self.pacing.acquire((instrument.contract_id, bar_size, end_text))
            bars = await self.ib.reqHistoricalDataAsync(contract, end_text, _duration(span_end - span_start, bar_size),
                                                        bar_size.value,
                                                        "MIDPOINT" if instrument.sec_type.value == "CASH" else "TRADES",
                                                        False, formatDate=2)
            for b in bars or []:
                when = b.date if isinstance(b.date, datetime) else datetime(b.date.year, b.date.month, b.date.day)
                when = when if when.tzinfo else when.replace(tzinfo=UTC)
                if start <= when <= end:
                    collected[when] = Bar(when, b.open, max(b.high, b.open, b.close), min(b.low, b.open, b.close),
                                          b.close, max(0.0, float(b.volume)), bar_size)
            if progress is not None:
                progress(done / len(spans))
        if progress is not None and not spans:
            progress(1.0)
        return [collected[t] for t in sorted(collected)]

    # --- portfolio ---------------------------------------------------------------------------
    async def positions(self) -> list[Position]:
        items = self.ib.portfolio()
        if items:
            return [convert.position_from_ib(i, self._instrument_of(i.contract), convert.number(i.marketPrice),
                                             convert.number(i.realizedPNL)) for i in items]
        return [convert.position_from_ib(p, self._instrument_of(p.contract)) for p in self.ib.positions()]

    async def account(self) -> Account:
        accounts = self.ib.managedAccounts()
        values = {v.tag: v.value for v in self.ib.accountValues() if v.currency in ("USD", "BASE", "")}
        self._values.update(values)
        return convert.account_from_values(accounts[0] if accounts else "", self._values, self._daily_pnl,
                                           self.provenance)

    async def account_values(self) -> list[AccountValue]:
        return [AccountValue(v.account, v.tag, v.value, v.currency) for v in self.ib.accountValues()]

    async def server_time(self) -> datetime:
        self._require()
        return await self.ib.reqCurrentTimeAsync()

    def _on_portfolio(self, item: Any) -> None:
        instrument = self._instrument_of(item.contract)
        self.events.publish(PositionEvent(convert.position_from_ib(item, instrument, convert.number(item.marketPrice),
                                                                   convert.number(item.realizedPNL))))

    def _on_account_value(self, value: Any) -> None:
        if value.currency not in ("USD", "BASE", ""):
            return
        self._values[value.tag] = value.value
        if self._sync_held is not None:  # the provenance is not known yet; the session asks account() after the sync
            return
        if value.tag in ("NetLiquidation", "TotalCashValue", "BuyingPower", "DailyPnL"):
            self.events.publish(AccountEvent(convert.account_from_values(value.account, self._values, self._daily_pnl,
                                                                         self.provenance)))

    def _on_pnl(self, pnl: Any) -> None:
        daily = convert.number(pnl.dailyPnL)
        if math.isfinite(daily):
            self._daily_pnl = daily
            if self._sync_held is not None:
                return
            self.events.publish(AccountEvent(convert.account_from_values(pnl.account, self._values, daily,
                                                                         self.provenance)))


SOCKET_READ_BYTES = 16 * 1024


def _bound_reads(ib: Any) -> None:
    """Read the TWS socket at most 16 KiB at a time (asyncio reads up to 256 KiB).

    The client library decodes a whole read in one loop callback and cuts each message off the
    front of its buffer by copying the rest (``data = data[end:]``): quadratic in the read size.
    At 500 symbols × 20 quotes/s a busy loop fell behind into 256 KiB reads of ~7,000 messages,
    each copying ~0.9 GB and holding the Qt loop for over 100 ms. Small reads keep each callback
    to a few milliseconds and the copying linear; the kernel's socket buffer holds the rest."""
    transport = getattr(getattr(ib.client, "conn", None), "transport", None)
    if transport is not None and hasattr(transport, "max_size"):
        transport.max_size = SOCKET_READ_BYTES
