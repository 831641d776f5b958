"""Writes a complete, self-contained nginx.conf that puts nginx in front of one or several monitors.

nginx adds what the monitor leaves to a proxy: TLS, basic auth for people (the monitor only
knows one bearer token), per-client rate limits, and a pool of monitors where a dead one is
skipped. The result runs without root from a private folder (``nginx -p DIR -c FILE``):
pid, logs and temp files all live under that prefix, nothing is read from /etc/nginx.

Health checks are *passive*: open-source nginx has no active probes (that is nginx Plus).
A monitor that refuses or drops a connection, or answers 502/503/504, fails that request
over to the next monitor (``proxy_next_upstream``) and is left out for ``fail_timeout``
(``max_fails=1``); then nginx tries it again with one real request.

Written by hand as text: the one library that builds nginx configs (crossplane) turns a
JSON tree into the same text and would add a dependency without removing any of the rules
below, which are what needs care (header inheritance, phase order, quoting).
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from pathlib import Path

from terminal.monitor.security import MIN_TOKEN_LENGTH, MonitorConfigError, is_loopback

STREAM_PATH = "/api/stream"
STREAMS_PER_CLIENT = 16  # open event streams per client address: a few tabs and phones behind one NAT
FAIL_TIMEOUT_SECONDS = 10  # how long a failed monitor is left out before nginx tries it again
CONNECT_TIMEOUT_SECONDS = 2  # a monitor on a host that is down must not hold a request for 60 s
STREAM_READ_TIMEOUT = "1h"  # the monitor sends a keepalive every 15 s; this only ends a hung one
_HOST_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")
_TOKEN = re.compile(r"^[A-Za-z0-9._~+/=-]+$")  # RFC 6750 b64token: nothing nginx would interpret
_PATH_FORBIDDEN = set('"\\$') | {chr(code) for code in range(32)} | {"\x7f"}
TEMP_KINDS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


class NginxConfigError(MonitorConfigError):
    """The nginx config cannot be written as asked; the message says what to change."""


def render_nginx_config(port: int, upstreams: list[tuple[str, int]], prefix: Path, htpasswd: Path | None = None,
                        token: str = "", tls_cert: Path | None = None, tls_key: Path | None = None,
                        rate: float = 20.0, burst: int = 40, listen: str = "127.0.0.1",
                        as_root: bool | None = None) -> str:
    """The text of an nginx.conf serving the monitors ``upstreams`` on ``listen:port``.

    ``prefix`` is nginx's private folder (pid, logs, temp files); it need not exist yet, but
    must before nginx starts. With ``htpasswd`` nginx asks for basic auth and never passes the
    client's Authorization header on: it sends ``Bearer <token>`` to the monitors when a
    ``token`` is given, nothing otherwise. Without ``htpasswd`` the client's header goes
    through and the monitors check their token themselves. ``tls_cert`` and ``tls_key`` (PEM)
    together turn on HTTPS. ``rate`` requests per second per client (``burst`` more at once)
    before 429; the event stream is limited by open connections instead. ``as_root`` (default:
    whether this process is root) adds ``user root;`` so workers can read a root-owned prefix.
    Raises ``NginxConfigError`` naming the bad input.
    """
    _check_port(port, "nginx port")
    if not upstreams:
        raise NginxConfigError("nginx needs at least one upstream monitor HOST:PORT; none was given")
    servers = [_upstream_address(host, upstream_port) for host, upstream_port in upstreams]
    if len(set(servers)) != len(servers):
        raise NginxConfigError(f"upstream monitors {', '.join(servers)} name one monitor twice; list each once")
    listen_host = _host(listen, "listen address")
    prefix = _absolute(prefix, "prefix")
    htpasswd = _readable(htpasswd, "htpasswd file") if htpasswd is not None else None
    if (tls_cert is None) != (tls_key is None):
        given, missing = ("certificate", "key") if tls_key is None else ("key", "certificate")
        raise NginxConfigError(f"TLS {given} given without its {missing}; give both the certificate and the key, "
                               "or neither for plain HTTP")
    cert = _readable(tls_cert, "TLS certificate") if tls_cert is not None else None
    key = _readable(tls_key, "TLS key") if tls_key is not None else None
    _check_token(token)
    rate_text = _rate(rate)
    if isinstance(burst, bool) or not isinstance(burst, int) or burst < 0:
        raise NginxConfigError(f"burst {burst!r} must be a whole number of requests ≥ 0")
    if htpasswd is None and not token and not is_loopback(listen_host):
        raise NginxConfigError(
            f"nginx on {listen_host}:{port} would serve the monitors to other machines with no authentication; "
            "give an htpasswd file (htpasswd -c FILE USER), set the monitor token, or listen on 127.0.0.1")
    if as_root is None:
        as_root = getattr(os, "geteuid", lambda: -1)() == 0

    lines = _header(prefix, token if htpasswd is not None else "", cert is not None, listen_host)
    lines += _main(prefix, as_root)
    lines += ["", "http {"]
    lines += _indent(_http(prefix, servers, rate_text))
    lines += ["", *_indent(_server(listen_host, port, len(servers), htpasswd, token, cert, key, burst))]
    lines += ["}", ""]
    return "\n".join(lines)


# --- the parts of the file ------------------------------------------------------------------------
def _header(prefix: Path, injected_token: str, tls: bool, listen_host: str) -> list[str]:
    lines = [
        "# nginx in front of the QuantTerminal read-only monitor",
        "# (written by `quant-terminal monitor --nginx-config`; packaging/nginx/README.md explains it).",
        "# Runs without root (with a port >= 1024); everything it writes stays under the prefix:",
        f"#   nginx -p {prefix} -c FILE                   (FILE: this file; stop: add -s stop)",
        f"#   nginx -p {prefix} -c FILE -g 'daemon off;'   (in the foreground)",
        "# Health checks are passive (open-source nginx): a monitor that fails a request is left out",
        f"# for {FAIL_TIMEOUT_SECONDS} s and the request goes to the next one.",
    ]
    if injected_token:
        lines += ["#", "# THIS FILE HOLDS THE MONITOR TOKEN (sent upstream after basic auth):",
                  "# keep it private (chmod 600) and out of version control."]
    if not tls and not is_loopback(listen_host):
        lines += ["#", "# Plain HTTP off loopback: passwords and tokens cross the network in clear text.",
                  "# Give a TLS certificate and key, or put a TLS terminator in front."]
    return [*lines, ""]


def _main(prefix: Path, as_root: bool) -> list[str]:
    lines = []
    if as_root:
        # Started by root, workers would run as "nobody" and could not read a root-owned prefix.
        lines.append("user root;")
    return [*lines,
            "worker_processes 1;",
            f"pid {_quote(prefix / 'nginx.pid')};",
            f"error_log {_quote(prefix / 'error.log')} warn;",
            "",
            "events {",
            "    worker_connections 1024;",
            "}"]


def _http(prefix: Path, servers: list[str], rate_text: str) -> list[str]:
    temp = [f"{kind}_temp_path {_quote(prefix / f'{kind}_temp')};" for kind in TEMP_KINDS]
    upstream = [f"server {address} max_fails=1 fail_timeout={FAIL_TIMEOUT_SECONDS}s;" for address in servers]
    return [
        "server_tokens off;",
        "default_type application/octet-stream;",
        "client_max_body_size 1k;  # a read-only API: no request carries a body",
        "",
        "# Method, path without the query string, status: no Authorization header, no tokens in URLs.",
        "log_format monitor '$remote_addr $remote_user [$time_local] \"$request_method $uri $server_protocol\" '",
        "                   '$status $body_bytes_sent $request_time \"$upstream_addr\" \"$http_user_agent\"';",
        f"access_log {_quote(prefix / 'access.log')} monitor;",
        *temp,
        "",
        f"limit_req_zone $binary_remote_addr zone=monitor:10m rate={rate_text};",
        "limit_conn_zone $binary_remote_addr zone=monitor_streams:1m;",
        "limit_req_status 429;",
        "limit_conn_status 429;",
        "",
        "# Read-only at the edge too: anything but GET and HEAD gets 405 with the methods that are allowed.",
        "map $request_method $monitor_refused {",
        '    GET "";',
        '    HEAD "";',
        '    default "GET, HEAD";',
        "}",
        "",
        "upstream monitors {",
        *_indent(upstream),
        "    keepalive 16;",
        "}",
    ]


def _server(listen_host: str, port: int, upstream_count: int, htpasswd: Path | None, token: str,
            cert: Path | None, key: Path | None, burst: int) -> list[str]:
    address = f"[{listen_host}]" if ":" in listen_host else listen_host
    lines = [f"listen {address}:{port}{' ssl' if cert else ''};"]
    if cert and key:
        lines += [f"ssl_certificate {_quote(cert)};",
                  f"ssl_certificate_key {_quote(key)};",
                  "ssl_protocols TLSv1.2 TLSv1.3;",
                  "ssl_session_cache shared:monitor_tls:1m;",
                  "ssl_session_timeout 1h;"]
    lines += [
        "",
        "# Every add_header lives here: a location with its own add_header would drop these.",
        "add_header Allow $monitor_refused always;  # empty (so not sent) for GET and HEAD",
    ]
    if cert:
        lines.append('add_header Strict-Transport-Security "max-age=31536000" always;')
    lines += [
        "default_type application/json;",
        "# The rewrite phase runs before auth: a write is 405 with or without credentials.",
        "if ($monitor_refused) {",
        "    return 405 '{\"error\":\"$request_method is not allowed: "
        "the monitor is read-only (GET and HEAD only)\"}\\n';",
        "}",
        "",
    ]
    if htpasswd is not None:
        lines += ['auth_basic "QuantTerminal monitor";', f"auth_basic_user_file {_quote(htpasswd)};"]
        if token:
            lines.append("# The people log in to nginx; nginx shows the monitors their token.")
            lines.append(f'proxy_set_header Authorization "Bearer {token}";')
        else:
            lines.append("# The basic credentials are nginx's business, not the monitors'.")
            lines.append('proxy_set_header Authorization "";')
    else:
        lines.append("# No basic auth here: the client's Authorization: Bearer header goes on to the monitors.")
    lines += [
        "",
        "# Every proxy_set_header lives here too (same inheritance rule as add_header).",
        "proxy_http_version 1.1;",
        'proxy_set_header Connection "";  # keeps upstream connections open (keepalive 16)',
        "proxy_set_header Host $host;",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        f"proxy_connect_timeout {CONNECT_TIMEOUT_SECONDS}s;",
        "# Passive health check: a monitor that fails is skipped and left out for fail_timeout.",
        "proxy_next_upstream error timeout http_502 http_503 http_504;",
        f"proxy_next_upstream_tries {upstream_count};",
        "proxy_next_upstream_timeout 10s;",
        "",
        "# nginx itself is alive (for an outside load balancer): no auth, no monitor involved.",
        "location = /healthz {",
        "    auth_basic off;",
        "    access_log off;",
        "    default_type text/plain;",
        '    return 200 "ok\\n";',
        "}",
        "",
        "# At least one monitor answers: the monitors' own /healthz, which never needs a token.",
        "location = /healthz/upstream {",
        "    auth_basic off;",
        "    access_log off;",
        f"    limit_req zone=monitor burst={burst} nodelay;",
        "    proxy_pass http://monitors/healthz;",
        "}",
        "",
        "# Server-Sent Events: each event must leave at once, and a stream lives for hours.",
        "# Limited by open streams, not by requests, so a client reconnecting is never refused.",
        f"location = {STREAM_PATH} {{",
        f"    limit_conn monitor_streams {STREAMS_PER_CLIENT};",
        "    proxy_buffering off;",
        "    proxy_cache off;",
        f"    proxy_read_timeout {STREAM_READ_TIMEOUT};",
        "    proxy_pass http://monitors;",
        "}",
        "",
        "location / {",
        f"    limit_req zone=monitor burst={burst} nodelay;",
        "    proxy_pass http://monitors;",
        "}",
    ]
    return ["server {", *_indent(lines), "}"]


# --- checks and quoting -----------------------------------------------------------------------------
def _check_port(port: int, what: str) -> None:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise NginxConfigError(f"{what} {port!r} must be a whole number in 1..65535")


def _host(text: str, what: str) -> str:
    """A host name, IPv4 or IPv6 address (brackets optional), refused if nginx would read anything else in it."""
    host = str(text).strip().removeprefix("[").removesuffix("]")
    if ":" in host:
        try:
            return str(ipaddress.IPv6Address(host))
        except ValueError:
            pass
    elif _HOST_NAME.match(host):
        return host
    raise NginxConfigError(f"{what} {text!r} must be a host name or an IP address, e.g. 127.0.0.1 or [::1]")


def _upstream_address(host: str, port: int) -> str:
    _check_port(port, f"upstream monitor {host}:{port!r}: port")
    name = _host(host, "upstream monitor host")
    return f"[{name}]:{port}" if ":" in name else f"{name}:{port}"


def _absolute(path: Path, what: str) -> Path:
    resolved = Path(path).expanduser().resolve()
    bad = sorted(set(str(resolved)) & _PATH_FORBIDDEN)
    if bad:
        raise NginxConfigError(f"{what} {str(resolved)!r} contains {''.join(bad)!r}, which nginx would read as "
                               "quoting or a variable; use a path without quotes, backslashes, $ or control characters")
    return resolved


def _readable(path: Path, what: str) -> Path:
    resolved = _absolute(path, what)
    if not resolved.is_file():
        raise NginxConfigError(f"{what} {str(resolved)!r} does not exist or is not a file")
    if not os.access(resolved, os.R_OK):
        raise NginxConfigError(f"{what} {str(resolved)!r} is not readable by this user; nginx must read it")
    return resolved


def _check_token(token: str) -> None:
    if not token:
        return
    if len(token) < MIN_TOKEN_LENGTH:
        raise NginxConfigError(f"the monitor token is {len(token)} characters long; it must have at least "
                               f"{MIN_TOKEN_LENGTH} (e.g. openssl rand -hex 24)")
    if not _TOKEN.match(token):
        # The token goes into a quoted nginx string: a quote, space or $ would change the config.
        raise NginxConfigError("the monitor token may hold only letters, digits and . _ ~ + / = - "
                               "(e.g. openssl rand -hex 24)")


def _rate(rate: float) -> str:
    """nginx counts whole requests per second or per minute: 2.5 r/s becomes 150r/m."""
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not math.isfinite(rate) or rate < 1 / 60:
        raise NginxConfigError(f"rate {rate!r} must be a number of requests per second ≥ 1/60 (one a minute)")
    if rate >= 1 and float(rate).is_integer():
        return f"{int(rate)}r/s"
    return f"{round(rate * 60)}r/m"


def _quote(path: Path) -> str:
    return f'"{path}"'  # paths passed _absolute: no quote, backslash or $ inside


def _indent(lines: list[str]) -> list[str]:
    return [f"    {line}" if line else "" for line in lines]
