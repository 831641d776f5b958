"""A TWS API client on raw bytes, for the simulator's protocol tests: it sends exactly what it is given
(whole frames, spoiled fields, partial frames) and reads whole frames back as field lists."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Callable

import ib_async

STOCK = ib_async.Stock("AAPL", "SMART", "USD")


def frame(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


def message(*fields: object) -> bytes:
    return frame("".join(f"{f}\0" for f in fields).encode())


def ib_request(method: str, *args: object) -> list[str]:
    """The fields ib_async sends for ``Client.method(*args)`` to a server of version 176."""
    client = ib_async.Client(None)
    sent: list[str] = []
    client.sendMsg = sent.append
    client._serverVersion = 176
    client.connState = client.CONNECTED
    getattr(client, method)(*args)
    return sent[0].split("\0")[:-1]


def spoiled(fields: list[str], index: int, value: str) -> bytes:
    return message(*fields[:index], value, *fields[index + 1 :])


def handshake(versions: bytes = b"v176..176") -> bytes:
    return b"API\0" + frame(versions)


START_API = message(71, 2, 1, "")
CURRENT_TIME = message(49, 1)


class RawClient:
    """One TWS API connection on raw bytes; reads whole frames back as field lists."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int, receive_buffer: int | None = None) -> RawClient:
        """``receive_buffer`` shrinks the socket's receive buffer, so unread data backs up at the server soon."""
        sock = socket.socket()
        if receive_buffer is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        return cls(*await asyncio.open_connection(sock=sock))

    @classmethod
    async def started(cls, port: int, client_id: int = 1, receive_buffer: int | None = None) -> RawClient:
        """Connected, handshake done and startApi answered (nextValidId read)."""
        client = await cls.connect(port, receive_buffer)
        await client.send(handshake() + message(71, 2, client_id, ""))
        await client.read_until(lambda fields: fields[0] == "9")
        return client

    async def send(self, data: bytes) -> None:
        try:
            self.writer.write(data)
            await self.writer.drain()
        except ConnectionError:
            pass  # the simulator may close first; what it said is read afterwards

    async def read(self) -> list[str] | None:
        """The next message, or None once the simulator has closed the connection."""
        try:
            (size,) = struct.unpack(">I", await self.reader.readexactly(4))
            return (await self.reader.readexactly(size)).decode().split("\0")[:-1]
        except (asyncio.IncompleteReadError, ConnectionError):
            return None

    async def read_until(self, done: Callable[[list[str]], bool],
                         timeout: float = 3.0) -> tuple[list[list[str]], bool]:
        """Messages up to and including the first ``done(fields)``; and whether the connection closed instead."""
        seen: list[list[str]] = []
        async with asyncio.timeout(timeout):
            while (fields := await self.read()) is not None:
                seen.append(fields)
                if done(fields):
                    return seen, False
        return seen, True

    def close(self) -> None:
        self.writer.close()


def errors(messages: list[list[str]]) -> list[tuple[int, int, str]]:
    """(request id, code, text) of each error message (id 4, version 2)."""
    return [(int(m[2]), int(m[3]), m[4]) for m in messages if m[0] == "4"]
