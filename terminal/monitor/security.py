"""Who may read the monitor: loopback without a token, anything else only with a token the user set.

The token comes from ``QT_MONITOR_TOKEN`` or the OS keyring (``keyring set quant-terminal
monitor_token``), never from the plain config file (``terminal.config`` refuses it there).
"""

from __future__ import annotations

import hmac
import ipaddress

MIN_TOKEN_LENGTH = 16
HOW_TO_SET = ("set a token of at least 16 characters first: export QT_MONITOR_TOKEN=$(openssl rand -hex 24), "
              "or keyring set quant-terminal monitor_token")


class MonitorConfigError(ValueError):
    """The monitor cannot start as asked; the message says what to change."""


def parse_listen(text: str, what: str = "monitor") -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) → (host, port); port 0 picks a free one."""
    raw = text.strip()
    host, sep, port_text = raw.rpartition(":")
    host = host.strip("[]")
    if not sep or not host:
        raise MonitorConfigError(f"{what} {text!r} must look like HOST:PORT, e.g. 127.0.0.1:8765")
    try:
        port = int(port_text)
    except ValueError:
        raise MonitorConfigError(f"{what} {text!r}: port {port_text!r} is not a whole number") from None
    if not 0 <= port <= 65535:
        raise MonitorConfigError(f"{what} {text!r}: port {port} must be 0..65535 (0 picks a free one)")
    return host, port


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name other than localhost may resolve to anything
        return False


def check_bind(host: str, port: int, token: str) -> None:
    """Refuse a non-loopback address without a token, and a token too short to be one."""
    if token and len(token) < MIN_TOKEN_LENGTH:
        raise MonitorConfigError(f"the monitor token is {len(token)} characters long; {HOW_TO_SET}")
    if not is_loopback(host) and not token:
        raise MonitorConfigError(f"monitor {host}:{port} is reachable from other machines and no token is set; "
                                 f"{HOW_TO_SET} (or listen on 127.0.0.1)")


def token_matches(header: str | None, token: str) -> bool:
    """``Authorization: Bearer <token>``, compared in constant time."""
    if not header:
        return False
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())
