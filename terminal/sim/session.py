"""One client connection of the simulator: handshake, request dispatch, and what it has subscribed to."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from terminal.sim import outgoing as out
from terminal.sim.wire import ProtocolError, as_int, decode, encode, read_frame, read_handshake

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

    def send(self, *fields: object) -> None:
        if not self.writer.is_closing():
            self.writer.write(encode(*fields))

    async def run(self) -> None:
        try:
            low, high = await read_handshake(self.reader)
            if high < out.SERVER_VERSION and high < low:
                raise ProtocolError(f"client versions {low}..{high} are not usable")
            self.version = min(high, out.SERVER_VERSION)
            if self.version < low:
                raise ProtocolError(f"client needs versions {low}..{high}; this server speaks up to {out.SERVER_VERSION}")
            now = datetime.now(UTC)
            self.send(self.version, now.strftime("%Y%m%d %H:%M:%S UTC"))
            await self.writer.drain()
            while True:
                fields = decode(await read_frame(self.reader))
                try:
                    self.server.dispatch(self, fields)
                except ProtocolError as exc:
                    self.send(*out.error(-1, 321, f"Error validating request: {exc}"))
                except (ValueError, IndexError) as exc:
                    log.info("client %s sent a malformed message %s: %s", self.client_id, fields[:3], exc)
                    self.send(*out.error(-1, 321, f"Error validating request: malformed message {fields[:2]}: {exc}"))
                await self.writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except ProtocolError as exc:
            log.warning("closing client %s (%s): %s", self.client_id, self.peer, exc)
        finally:
            self.server.forget(self)
            self.writer.close()

    def start_api(self, fields: list[str]) -> None:
        client_id = as_int(fields[2])
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
