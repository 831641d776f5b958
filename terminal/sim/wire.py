"""TWS API framing: 4-byte big-endian length, then NUL-terminated ASCII fields (the handshake too)."""

from __future__ import annotations

import math
import re
import struct

UNSET_DOUBLE = 1.7976931348623157e308
UNSET_INTEGER = 2**31 - 1


class ProtocolError(ValueError):
    """A client sent bytes that are not a TWS API message."""


def field(value: object) -> str:
    """One field as TWS writes it: bools as 0/1, None and unset numbers as empty, floats shortest."""
    kind = type(value)
    if kind is str:  # the common cases first: a ticker pass encodes ~100,000 fields a second
        return value  # type: ignore[return-value]
    if kind is int:
        return str(value)
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


def parse_versions(payload: bytes) -> tuple[int, int]:
    """The client's version range from the handshake frame ``v{min}..{max}[ options]``."""
    text = payload.decode("ascii", "replace").strip("\0")
    match = re.fullmatch(r"v([0-9]{1,9})\.\.([0-9]{1,9})", text.split(" ")[0])
    if match is None:
        raise ProtocolError(f"expected a version range like v157..176, got {text[:40]!r}")
    return int(match.group(1)), int(match.group(2))


class FieldError(ProtocolError):
    """A field of a request holds a value its type cannot take (``inf`` as a request id, ``abc`` as a quantity)."""


def as_float(text: str, default: float = math.nan, name: str = "field") -> float:
    """A decimal field; empty or IB's unset double gives ``default``; NaN, infinities and words are refused."""
    if text in ("", None):
        return default
    try:
        value = float(text)
    except ValueError:
        raise FieldError(f"{name} {text[:40]!r} is not a number") from None
    if not math.isfinite(value):
        raise FieldError(f"{name} {text[:40]!r} is not a finite number") from None
    return default if value >= UNSET_DOUBLE else value


def as_int(text: str, default: int = 0, name: str = "field") -> int:
    """A whole-number field; empty or IB's unset integer (or above) gives ``default``; anything else is refused."""
    if text in ("", None):
        return default
    try:
        value = int(text)
    except ValueError:
        try:
            number = float(text)  # "5.0" and "1e3" are whole numbers too
        except ValueError:
            number = math.nan
        if not (math.isfinite(number) and number.is_integer()):
            raise FieldError(f"{name} {text[:40]!r} is not a whole number") from None
        value = int(number)
    return default if value >= UNSET_INTEGER else value
