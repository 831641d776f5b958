"""TWS API framing: 4-byte big-endian length, then NUL-terminated ASCII fields (the handshake too)."""

from __future__ import annotations

import asyncio
import math
import struct

UNSET_DOUBLE = 1.7976931348623157e308
UNSET_INTEGER = 2**31 - 1
MAX_FRAME = 16 * 1024 * 1024


class ProtocolError(ValueError):
    """A client sent bytes that are not a TWS API message."""


def field(value: object) -> str:
    """One field as TWS writes it: bools as 0/1, None and unset numbers as empty, floats shortest."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        if math.isnan(value) or value == UNSET_DOUBLE:
            return ""
        if value == math.inf:
            return "Infinite"
        return repr(value) if value != int(value) or abs(value) >= 1e15 else str(int(value))
    return str(value)


def encode(*fields: object) -> bytes:
    payload = "".join(field(f) + "\0" for f in fields).encode("utf-8", "replace")
    return struct.pack(">I", len(payload)) + payload


def decode(payload: bytes) -> list[str]:
    text = payload.decode("utf-8", "replace")
    if not text.endswith("\0"):
        raise ProtocolError("message does not end with a NUL field terminator")
    return text[:-1].split("\0")


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    header = await reader.readexactly(4)
    (size,) = struct.unpack(">I", header)
    if size > MAX_FRAME:
        raise ProtocolError(f"message of {size} bytes is larger than the {MAX_FRAME} byte limit")
    return await reader.readexactly(size)


async def read_handshake(reader: asyncio.StreamReader) -> tuple[int, int]:
    """``API\\0`` then ``v{min}..{max}[ options]``; returns the client's version range."""
    prefix = await reader.readexactly(4)
    if prefix != b"API\0":
        raise ProtocolError(f"expected the API\\0 greeting, got {prefix!r}")
    text = (await read_frame(reader)).decode("ascii", "replace").strip("\0")
    versions = text.split(" ")[0]
    if not versions.startswith("v") or ".." not in versions:
        raise ProtocolError(f"expected a version range like v157..176, got {text!r}")
    low, high = versions[1:].split("..")
    return int(low), int(high)


def as_float(text: str, default: float = math.nan) -> float:
    if text in ("", None):
        return default
    value = float(text)
    return default if value >= UNSET_DOUBLE else value


def as_int(text: str, default: int = 0) -> int:
    if text in ("", None):
        return default
    value = int(float(text))
    return default if value >= UNSET_INTEGER else value
