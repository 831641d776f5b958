"""The simulator's replay mode: plays a ``Tape`` into the clients by the replay clock, instead of GBM prices.

``SimServer(replay=ReplayDriver(...))`` hands its market data to this driver: subscriptions get
the replayed book, every pass sends the tape rows that the clock has reached (each recorded tick
as the tick it was: bid, ask, last or volume), the matching engine sees the book after each row,
5-second bars and keep-up-to-date bars are made from the replayed trades, and history,
``reqCurrentTime`` and fills carry replay time. Control: ``play``, ``pause``, ``set_speed``,
``jump`` (forward: every row in between is matched, only the end state is sent; backward: the
books are rebuilt without matching) and ``step`` (one row, then paused).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from terminal.archive import Archive
from terminal.sim import outgoing as out
from terminal.sim.replay import (
    KIND_DEPTH,
    KIND_TICK,
    ReplayBooks,
    ReplayClock,
    Tape,
    _dt,
    history_from_tape,
)

if TYPE_CHECKING:
    from terminal.sim.session import ClientSession
    from terminal.sim.tws_server import SimServer

log = logging.getLogger(__name__)

PASS_SECONDS = 0.01
CLOCK = "QT-REPLAY CLOCK"  # "QT-REPLAY CLOCK <now> <speed> <playing|paused|ended> <tape start> <tape end>"
CLOCK_REPORT_SECONDS = 0.25
_TICK_CODES = {"bid": 0, "ask": 1, "last": 2, "volume": 3}


class ReplayDriver:
    def __init__(self, tape: Tape, archive: Archive | None = None, speed: float = 1.0,
                 start: datetime | None = None, wait_for_play: bool = False) -> None:
        self.tape = tape
        self.archive = archive
        begin = max(start, tape.start) if start is not None else tape.start
        self.clock = ReplayClock(begin, tape.end, speed)
        self.clock.jump(int(begin.timestamp() * 1_000_000))
        self.wait_for_play = wait_for_play
        self.books = ReplayBooks(tape)
        self.index = 0
        self.server: SimServer | None = None
        self.clock_listeners: list[Callable[[ReplayDriver], None]] = []
        self._reported = 0.0
        self._bars: dict[int, list[float]] = {}  # symbol -> [bucket, open, high, low, close, volume]
        self._history_second = 0
        self._archive_bars: dict[tuple[int, int], pd.DataFrame | None] = {}
        codes = tape.quotes.get("tick")
        self._tick_codes = codes if codes is not None else np.full(len(tape.quotes.get("bid", [])), -1, np.int8)
        self._con_ids = [listing.instrument.contract_id for listing in tape.listings]
        self._symbol_of = {con_id: i for i, con_id in enumerate(self._con_ids)}
        self.rows_sent = 0
        self._started = False
        # rows before the start: the books as they stood then, nothing sent or matched
        self._advance(int(begin.timestamp() * 1_000_000) - 1, send=False, match=False)

    # --- state ---------------------------------------------------------------------------------
    def now(self) -> datetime:
        return self.clock.now()

    def symbol_index(self, con_id: int) -> int | None:
        return self._symbol_of.get(con_id)

    def book(self, con_id: int):  # type: ignore[no-untyped-def]
        symbol = self._symbol_of.get(con_id)
        if symbol is None:
            return None
        return self.books.book(symbol, _dt(self.books.time.get(symbol, self.clock.now_us())))

    # --- control -------------------------------------------------------------------------------
    def on_subscription(self) -> None:
        """The clock starts with the first market-data subscription, unless it waits for Play."""
        if not self.wait_for_play and not self._started:
            self.play()

    def play(self) -> None:
        self._started = True
        self.clock.play()
        self._report(force=True)

    def pause(self) -> None:
        self.clock.pause()
        self._report(force=True)

    def set_speed(self, speed: float) -> None:
        self.clock.set_speed(speed)
        self._report(force=True)

    def step(self) -> None:
        """Play the next row, then pause there."""
        self.clock.pause()
        if self.index < len(self.tape):
            target = int(self.tape.time[self.index])
            self.clock.jump(target)
            self._advance(target, send=True, match=True)
        self._check_end()
        self._report(force=True)

    def jump(self, when: datetime) -> None:
        target = int(when.timestamp() * 1_000_000)
        if target >= self.clock.now_us():
            self._advance(target, send=False, match=True)
        else:  # back: rebuild the books from the start, matching nothing twice
            self.books = ReplayBooks(self.tape)
            self.index = 0
            self._bars.clear()
            self._advance(target, send=False, match=False)
        self.clock.jump(target)
        self._send_state()
        self._check_end()
        self._report(force=True)

    def command(self, line: str) -> str:
        """Carry out one control line (``play``, ``pause``, ``step``, ``speed N``, ``jump ISO-TIME``);
        the answer is the clock line, or ``error: …`` saying what would be valid."""
        words = line.strip().split(maxsplit=1)
        verb = words[0].lower() if words else ""
        argument = words[1] if len(words) > 1 else ""
        try:
            if verb == "play":
                self.play()
            elif verb == "pause":
                self.pause()
            elif verb == "step":
                self.step()
            elif verb == "speed":
                self.set_speed(float(argument))
            elif verb == "jump":
                moment = datetime.fromisoformat(argument.strip())
                if moment.tzinfo is None:
                    raise ValueError(f"jump {argument!r}: give a time with its UTC offset, e.g. 2026-11-24T14:30:00+00:00")
                self.jump(moment)
            elif verb != "clock":
                return f"error: replay command {verb!r} is not known; use play, pause, step, speed N, jump TIME, clock"
        except ValueError as exc:
            return f"error: {exc}"
        return self.clock_line()

    def clock_line(self) -> str:
        clock = self.clock
        return (f"{CLOCK} {clock.now().isoformat()} {clock.speed:g} {clock.state()} "
                f"{self.tape.start.isoformat()} {self.tape.end.isoformat()}")

    # --- the loop ------------------------------------------------------------------------------
    async def run(self) -> None:
        server = self.server
        assert server is not None
        self._report(force=True)  # where it stands before anything plays
        while True:
            await server._sleep(PASS_SECONDS)
            if server.frozen or not self.clock.playing:
                continue  # paused or ended: the clock line was sent when that happened
            sessions = list(server.sessions)
            for session in sessions:
                session.hold()
            try:
                self._advance(self.clock.now_us(), send=True, match=True)
                self._check_end()
                self._keep_up_history()
            except Exception:  # a bug in one pass must not stop the replay
                log.exception("replay pass failed")
            finally:
                for session in sessions:
                    session.release()
            self._report()

    def _check_end(self) -> None:
        if self.index >= len(self.tape) and not self.clock.ended:
            self.clock.finish()
            log.info("replay: the recording ends at %s; holding the last state", self.clock.now())
            self._report(force=True)

    def _report(self, force: bool = False) -> None:
        import time

        now = time.monotonic()
        if force or now - self._reported >= CLOCK_REPORT_SECONDS:
            self._reported = now
            for listener in list(self.clock_listeners):
                listener(self)

    def _advance(self, until_us: int, send: bool, match: bool) -> None:
        server = self.server
        tape = self.tape
        times = tape.time
        n = len(tape)
        if self.index >= n or times[self.index] > until_us:
            return
        subscribers = self._subscribers() if send and server is not None else ({}, {})
        touched: set[int] = set()
        while self.index < n and times[self.index] <= until_us:
            i = self.index
            self.index += 1
            symbol, kind = self.books.apply(i)
            touched.add(symbol)
            when = _dt(int(times[i]))
            if match and server is not None:
                server._route(server.engine.on_book(self.books.book(symbol, when)))
                if kind == KIND_TICK and self._is_trade(int(tape.row[i])):
                    row = int(tape.row[i])
                    server._route(server.engine.on_trade(self._con_ids[symbol], float(tape.quotes["last"][row]),
                                                         _size(tape.quotes["last_size"][row]), when))
            if kind == KIND_TICK:
                self._bar(symbol, int(times[i]), int(tape.row[i]), send and server is not None)
            if send:
                self._send_row(symbol, kind, int(tape.row[i]), when, subscribers)
        if match and server is not None:
            for symbol in touched:
                server.accounts.mark(self._con_ids[symbol], self.books.quote.get(symbol, [math.nan] * 7)[4])

    def _is_trade(self, row: int) -> bool:
        """A recorded trade print (a ``last`` tick; a bar replay's close quote of each bar counts as one)."""
        code = int(self._tick_codes[row]) if row < len(self._tick_codes) else -1
        return code == 2 or (code == -1 and math.isfinite(self.tape.quotes["last"][row]))

    def _subscribers(self) -> tuple[dict, dict]:  # type: ignore[type-arg]
        quotes: dict[int, list[tuple[ClientSession, int]]] = {}
        depth: dict[int, list[tuple[ClientSession, int, int]]] = {}
        assert self.server is not None
        for session in self.server.sessions:
            for req_id, con_id in session.subs.quotes.items():
                quotes.setdefault(con_id, []).append((session, req_id))
            for req_id, (con_id, rows) in session.subs.depth.items():
                depth.setdefault(con_id, []).append((session, req_id, rows))
        return quotes, depth

    def _send_row(self, symbol: int, kind: int, row: int, when: datetime, subscribers: tuple[dict, dict]) -> None:  # type: ignore[type-arg]
        con_id = self._con_ids[symbol]
        quotes, depth = subscribers
        if kind == KIND_TICK:
            targets = quotes.get(con_id)
            if not targets:
                return
            messages = self._tick_messages(row, when)
            for session, req_id in targets:
                if session.keeps_up():
                    for message in messages:
                        session.send(*_with_req(message, req_id))
            self.rows_sent += 1
        elif kind == KIND_DEPTH:
            for session, req_id, rows in depth.get(con_id, ()):
                if session.keeps_up():
                    self._send_depth(session, req_id, rows, symbol)

    def _tick_messages(self, row: int, when: datetime) -> list[list[object]]:
        q = self.tape.quotes
        code = int(self._tick_codes[row]) if row < len(self._tick_codes) else -1
        messages: list[list[object]] = []
        if code in (0, -1) and math.isfinite(q["bid"][row]):
            messages.append(out.tick_price(0, 1, float(q["bid"][row]), _size(q["bid_size"][row])))
        if code in (1, -1) and math.isfinite(q["ask"][row]):
            messages.append(out.tick_price(0, 2, float(q["ask"][row]), _size(q["ask_size"][row])))
        if code in (2, -1) and math.isfinite(q["last"][row]):
            messages.append(out.tick_price(0, 4, float(q["last"][row]), _size(q["last_size"][row])))
        if code in (3, -1) and math.isfinite(q["volume"][row]):
            messages.append(out.tick_size(0, 8, float(q["volume"][row])))
        # replay time of the tick (IB's lastTimestamp field; the terminal stamps replayed quotes with it)
        messages.append(out.tick_string(0, 45, str(int(when.timestamp()))))
        return messages

    def _send_depth(self, session: ClientSession, req_id: int, rows: int, symbol: int, operation: int = 1) -> None:
        """The replayed book's first ``rows`` levels a side (updateMktDepth: operation 0 insert, 1 update)."""
        book = self.books.book(symbol, self.clock.now())
        for side, levels in ((1, book.bids), (0, book.asks)):
            for position, level in enumerate(levels[:rows]):
                session.send(12, 1, req_id, position, operation, side, level.price, level.size)

    def _send_state(self) -> None:
        """Every subscriber's current book at once (after a jump)."""
        quotes, depth = self._subscribers()
        for con_id, targets in quotes.items():
            for session, req_id in targets:
                self.send_quote(session, req_id, con_id)
        for con_id, targets in depth.items():
            symbol = self._symbol_of.get(con_id)
            if symbol is not None:
                for session, req_id, rows in targets:
                    self._send_depth(session, req_id, rows, symbol)

    def send_quote(self, session: ClientSession, req_id: int, con_id: int, full: bool = False) -> None:
        """The current replayed quote of ``con_id`` (fields not known yet are left out, not made up)."""
        symbol = self._symbol_of.get(con_id)
        quote = self.books.quote.get(symbol) if symbol is not None else None
        if quote is None:
            return
        bid, bid_size, ask, ask_size, last, last_size, volume = quote
        if math.isfinite(bid):
            session.send(*out.tick_price(req_id, 1, bid, _size(bid_size)))
        if math.isfinite(ask):
            session.send(*out.tick_price(req_id, 2, ask, _size(ask_size)))
        if math.isfinite(last):
            session.send(*out.tick_price(req_id, 4, last, _size(last_size)))
        if math.isfinite(volume):
            session.send(*out.tick_size(req_id, 8, volume))
        if full and symbol is not None and symbol in self.books.high:
            session.send(*out.tick_price(req_id, 6, self.books.high[symbol]))
            session.send(*out.tick_price(req_id, 7, self.books.low[symbol]))
        session.send(*out.tick_string(req_id, 45, str(int(self.clock.now().timestamp()))))

    def send_depth_snapshot(self, session: ClientSession, req_id: int, con_id: int, rows: int) -> None:
        symbol = self._symbol_of.get(con_id)
        if symbol is not None:
            self._send_depth(session, req_id, rows, symbol, operation=0)

    # --- bars ------------------------------------------------------------------------------------
    def _bar(self, symbol: int, time_us: int, row: int, send: bool) -> None:
        q = self.tape.quotes
        price = q["last"][row]
        if not math.isfinite(price):
            return
        bucket = time_us // 5_000_000
        bar = self._bars.get(symbol)
        if bar is None or bar[0] != bucket:
            if bar is not None and send:
                self._send_realtime_bar(symbol, bar)
            self._bars[symbol] = [bucket, price, price, price, price, 0.0]
            bar = self._bars[symbol]
        else:
            bar[2], bar[3], bar[4] = max(bar[2], price), min(bar[3], price), price
        size = q["last_size"][row]
        if math.isfinite(size) and self._tick_codes[row] in (2, -1):
            bar[5] += size

    def _send_realtime_bar(self, symbol: int, bar: list[float]) -> None:
        assert self.server is not None
        con_id = self._con_ids[symbol]
        for session in self.server.sessions:
            for req_id, cid in session.subs.realtime_bars.items():
                if cid == con_id:
                    session.send(50, 3, req_id, int(bar[0]) * 5, bar[1], bar[2], bar[3], bar[4], bar[5],
                                 round((bar[2] + bar[3] + bar[4]) / 3, 6), 1)

    def _keep_up_history(self) -> None:
        second = self.clock.now_us() // 1_000_000
        if second == self._history_second:
            return
        self._history_second = second
        assert self.server is not None
        for session in self.server.sessions:
            for req_id, (con_id, seconds) in session.subs.live_history.items():
                symbol = self._symbol_of.get(con_id)
                quote = self.books.quote.get(symbol) if symbol is not None else None
                if quote is None or not session.keeps_up():
                    continue
                price = quote[4] if math.isfinite(quote[4]) else (quote[0] + quote[2]) / 2
                if not math.isfinite(price):
                    continue
                start = second // seconds * seconds
                session.send(90, req_id, 1, out.bar_time(_dt(start * 1_000_000), seconds >= 86400),
                             price, price, price, price, price, quote[5] if math.isfinite(quote[5]) else 0)

    def history(self, con_id: int, bar_seconds: int, count: int, end: datetime) -> pd.DataFrame:
        """Bars up to ``end`` and never past the replay clock (no look-ahead)."""
        symbol = self._symbol_of.get(con_id)
        until = min(int(end.timestamp() * 1_000_000), self.clock.now_us())
        if symbol is None:
            return pd.DataFrame(columns=["open", "high", "low", "close", "volume"],
                                index=pd.DatetimeIndex([], tz="UTC", name="time"))
        return history_from_tape(self.tape, symbol, bar_seconds, until, self._stored_bars(symbol, bar_seconds), count)

    def _stored_bars(self, symbol: int, bar_seconds: int) -> pd.DataFrame | None:
        key = (symbol, bar_seconds)
        if key not in self._archive_bars:
            frame = None
            if self.archive is not None:
                table = self.archive.read("bars", self.tape.symbols[symbol])
                table = table.filter(pc.equal(table["bar_seconds"], bar_seconds))
                if table.num_rows:
                    frame = table.select(["time", "open", "high", "low", "close", "volume"]).to_pandas()
                    frame = frame.set_index("time").sort_index()
            self._archive_bars[key] = frame
        return self._archive_bars[key]


def _size(value: float) -> float:
    return float(value) if math.isfinite(value) and value > 0 else 1.0


def _with_req(message: list[object], req_id: int) -> list[object]:
    message = list(message)
    message[2] = req_id  # tickPrice / tickSize / tickString: [id, version, reqId, …]
    return message

