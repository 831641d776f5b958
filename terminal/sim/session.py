"""One client connection of the simulator: handshake, request dispatch, and what it has subscribed to."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from terminal.sim import outgoing as out
from terminal.sim.framing import FrameReader
from terminal.sim.incoming import request_id
from terminal.sim.wire import ProtocolError, as_int, decode, encode

if TYPE_CHECKING:
    from terminal.sim.tws_server import SimServer

log = logging.getLogger(__name__)


@dataclass
class Subscriptions:
    quotes: dict[int, int] = field(default_factory=dict)  # reqId -> conId
    depth: dict[int, tuple[int, int]] = field(default_factory=dict)  # reqId -> (conId, rows)
    realtime_bars: dict[int, int] = field(default_factory=dict)
    live_history: dict[int, tuple[int, int]] = field(default_factory=dict)  # reqId -> (conId, bar seconds)
    account_updates: str = ""
    positions: bool = False
    pnl: dict[int, str] = field(default_factory=dict)
    pnl_single: dict[int, tuple[str, int]] = field(default_factory=dict)

    def contracts(self) -> set[int]:
        return (set(self.quotes.values()) | {c for c, _ in self.depth.values()} | set(self.realtime_bars.values())
                | {c for c, _ in self.live_history.values()})


class ClientSession:
    """Reads a client's messages and answers them through the server's shared market and engine."""

    def __init__(self, server: SimServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.client_id = -1
        self.version = out.SERVER_VERSION
        self.subs = Subscriptions()
        self.peer = writer.get_extra_info("peername")
        self._held: list[bytes] | None = None  # messages of one ticker pass, written together (see hold)
        self._held_bytes = 0

    def send(self, *fields: object) -> None:
        """Queue a message that must arrive (an answer, an order event); a client this far behind is dropped."""
        if self.writer.is_closing():
            return
        data = encode(*fields)
        if self._held is not None:
            self._held.append(data)
            self._held_bytes += len(data)
            return
        self.writer.write(data)
        self._check_backlog()

    def hold(self) -> None:
        """Keep what is sent until ``release()`` and write it in one go, in the same order.

        A ticker pass sends a client hundreds of small messages; one socket write each cost more
        than everything else the simulator does (4.7 of 11.6 s of a pass's time in a profile at
        500 symbols × 20 quotes/s)."""
        if self._held is None:
            self._held, self._held_bytes = [], 0

    def release(self) -> None:
        held, self._held, self._held_bytes = self._held, None, 0
        if held and not self.writer.is_closing():
            self.writer.write(b"".join(held))
            self._check_backlog()

    def _check_backlog(self) -> None:
        queued, limit = self.queued_bytes(), self.server.limits.max_write_buffer
        if queued > limit:
            self.drop(f"{queued} bytes are queued for it, over the {limit} byte limit: it is not reading its socket")

    def keeps_up(self) -> bool:
        """Whether market data should go out to this client now (see ``SimServer._tick`` for why it may not)."""
        return not self.writer.is_closing() and self.queued_bytes() <= self.server.limits.market_data_backlog

    def queued_bytes(self) -> int:
        """Bytes written (or held) for this client that its socket has not taken yet."""
        return self.writer.transport.get_write_buffer_size() + self._held_bytes

    def drop(self, reason: str) -> None:
        """Close at once, discarding what is queued (``close()`` would wait for a client that does not read)."""
        log.warning("dropping client %s (%s): %s", self.client_id, self.peer, reason)
        self.writer.transport.abort()

    async def run(self) -> None:
        """The handshake, then each request answered in turn, until the client goes or breaks the byte stream."""
        frames = FrameReader(self.reader, self.server.limits, self.server.partial_frames, self.server.loop)
        connected = False
        try:
            self.version = negotiate(*await frames.handshake())
            now = datetime.now(UTC)
            self.send(self.version, now.strftime("%Y%m%d %H:%M:%S UTC"))
            await self.writer.drain()
            connected = True
            while True:
                self.answer(await frames.frame())
                await self.writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except ProtocolError as exc:  # the byte stream itself is broken: nothing after it can be trusted
            log.warning("closing client %s (%s): %s", self.client_id, self.peer, exc)
            if connected:
                self.send(*out.error(-1, 321, f"Error validating request: {exc}; closing the connection"))
        except Exception:  # a simulator bug: close this client, keep serving the others
            log.exception("closing client %s (%s) after an error in the simulator", self.client_id, self.peer)
        finally:
            self.server.forget(self)
            self.writer.close()

    def answer(self, payload: bytes) -> None:
        """Decode and dispatch one request; a bad one gets error 321 saying what is wrong, and the connection stays."""
        fields: list[str] = []
        try:
            fields = decode(payload)
            self.server.dispatch(self, fields)
        except ProtocolError as exc:
            log.info("client %s sent a request the simulator refuses %s: %s", self.client_id, fields[:3], exc)
            self.send(*out.error(request_id(fields), 321, f"Error validating request: {exc}"))
        except (ValueError, IndexError, OverflowError) as exc:
            log.info("client %s sent a malformed message %s: %s", self.client_id, fields[:3], exc)
            self.send(*out.error(request_id(fields), 321,
                                 f"Error validating request: malformed message {fields[:2]}: {exc}"))
        except Exception:  # a simulator bug: say so to the client, keep serving it and the others
            log.exception("the simulator failed on message %s from client %s", fields[:3], self.client_id)
            self.send(*out.error(request_id(fields), 321, f"Error validating request: the simulator failed on "
                                                          f"message {fields[:2]}; see its log"))

    def start_api(self, fields: list[str]) -> None:
        client_id = as_int(fields[2], name="clientId")
        if self.server.client_in_use(client_id, self):
            self.send(*out.error(-1, 326, "Unable to connect as the client id is already in use. "
                                          "Retry with a unique client id."))
            raise ProtocolError(f"client id {client_id} already in use")
        self.client_id = client_id
        self.send(9, 1, self.server.next_order_id(client_id))
        self.send(15, 1, ",".join(self.server.accounts.ids()))
        for code, text in ((2104, "Market data farm connection is OK:usfarm"),
                           (2106, "HMDS data farm connection is OK:ushmds"),
                           (2158, "Sec-def data farm connection is OK:secdefnj")):
            self.send(*out.error(-1, code, text))


def negotiate(low: int, high: int) -> int:
    """The version to speak with a client that offers ``low..high``; a range holding none the simulator speaks
    is refused, and the connection closed without an answer."""
    if low > high or high < out.MIN_SERVER_VERSION or low > out.SERVER_VERSION:
        raise ProtocolError(f"client asked for API versions {low}..{high}; the simulator speaks "
                            f"{out.MIN_SERVER_VERSION}..{out.SERVER_VERSION}")
    return min(high, out.SERVER_VERSION)
