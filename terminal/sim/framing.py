"""What one client may cost the simulator, and reading its frames within that: size, time to finish, bytes held.

Hand-written because the limits are the point. ``StreamReader.readexactly(n)`` buffers until ``n`` bytes have
arrived, so thirty clients that each announced a 15 MiB frame and stalled held 450 MB between them. Here a
frame that is already whole in the socket buffer is taken at once and costs nothing; only the bytes of a frame
still waiting for its rest are held, and those count against one cap shared by all clients. A frame must also
be finished within ``frame_timeout`` of its first byte; a client may stay idle between frames as long as it likes.
Not counted: what each connection's StreamReader buffers before it pauses the socket (its 64 KiB limit, twice,
plus one socket read). The deadline costs a few microseconds a frame (one ``call_later``), against about 8 us to
answer the smallest request; IB's clients send at most 50 requests a second. It is kept on the server's own loop
rather than with ``asyncio.timeout``: under qasync a task may be stepped while Qt processes events outside the
asyncio loop's run (a modal dialog, pytest-qt), where ``get_running_loop()`` fails.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass

from terminal.sim.wire import ProtocolError, parse_versions

MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """Limits per client and across clients; the defaults leave real IB clients, which send small whole
    frames at once and read their socket, far inside every one of them."""

    # IB's clients allow frames up to 16 MiB - 1 (for FA XML and the like, which the simulator does not take);
    # the largest request the simulator reads, a placeOrder with algo parameters, is a few KB.
    max_frame_bytes: int = 1 * MiB
    # Across all clients: 32 stalled clients at the frame limit (TWS itself takes at most 32 clients).
    max_partial_frame_bytes: int = 32 * MiB
    # From a frame's first byte to its last (and from connecting to the end of the handshake).
    frame_timeout: float = 10.0
    # Queued for a client beyond this, its quote, depth, keep-up-to-date bar and P&L updates are skipped.
    market_data_backlog: int = 256 * 1024
    # Queued for a client beyond this, it is dropped: 3x the largest answer (100 000 bars, about 5.5 MiB).
    max_write_buffer: int = 16 * MiB

    def __post_init__(self) -> None:
        for name in ("max_frame_bytes", "max_partial_frame_bytes", "frame_timeout", "market_data_backlog",
                     "max_write_buffer"):
            if not getattr(self, name) > 0:
                raise ValueError(f"ConnectionLimits.{name} {getattr(self, name)!r} must be > 0")
        if self.market_data_backlog >= self.max_write_buffer:
            raise ValueError(f"market_data_backlog {self.market_data_backlog} must be below max_write_buffer "
                             f"{self.max_write_buffer}, or a client would be dropped before its ticks were skipped")


class PartialFrames:
    """Bytes held in unfinished frames across all clients, against one cap."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.held = 0

    def hold(self, more: int) -> None:
        if self.held + more > self.cap:
            raise ProtocolError(f"holding {more} more bytes of an unfinished frame would take the simulator over its "
                                f"{self.cap} byte cap for unfinished frames of all clients ({self.held} held)")
        self.held += more

    def release(self, count: int) -> None:
        self.held -= count


class FrameReader:
    """One client's frames: ``await handshake()`` once, then ``await frame()`` for each request."""

    def __init__(self, reader: asyncio.StreamReader, limits: ConnectionLimits, partial: PartialFrames,
                 loop: asyncio.AbstractEventLoop) -> None:
        self.reader = reader
        self.loop = loop
        self.limits = limits
        self.partial = partial
        self._received = self._size = 0

    async def handshake(self) -> tuple[int, int]:
        """``API\\0`` then ``v{min}..{max}[ options]``, all within ``frame_timeout`` of connecting."""
        try:
            with _Deadline(self.loop, self.limits.frame_timeout):
                prefix = await self.reader.readexactly(4)
                if prefix != b"API\0":
                    raise ProtocolError(f"expected the API\\0 greeting, got {prefix!r}")
                return parse_versions(await self._rest_of_frame(await self.reader.readexactly(1)))
        except TimeoutError:
            raise ProtocolError(f"no handshake within {self.limits.frame_timeout:g} s of connecting") from None

    async def frame(self) -> bytes:
        first = await self.reader.readexactly(1)  # idle between requests for as long as the client likes
        try:
            with _Deadline(self.loop, self.limits.frame_timeout):
                return await self._rest_of_frame(first)
        except TimeoutError:
            raise ProtocolError(f"frame not finished within {self.limits.frame_timeout:g} s of its first byte "
                                f"({self._received} of {self._size} bytes arrived)") from None

    async def _rest_of_frame(self, first: bytes) -> bytes:
        self._received, self._size = 1, 4  # of the length header, until it is whole
        header = first + await self.reader.readexactly(3)
        (size,) = struct.unpack(">I", header)
        if size > self.limits.max_frame_bytes:
            raise ProtocolError(f"frame of {size} bytes is over the simulator's {self.limits.max_frame_bytes} "
                                "byte limit")
        self._received, self._size = 0, size
        chunk = await self.reader.read(size) if size else b""
        if len(chunk) == size:  # the usual case: the whole frame was already in the socket buffer
            return chunk
        chunks: list[bytes] = []
        held = 0
        try:
            while True:
                if not chunk:
                    raise asyncio.IncompleteReadError(b"".join(chunks), size)
                chunks.append(chunk)
                self._received += len(chunk)
                if self._received == size:
                    return b"".join(chunks)
                self.partial.hold(len(chunk))  # the rest is still on its way: what came is held meanwhile
                held += len(chunk)
                chunk = await self.reader.read(size - self._received)
        finally:
            self.partial.release(held)


class _Deadline:
    """Cancel the current task after ``seconds``, seen by the caller as TimeoutError (``asyncio.timeout`` on an
    explicit loop)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, seconds: float) -> None:
        self.loop = loop
        self.seconds = seconds
        self.expired = False

    def __enter__(self) -> _Deadline:
        task = asyncio.current_task(self.loop)
        if task is None:
            raise RuntimeError("a frame deadline needs a task")
        self.task = task
        self.handle = self.loop.call_later(self.seconds, self._expire)
        return self

    def _expire(self) -> None:
        self.expired = True
        self.task.cancel()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, _tb: object) -> None:
        self.handle.cancel()
        if self.expired and kind is asyncio.CancelledError:
            self.task.uncancel()
            raise TimeoutError from None
