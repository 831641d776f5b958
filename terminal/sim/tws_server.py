"""The exchange simulator as a TWS API server: contracts, quotes, depth, bars, history, orders, accounts.

Claims server version 176 (ib_insync speaks 157..176, ib_async 157..178) and refuses a handshake
whose range lacks it. Each client (distinct client id) sees its own orders; a malformed message
or a field its type cannot hold gets error 321 naming it, and the connection stays; a framing
error (an oversize, stalled or over-budget frame) closes only that client, and a client that does
not read its socket is first skipped for market data, then dropped (``ConnectionLimits``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import pandas as pd

from terminal.domain import AccountValue, DomainError, Order, OrderStatus, Provenance
from terminal.domain.provenance import ACCOUNT_TYPE_TAG
from terminal.sim import outgoing as out
from terminal.sim.contracts import Listing, Universe
from terminal.sim.events import BookSnapshot, EngineEvent, Execution, OrderUpdate, Rejection
from terminal.sim.framing import ConnectionLimits, PartialFrames
from terminal.sim.history_query import HistoryRequestError, bar_rows, open_market_bars, parse_query
from terminal.sim.incoming import ContractRef, contract_at, place_order
from terminal.sim.live_market import LiveTicker
from terminal.sim.matching import Accounts, MatchingEngine, commission
from terminal.sim.prices import Market
from terminal.sim.replay_driver import ReplayDriver
from terminal.sim.session import ClientSession
from terminal.sim.wire import ProtocolError, as_int

log = logging.getLogger(__name__)

REPLAY_ACCOUNTS = ("REPLAY1",)
DEFAULT_TICK_RATE = 4.0  # quotes per second per instrument; TWS conflates stocks to a few a second


class SimServer:
    """``await start()`` listens (port 0 = a free port, see ``.port``); ``await stop()`` closes everything."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, seed: int | None = 7, symbols: list[str] | None = None,
                 replay: dict[str, pd.DataFrame] | None = None, tick_interval: float = 0.25,
                 starting_cash: float = 1_000_000.0, accounts: Accounts | None = None,
                 executions_first: bool = False, limits: ConnectionLimits | None = None,
                 listings: list[Listing] | None = None, provenance: Provenance = Provenance.SIMULATOR,
                 replay_driver: ReplayDriver | None = None) -> None:
        """``accounts`` carries positions and cash over from a previous instance (as IB keeps them when
        a Gateway restarts; its orders are gone). ``executions_first`` sends each fill's execDetails
        before the order's openOrder/orderStatus, an ordering TWS also produces. ``limits`` bounds what
        a client may cost (frame size and time, bytes held and queued); see ``ConnectionLimits``.
        ``provenance`` is what every client is told this server is (SIMULATOR, or REPLAY for a replay),
        in the account value ``AccountType``: a real TWS never sends either, so the terminal cannot take
        the simulator's account for a real one."""
        if not provenance.is_simulated:
            raise ValueError(f"simulator provenance {provenance.value!r} must be simulator or replay")
        if replay_driver is not None:
            provenance = Provenance.REPLAY  # a replay is never taken for the simulator's own market either
            accounts = accounts or Accounts(starting_cash, REPLAY_ACCOUNTS)  # a fresh account, its own id
        self.provenance = provenance
        self.host = host
        self.port = port
        self.universe = Universe(symbols, listings)
        self.market = Market(self.universe, seed if seed is not None else 7, replay)
        self.accounts = accounts or Accounts(starting_cash)
        self.executions_first = executions_first
        self.engine = MatchingEngine(self.accounts)
        self.tick_interval = tick_interval
        self.sessions: list[ClientSession] = []
        self.limits = limits or ConnectionLimits()
        self.partial_frames = PartialFrames(self.limits.max_partial_frame_bytes)
        self._session_tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.base_events.Server | None = None
        self._ticker: asyncio.Task | None = None
        self._order_ids: dict[int, int] = {}
        self.loop: asyncio.AbstractEventLoop  # the loop start() ran on
        self.frozen = False
        # Seconds the exchange takes to take in a new order (a slow TWS): the order is received, then
        # processed this much later; a server stopped meanwhile never processes it (TWS going down).
        self.order_delay = 0.0
        self.stopping = False  # set by stop(): requests still in the sockets are dropped, as by a TWS going down
        # The market's driver: GBM prices (LiveTicker), or in replay mode the recording's tape and clock
        self.live = LiveTicker(self)
        self.replay = replay_driver
        if replay_driver is not None:
            replay_driver.server = self
            self.engine = MatchingEngine(self.accounts, clock=replay_driver.now)
        self.handlers: dict[int, Callable[[ClientSession, list[str]], None]] = {
            71: lambda s, f: s.start_api(f), 1: self._req_mkt_data, 2: self._cancel_mkt_data, 3: self._place_order,
            4: self._cancel_order, 5: self._req_open_orders, 6: self._req_account_updates, 7: self._req_executions,
            8: self._req_ids, 9: self._req_contract_details, 10: self._req_mkt_depth, 11: self._cancel_mkt_depth,
            15: lambda s, f: None, 16: self._req_open_orders, 17: lambda s, f: s.send(15, 1, ",".join(self.accounts.ids())),
            20: self._req_historical_data, 25: self._cancel_historical, 49: self._req_current_time,
            50: self._req_realtime_bars, 51: self._cancel_realtime_bars, 58: self._req_global_cancel,
            59: lambda s, f: None, 61: self._req_positions, 64: self._cancel_positions, 62: self._req_account_summary,
            63: lambda s, f: None, 76: self._req_account_updates_multi, 77: lambda s, f: None,
            81: self._req_matching_symbols, 82: lambda s, f: s.send(80, 0), 92: self._req_pnl, 93: self._cancel_pnl,
            94: self._req_pnl_single, 95: self._cancel_pnl, 99: self._req_completed_orders,
        }

    # --- life cycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()  # sessions keep their deadlines on it (see framing)
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        self._ticker = asyncio.create_task(self.replay.run() if self.replay is not None else self.live.run())
        log.info("simulator listening on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        # From here nothing more executes: an order read from a socket after this point must not fill
        # (moving the account's position) while its execution report can no longer reach the client.
        self.stopping = True
        if self._ticker is not None:
            self._ticker.cancel()
            try:
                await self._ticker
            except asyncio.CancelledError:
                pass
            except Exception:  # the ticker logs its own failures; stopping must still close the sockets
                log.exception("simulator ticker ended with an error")
        if self._server is not None:
            self._server.close()
            for session in list(self.sessions):
                if session.queued_bytes():  # close() would wait for a client that is not reading, forever
                    session.writer.transport.abort()
                else:
                    session.writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            if self._session_tasks:  # each ends once its socket is closed; none is left for the loop to cancel
                await asyncio.wait(self._session_tasks, timeout=2)
        self.sessions.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = ClientSession(self, reader, writer)
        self.sessions.append(session)
        task = asyncio.current_task()
        if task is not None:
            self._session_tasks.add(task)
            task.add_done_callback(self._session_tasks.discard)
        await session.run()

    @property
    def partial_frame_bytes(self) -> int:
        """Bytes held in unfinished incoming frames, across all clients."""
        return self.partial_frames.held

    @property
    def queued_bytes(self) -> int:
        """Bytes written to clients that their sockets have not taken yet, across all clients."""
        return sum(session.queued_bytes() for session in self.sessions if not session.writer.is_closing())

    def forget(self, session: ClientSession) -> None:
        if session in self.sessions:
            self.sessions.remove(session)

    def client_in_use(self, client_id: int, asking: ClientSession) -> bool:
        return any(s.client_id == client_id and s is not asking for s in self.sessions)

    def next_order_id(self, client_id: int) -> int:
        known = [oid for (c, oid) in self.engine.orders if c == client_id]
        return max(known, default=0) + 1

    def dispatch(self, session: ClientSession, fields: list[str]) -> None:
        if self.stopping:
            return
        message_id = as_int(fields[0], -1, "message id")
        if session.client_id < 0 and message_id != 71:
            raise ProtocolError(f"message {message_id} before startApi")
        handler = self.handlers.get(message_id)
        if handler is None:
            raise ProtocolError(f"message id {fields[0]!r} is not supported by the simulator")
        handler(session, fields)

    # --- contracts ----------------------------------------------------------------------------
    def _listing(self, ref: ContractRef) -> Listing | None:
        symbol, currency = ref.symbol, ref.currency
        return self.universe.find(ref.con_id, symbol, ref.sec_type, currency, ref.exchange, ref.local_symbol)

    def _no_definition(self, session: ClientSession, req_id: int, ref: ContractRef) -> None:
        session.send(*out.error(req_id, 200, f"No security definition has been found for the request "
                                             f"({ref.describe()})"))

    def _resolve(self, session: ClientSession, req_id: int, ref: ContractRef) -> Listing | None:
        """The listing a request names, or None after answering IB's error 200."""
        listing = self._listing(ref)
        if listing is None:
            self._no_definition(session, req_id, ref)
        return listing

    def _req_contract_details(self, session: ClientSession, fields: list[str]) -> None:
        req_id = as_int(fields[2], name="reqId")
        ref = contract_at(fields, 3)
        matches = [self._listing(ref)] if ref.con_id or ref.sec_type else [
            self.universe.find(0, ref.symbol, kind, ref.currency, ref.exchange) for kind in ("STK", "FUT", "CASH")]
        found = [m for m in matches if m is not None]
        if not found:
            self._no_definition(session, req_id, ref)
            return
        for listing in found:
            session.send(*out.contract_details(req_id, listing))
        session.send(52, 1, req_id)

    def _req_matching_symbols(self, session: ClientSession, fields: list[str]) -> None:
        req_id, pattern = as_int(fields[1], name="reqId"), fields[2]
        rows: list[object] = []
        found = self.universe.search(pattern)
        for item in found:
            ins = item.instrument
            rows += [ins.contract_id, ins.symbol, ins.sec_type.value, ins.primary_exchange or ins.exchange,
                     ins.currency, 0]
            if session.version >= 176:
                rows += [item.name, ""]
        session.send(79, req_id, len(found), *rows)

    # --- market data --------------------------------------------------------------------------
    def _req_mkt_data(self, session: ClientSession, fields: list[str]) -> None:
        req_id = as_int(fields[2], name="tickerId")
        listing = self._resolve(session, req_id, contract_at(fields, 3))
        if listing is None:
            return
        con_id = listing.instrument.contract_id
        snapshot = len(fields) > 17 and fields[17] == "1"
        if not snapshot:
            session.subs.quotes[req_id] = con_id
        session.send(58, 1, req_id, 1)
        if self.replay is not None:
            self.replay.send_quote(session, req_id, con_id, full=True)
            self.replay.on_subscription()
            if snapshot:
                session.send(57, 1, req_id)
            return
        state = self.market.state(con_id)
        self._send_quote(session, req_id, self.market.book(con_id), full=True, close=state.close)
        if snapshot:
            session.send(57, 1, req_id)  # tickSnapshotEnd: one quote, no subscription

    def _cancel_mkt_data(self, session: ClientSession, fields: list[str]) -> None:
        session.subs.quotes.pop(as_int(fields[2], name="tickerId"), None)

    def _send_quote(self, session: ClientSession, req_id: int, book, full: bool = False, close: float = math.nan) -> None:  # type: ignore[no-untyped-def]
        state = self.market.state(book.contract_id)
        session.send(*out.tick_price(req_id, 1, book.bid, book.bids[0].size))
        session.send(*out.tick_price(req_id, 2, book.ask, book.asks[0].size))
        session.send(*out.tick_price(req_id, 4, book.last, book.last_size))
        session.send(*out.tick_size(req_id, 8, book.volume / (100 if state.listing.instrument.sec_type.value == "STK" else 1)))
        session.send(*out.tick_string(req_id, 45, str(int(book.time.timestamp()))))
        if full:
            session.send(*out.tick_price(req_id, 6, state.high))
            session.send(*out.tick_price(req_id, 7, state.low))
            session.send(*out.tick_price(req_id, 9, close))

    def _req_mkt_depth(self, session: ClientSession, fields: list[str]) -> None:
        req_id = as_int(fields[2], name="tickerId")
        listing = self._resolve(session, req_id, contract_at(fields, 3))
        if listing is None:
            return
        if self.replay is not None:
            rows = max(1, min(as_int(fields[15], 10, "numRows") or 10, 50))
            session.subs.depth[req_id] = (listing.instrument.contract_id, rows)
            self.replay.send_depth_snapshot(session, req_id, listing.instrument.contract_id, rows)
            self.replay.on_subscription()
            return
        rows = max(1, min(as_int(fields[15], 10, "numRows") or 10, len(self.market.book(listing.instrument.contract_id).bids)))
        session.subs.depth[req_id] = (listing.instrument.contract_id, rows)
        book = self.market.book(listing.instrument.contract_id)
        for side, levels in ((1, book.bids), (0, book.asks)):
            for position, level in enumerate(levels[:rows]):
                session.send(12, 1, req_id, position, 0, side, level.price, level.size)

    def _cancel_mkt_depth(self, session: ClientSession, fields: list[str]) -> None:
        session.subs.depth.pop(as_int(fields[2], name="tickerId"), None)

    def _req_realtime_bars(self, session: ClientSession, fields: list[str]) -> None:
        req_id = as_int(fields[2], name="tickerId")
        listing = self._resolve(session, req_id, contract_at(fields, 3))
        if listing is None:
            return
        session.subs.realtime_bars[req_id] = listing.instrument.contract_id

    def _cancel_realtime_bars(self, session: ClientSession, fields: list[str]) -> None:
        session.subs.realtime_bars.pop(as_int(fields[2], name="tickerId"), None)

    def _req_historical_data(self, session: ClientSession, fields: list[str]) -> None:
        req_id = as_int(fields[1], name="reqId")
        keep_up = fields[21] == "1" if len(fields) > 21 else False
        listing = self._resolve(session, req_id, contract_at(fields, 2))
        if listing is None:
            return
        try:
            query = parse_query(fields[15], fields[16], fields[17])
        except HistoryRequestError as exc:
            session.send(*out.error(req_id, exc.code, str(exc)))
            return
        con_id = listing.instrument.contract_id
        if self.replay is not None:  # never past the replay clock: no look-ahead
            frame = self.replay.history(con_id, query.bar_seconds, query.count, query.end)
        else:
            frame = self.market.history(con_id, query.bar_seconds, query.count, query.last_bar_before)
            if listing.instrument.symbol not in self.market.replay:  # replayed bars are what was recorded
                frame = open_market_bars(frame, listing.instrument.sec_type.value, fields[18] == "1", query.daily)
        session.send(17, req_id, query.start.strftime("%Y%m%d %H:%M:%S"), query.end.strftime("%Y%m%d %H:%M:%S"),
                     len(frame), *bar_rows(frame, query.daily))
        if keep_up:
            session.subs.live_history[req_id] = (con_id, query.bar_seconds)

    def _cancel_historical(self, session: ClientSession, fields: list[str]) -> None:
        session.subs.live_history.pop(as_int(fields[2], name="reqId"), None)

    def _req_current_time(self, session: ClientSession, fields: list[str]) -> None:
        session.send(49, 1, int(self.now().timestamp()))

    def _req_ids(self, session: ClientSession, fields: list[str]) -> None:
        session.send(9, 1, self.next_order_id(session.client_id))

    def now(self) -> datetime:
        """The market's time: the wall clock, or the replay clock in replay mode."""
        return self.replay.now() if self.replay is not None else datetime.now(UTC)

    # --- orders -------------------------------------------------------------------------------
    def _place_order(self, session: ClientSession, fields: list[str]) -> None:
        if self.order_delay > 0:
            self.loop.call_later(self.order_delay, self._place_later, session, fields)
            return
        self._take_order(session, fields)

    def _place_later(self, session: ClientSession, fields: list[str]) -> None:
        if not self.stopping:
            self._take_order(session, fields)

    def _take_order(self, session: ClientSession, fields: list[str]) -> None:
        placed = place_order(fields, session.version)
        if placed.contract.sec_type in ("STK", "") and not placed.contract.exchange:
            session.send(*out.error(placed.order_id, 321, "Error validating request.-'bN' : cause - "
                                                          "Missing order exchange"))
            return
        listing = self._resolve(session, placed.order_id, placed.contract)
        if listing is None:
            return
        try:
            order = placed.to_order(listing.instrument)
        except (ValueError, DomainError) as exc:
            session.send(*out.error(placed.order_id, 201, f"Order rejected - reason:{exc}"))
            return
        if placed.what_if:
            self._preview(session, order)
            return
        self._route(self.engine.submit(session.client_id, order))
        self._ensure_book(listing.instrument.contract_id)

    def _preview(self, session: ClientSession, order: Order) -> None:
        """Answer a what-if order as TWS does: one openOrder with margins and commission; nothing is kept."""
        try:
            order.validate()
        except DomainError as exc:
            session.send(*out.error(order.order_id, 201, f"Order rejected - reason:{exc}"))
            return
        book = self._book(order.instrument.contract_id)
        price = order.limit_price if order.limit_price is not None else (
            book.ask if order.side.value == "BUY" else book.bid)
        account = order.account or self.accounts.ids()[0]
        preview = self.accounts.what_if(account, order.instrument, order.signed_quantity, price,
                                        commission(order.instrument, order.quantity, price))
        update = OrderUpdate(session.client_id, replace(order, account=account, status=OrderStatus.PRE_SUBMITTED), 0)
        session.send(*out.open_order(update, preview))

    def _book(self, con_id: int):  # type: ignore[no-untyped-def]
        if self.replay is not None:
            book = self.replay.book(con_id)
            if book is not None:
                return book
            return BookSnapshot(con_id, self.now(), (), ())  # not on the tape: no quotes, nothing fills
        return self.market.book(con_id)

    def _ensure_book(self, con_id: int) -> None:
        if con_id not in self.engine.books:
            self._route(self.engine.on_book(self._book(con_id)))

    def _cancel_order(self, session: ClientSession, fields: list[str]) -> None:
        self._route(self.engine.cancel(session.client_id, as_int(fields[2], name="orderId")))

    def _req_global_cancel(self, session: ClientSession, fields: list[str]) -> None:
        self._route(self.engine.cancel_all())

    def _req_open_orders(self, session: ClientSession, fields: list[str]) -> None:
        mine = None if as_int(fields[0], name="message id") == 16 else session.client_id
        for update in self.engine.open_orders(mine):
            session.send(*out.open_order(update))
            session.send(*out.order_status(update))
        session.send(53, 1)

    def _req_completed_orders(self, session: ClientSession, fields: list[str]) -> None:
        for update in self.engine.completed_orders(session.client_id):
            session.send(*out.completed_order(update, update.order.updated or datetime.now(UTC)))
        session.send(102)

    def _req_executions(self, session: ClientSession, fields: list[str]) -> None:
        req_id = as_int(fields[2], name="reqId")
        for execution in self.engine.executions_of(session.client_id):
            session.send(*out.exec_details(req_id, execution))
            session.send(*out.commission_report(execution))
        session.send(55, 1, req_id)

    def _route(self, events: list[EngineEvent]) -> None:
        """Send each engine event to the session of the client that owns the order."""
        if self.executions_first:
            events = sorted(events, key=lambda e: not isinstance(e, Execution))
        touched_accounts: set[str] = set()
        for event in events:
            for session in self.sessions:
                if session.client_id != event.client_id:
                    continue
                if isinstance(event, OrderUpdate):
                    session.send(*out.open_order(event))
                    session.send(*out.order_status(event))
                elif isinstance(event, Execution):
                    session.send(*out.exec_details(-1, event))
                    session.send(*out.commission_report(event))
                elif isinstance(event, Rejection):
                    session.send(*out.error(event.order_id, event.code, event.message))
            if isinstance(event, Execution):
                touched_accounts.add(event.fill.account)
        for account in touched_accounts:
            self._push_account(account)

    # --- accounts -----------------------------------------------------------------------------
    def _req_account_updates(self, session: ClientSession, fields: list[str]) -> None:
        subscribe, account = fields[2] == "1", fields[3] or self.accounts.ids()[0]
        session.subs.account_updates = account if subscribe else ""
        if subscribe:
            self._send_account(session, account)
            session.send(54, 1, account)

    def account_values(self, account: str) -> list[AccountValue]:
        """The account's values as TWS sends them, with the ``AccountType`` that says this is a simulator."""
        return [*self.accounts.values(account), AccountValue(account, ACCOUNT_TYPE_TAG, self.provenance.label, "")]

    def _send_account(self, session: ClientSession, account: str) -> None:
        for value in self.account_values(account):
            session.send(6, 2, value.tag, value.value, value.currency, account)
        for position in self.accounts.positions_of(account):
            session.send(*out.portfolio(account, position))
        session.send(*out.account_time(datetime.now(UTC)))

    def _req_account_updates_multi(self, session: ClientSession, fields: list[str]) -> None:
        req_id, account = as_int(fields[2], name="reqId"), fields[3]
        for value in self.account_values(account or self.accounts.ids()[0]):
            session.send(73, 1, req_id, account, "", value.tag, value.value, value.currency)
        session.send(74, 1, req_id)

    def _req_account_summary(self, session: ClientSession, fields: list[str]) -> None:
        req_id = as_int(fields[2], name="reqId")
        for account in self.accounts.ids():
            for value in self.account_values(account):
                session.send(63, 1, req_id, account, value.tag, value.value, value.currency)
        session.send(64, 1, req_id)

    def _req_positions(self, session: ClientSession, fields: list[str]) -> None:
        session.subs.positions = True
        for account in self.accounts.ids():
            for position in self.accounts.positions_of(account):
                session.send(*out.position(account, position))
        session.send(62, 1)

    def _cancel_positions(self, session: ClientSession, fields: list[str]) -> None:
        session.subs.positions = False

    def _req_pnl(self, session: ClientSession, fields: list[str]) -> None:
        session.subs.pnl[as_int(fields[1], name="reqId")] = fields[2] or self.accounts.ids()[0]
        self._push_pnl(session)

    def _req_pnl_single(self, session: ClientSession, fields: list[str]) -> None:
        session.subs.pnl_single[as_int(fields[1], name="reqId")] = (fields[2] or self.accounts.ids()[0],
                                                                   as_int(fields[4], name="conId"))
        self._push_pnl(session)

    def _cancel_pnl(self, session: ClientSession, fields: list[str]) -> None:
        req_id = as_int(fields[1], name="reqId")
        session.subs.pnl.pop(req_id, None)
        session.subs.pnl_single.pop(req_id, None)

    def _push_pnl(self, session: ClientSession) -> None:
        for req_id, account in session.subs.pnl.items():
            daily, unrealized, realized = self.accounts.pnl(account)
            session.send(94, req_id, daily, unrealized, realized)
        for req_id, (account, con_id) in session.subs.pnl_single.items():
            position = next((p for p in self.accounts.positions_of(account) if p.instrument.contract_id == con_id), None)
            if position is None:
                session.send(95, req_id, 0, 0.0, 0.0, 0.0, 0.0)
                continue
            session.send(95, req_id, position.quantity, 0.0, position.unrealized_pnl, position.realized_pnl,
                         position.market_value)

    def _push_account(self, account: str) -> None:
        for session in self.sessions:
            if session.subs.account_updates == account:
                self._send_account(session, account)
            if session.subs.positions:
                for position in self.accounts.positions_of(account):
                    session.send(*out.position(account, position))
            self._push_pnl(session)

    # --- the clock ----------------------------------------------------------------------------
    def freeze(self, frozen: bool = True) -> None:
        """Stop (or restart) the market clock: no new prices, so resting orders wait; requests are still served.

        Tests and drills use it to compare the terminal's state with the simulator's at one moment."""
        self.frozen = frozen

    async def _sleep(self, seconds: float) -> None:
        """``asyncio.sleep`` on the server's loop: under qasync the ticker may be stepped while Qt runs events
        outside the asyncio loop's run, where ``asyncio.sleep`` cannot find a running loop and the ticker died."""
        future = self.loop.create_future()
        handle = self.loop.call_later(seconds, lambda: future.done() or future.set_result(None))
        try:
            await future
        finally:
            handle.cancel()


def run_server(host: str = "127.0.0.1", port: int = 7497, seed: int | None = None, symbols: list[str] | None = None,
               replay: dict[str, pd.DataFrame] | None = None, tick_interval: float = 1 / DEFAULT_TICK_RATE,
               listings: list[Listing] | None = None, parent_watch: bool = False,
               replay_driver: ReplayDriver | None = None) -> None:
    """Run the simulator until interrupted (``quant-terminal sim``).

    ``parent_watch``: started by the terminal (``terminal.sim.process``): announce the port on stdout
    and stop when the terminal's end of stdin closes."""
    from terminal.sim import process

    async def main() -> None:
        server = SimServer(host, port, seed, symbols, replay, tick_interval=tick_interval, listings=listings,
                           replay_driver=replay_driver)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def control(line: str) -> None:  # a replay's control line, on the loop; the answer on stdout
            assert replay_driver is not None
            print(replay_driver.command(line), flush=True)

        on_line = (lambda line: loop.call_soon_threadsafe(control, line)) if replay_driver is not None else None
        if parent_watch:
            process.watch_parent(lambda: loop.call_soon_threadsafe(stop.set), on_line)
            if replay_driver is not None:
                replay_driver.clock_listeners.append(lambda driver: print(driver.clock_line(), flush=True))
        elif on_line is not None:  # headless: type play, pause, speed 20, step, jump TIME (stdin's end does not stop it)
            process.watch_parent(lambda: None, on_line)
        await server.start()
        if parent_watch:
            process.announce(server.host, server.port, keep_stdout=replay_driver is not None)
        try:
            await stop.wait()
        finally:
            await server.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
