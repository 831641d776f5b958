"""Validators for command-line values: argparse ``type=`` functions and checks across options (and the
wait every long-running command ends with, ``until_stopped``).

Each ``type=`` function returns the parsed value or raises ``argparse.ArgumentTypeError`` whose
message says what is wrong with the value and what would be valid; argparse prefixes the option,
so ``--tail -5`` reads ``--tail: -5 is not valid; give a whole number ≥ 1``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import re
import signal
from datetime import date
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, available_timezones

from terminal.config import LOG_LEVELS
from terminal.domain import ValidationError

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class InputError(ValidationError):
    """Values that are each valid do not fit together (e.g. a reversed date range)."""


def _invalid(text: str, valid: str, problem: str = "is not valid") -> argparse.ArgumentTypeError:
    shown = text if text and text == text.strip() else repr(text)  # quotes only where blanks would hide
    return argparse.ArgumentTypeError(f"{shown} {problem}; give {valid}")


def iso_date(text: str) -> date:
    """A calendar date written YYYY-MM-DD."""
    valid = "a date as YYYY-MM-DD, e.g. 2024-01-31"
    if not _ISO_DATE.fullmatch(text.strip()):
        raise _invalid(text, valid)
    try:
        return date.fromisoformat(text.strip())
    except ValueError as exc:
        raise _invalid(text, valid, f"is not a valid date ({exc})") from None


def timezone_name(text: str) -> str:
    """An IANA time zone name such as UTC or America/New_York."""
    name = text.strip()
    try:
        ZoneInfo(name)
        return name
    except (ValueError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        pass
    same_but_case = [z for z in available_timezones() if z.lower() == name.lower()]
    hint = f" (did you mean {same_but_case[0]}?)" if same_but_case else ""
    raise _invalid(text, "an IANA name such as UTC, Europe/London or America/New_York",
                   f"is not a known time zone{hint}")


def _number(kind: type, text: str, valid: str) -> float:
    try:
        value = kind(text)
    except ValueError:
        raise _invalid(text, valid) from None
    if isinstance(value, float) and not math.isfinite(value):
        raise _invalid(text, valid)
    return value


def _whole_number(text: str, low: int) -> int:
    valid = f"a whole number ≥ {low}"
    value = int(_number(int, text, valid))
    if value < low:
        raise _invalid(text, valid)
    return value


def positive_int(text: str) -> int:
    """A whole number ≥ 1 (counts, rows, workers)."""
    return _whole_number(text, 1)


def non_negative_int(text: str) -> int:
    """A whole number ≥ 0 (client ids, seeds)."""
    return _whole_number(text, 0)


def port_number(text: str) -> int:
    """A TCP port, 0..65535 (0 lets the system pick a free one)."""
    valid = "a port from 1 to 65535, or 0 for a free port"
    value = int(_number(int, text, valid))
    if not 0 <= value <= 65535:
        raise _invalid(text, valid)
    return value


def finite_float(text: str) -> float:
    """Any number except nan and infinity."""
    return float(_number(float, text, "a finite number, e.g. 1.5"))


def positive_float(text: str) -> float:
    """A finite number > 0 (cash, tick size, multiplier)."""
    valid = "a number > 0"
    value = float(_number(float, text, valid))
    if value <= 0:
        raise _invalid(text, valid)
    return value


def non_negative_float(text: str) -> float:
    """A finite number ≥ 0 (fixed units, where 0 means 'not set')."""
    valid = "a number ≥ 0"
    value = float(_number(float, text, valid))
    if value < 0:
        raise _invalid(text, valid)
    return value


def fraction(text: str) -> float:
    """A share from 0 up to, not including, 1 (commission, slippage)."""
    valid = "a fraction from 0 up to (not including) 1, e.g. 0.001 for 0.1%"
    value = float(_number(float, text, valid))
    if not 0 <= value < 1:
        raise _invalid(text, valid)
    return value


def open_fraction(text: str) -> float:
    """A share strictly between 0 and 1 (e.g. the in-sample part of a walk-forward split)."""
    valid = "a fraction strictly between 0 and 1, e.g. 0.7"
    value = float(_number(float, text, valid))
    if not 0 < value < 1:
        raise _invalid(text, valid)
    return value


def http_url(text: str) -> str:
    """An http:// or https:// URL with a host."""
    parts = urlparse(text.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _invalid(text, "an http(s) URL such as https://data.nasdaq.com/api/v3")
    return text.strip()


def log_level(text: str) -> str:
    """DEBUG, INFO, WARNING or ERROR, in any case."""
    level = text.strip().upper()
    if level not in LOG_LEVELS:
        raise _invalid(text, "one of " + ", ".join(LOG_LEVELS))
    return level


def check_range(start: date | None, end: date | None, start_option: str = "--from",
                end_option: str = "--to") -> None:
    """Raise InputError when both ends are given and the start comes after the end."""
    if start is not None and end is not None and start > end:
        raise InputError(f"{start_option} {start} is after {end_option} {end}; "
                         f"the range is reversed: give {start_option} on or before {end_option}")


async def until_stopped(seconds: float | None) -> None:
    """Until Ctrl+C (or SIGTERM), or ``seconds`` have passed (None: only a signal ends it)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
