"""The simulator's own market: GBM prices stepped on a fixed pass schedule and pushed to the subscribers.

``SimServer`` runs one market driver: this ticker, or in replay mode the ``ReplayDriver``
(``replay_driver.py``), which plays a recording instead. Both feed the same matching engine and
send through the same client sessions.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from terminal.sim import outgoing as out

if TYPE_CHECKING:
    from terminal.sim.session import ClientSession
    from terminal.sim.tws_server import SimServer

log = logging.getLogger(__name__)

PASS_SECONDS = 0.025  # the ticker's pass: each pass steps the slice of instruments due (see LiveTicker.run)


class LiveTicker:
    def __init__(self, server: SimServer) -> None:
        self.server = server
        self.tick_count = 0  # passes made
        self.history_second = 0

    async def run(self) -> None:
        """Every instrument quotes once per ``tick_interval``, spread over ``PASS_SECONDS`` passes.

        TWS does not send a whole watchlist in one burst every quarter second: each symbol's
        conflated updates come on their own schedule. Stepping all 500 instruments at once would
        hand the client bursts of ~2,500 messages; stepping a slice per pass keeps the stream even."""
        last_bar: dict[int, list] = {}  # type: ignore[type-arg]
        due = self.server.loop.time()
        while True:
            # Passes on a fixed schedule, not a fixed pause after each: the rate asked for is the rate sent.
            # A pass that finds itself a whole pass behind lets the lost ones go (a stalled machine
            # must not be followed by a burst).
            period = self.server.tick_interval / self._slices
            due = max(due + period, self.server.loop.time() - period)
            await self.server._sleep(max(0.0, due - self.server.loop.time()))
            if self.server.frozen:
                continue
            sessions = list(self.server.sessions)
            for session in sessions:
                session.hold()
            try:
                self.step(last_bar)
            except Exception:  # a bug in one tick must not stop the market
                log.exception("simulator tick failed")
            finally:
                for session in sessions:
                    session.release()

    @property
    def _slices(self) -> int:
        return max(1, round(self.server.tick_interval / PASS_SECONDS))

    def step(self, bar_state: dict) -> None:  # type: ignore[type-arg]
        """Move the market one step and push it to the subscribers.

        A client whose socket is not taking what is queued for it (``keeps_up()`` false) is skipped for
        quotes, depth, keep-up-to-date bars and P&L, never for order events or answers. Those updates carry
        whole values, not changes, so the next one after it catches up brings it fully up to date (IB's own
        feed is a sampled one too), and skipping them costs no memory and never blocks this loop or other
        clients. A lost orderStatus or execDetails would instead leave a client wrong about its orders, so
        those are always queued, and a client with ``max_write_buffer`` queued anyway is dropped
        (``ClientSession.send``): it reconnects and reads its orders and executions again, as after any
        disconnect."""
        self.tick_count += 1
        slices = self._slices
        phase = self.tick_count % slices
        active = self.server.engine.working_contracts()
        for session in self.server.sessions:
            active |= session.subs.contracts()
        now = datetime.now(UTC)
        # Who wants each contract, found once per pass: with 500 subscriptions a scan of every
        # subscription per stepped contract was 250,000 comparisons a pass.
        quote_reqs: dict[int, list[tuple[ClientSession, int]]] = {}
        depth_reqs: dict[int, list[tuple[ClientSession, int, int]]] = {}
        for session in self.server.sessions:
            for req_id, cid in session.subs.quotes.items():
                quote_reqs.setdefault(cid, []).append((session, req_id))
            for req_id, (cid, rows) in session.subs.depth.items():
                depth_reqs.setdefault(cid, []).append((session, req_id, rows))
        for con_id in active:
            if con_id % slices != phase:
                continue
            book = self.server.market.step(con_id, self.server.tick_interval)
            self.server._route(self.server.engine.on_book(book))
            for session, req_id in quote_reqs.get(con_id, ()):
                if session.keeps_up():  # asked per update: one pass can fill a slow client's backlog
                    self.server._send_quote(session, req_id, book)
            for session, req_id, rows in depth_reqs.get(con_id, ()):
                if not session.keeps_up():
                    continue
                for side, levels in ((1, book.bids), (0, book.asks)):
                    for position, level in enumerate(levels[:rows]):
                        session.send(12, 1, req_id, position, 1, side, level.price, level.size)
            bar = bar_state.get(con_id)
            if bar is None or int(now.timestamp()) // 5 != bar[0]:
                if bar is not None:
                    self._send_realtime_bar(con_id, bar)
                bar_state[con_id] = [int(now.timestamp()) // 5, book.last, book.last, book.last, book.last, 0.0]
            else:
                bar[2], bar[3], bar[4] = max(bar[2], book.last), min(bar[3], book.last), book.last
                bar[5] += book.last_size
        second = int(now.timestamp())
        if second != self.history_second:  # keep-up-to-date bars once a second, P&L every 2 s, at any tick rate
            self.history_second = second
            self._send_history_updates(now)
            if second % 2 == 0:
                for session in self.server.sessions:
                    if session.keeps_up():
                        self.server._push_pnl(session)

    def _send_realtime_bar(self, con_id: int, bar: list) -> None:  # type: ignore[type-arg]
        for session in self.server.sessions:
            for req_id, cid in session.subs.realtime_bars.items():
                if cid == con_id:
                    session.send(50, 3, req_id, bar[0] * 5, bar[1], bar[2], bar[3], bar[4], bar[5],
                                 round((bar[2] + bar[3] + bar[4]) / 3, 6), 1)

    def _send_history_updates(self, now: datetime) -> None:
        for session in self.server.sessions:
            for req_id, (con_id, seconds) in session.subs.live_history.items():
                if not session.keeps_up():
                    break
                state = self.server.market.state(con_id)
                start = int(now.timestamp()) // seconds * seconds
                price = state.price
                session.send(90, req_id, 1, out.bar_time(datetime.fromtimestamp(start, UTC), seconds >= 86400),
                             price, price, price, price, price, state.last_size)
