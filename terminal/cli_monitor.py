"""``quant-terminal monitor``: the desk's read-only monitor over the shared store, or an nginx.conf to publish it."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys

from terminal.config import Settings
from terminal.monitor.security import MonitorConfigError, check_bind, parse_listen

EXIT_USAGE = 2


def _usage(message: str) -> int:
    print(f"quant-terminal monitor: {message} (see 'quant-terminal monitor --help')", file=sys.stderr)
    return EXIT_USAGE


def run_monitor_command(args: argparse.Namespace, settings: Settings) -> int:
    if args.nginx_config:
        return _print_nginx_config(args, settings)
    try:
        host, port = parse_listen(args.listen, "--listen")
        check_bind(host, port, settings.monitor_token)
    except MonitorConfigError as exc:
        return _usage(str(exc))
    from terminal.cli_commands import _fail, _open_store
    from terminal.store import StoreError

    serve = _serve
    if settings.feed:  # the desk's state from the bus: every trader's orders and fills, the account's positions
        from dataclasses import replace

        serve = _serve_bus
        if not settings.db_url:  # the monitor's own small book, not a terminal's on the same machine
            settings = replace(settings, db_url=f"sqlite:///{settings.resolved_data_dir / 'monitor-bus.sqlite'}")
    try:
        store = _open_store(settings)
    except StoreError as exc:
        return _fail(str(exc))
    try:
        return asyncio.run(serve(store, settings, host, port))
    except OSError as exc:
        return _fail(f"monitor cannot listen on {host}:{port}: {exc.strerror or exc}")
    finally:
        store.close()


async def _serve(store, settings: Settings, host: str, port: int) -> int:  # type: ignore[no-untyped-def]
    from terminal.cli_args import until_stopped
    from terminal.monitor import MonitorServer, MonitorState
    from terminal.monitor.store_feed import StoreFeed

    state = MonitorState("store")
    server = MonitorServer(state, host, port, settings.monitor_token)
    await server.start()
    feed = StoreFeed(store, state, settings.daily_reset_time, settings.daily_reset_timezone)
    feeding = asyncio.ensure_future(feed.run())
    print(f"monitor on {server.url} from {store.url}{' (token required)' if settings.monitor_token else ''}; "
          "Ctrl-C stops it", file=sys.stderr, flush=True)
    try:
        await until_stopped(None)
    finally:
        feeding.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await feeding
        await server.stop()
    return 0


async def _serve_bus(store, settings: Settings, host: str, port: int) -> int:  # type: ignore[no-untyped-def]
    """The monitor as a read-only member of the desk bus: a session on a KafkaBroker with the desk role that
    sends no order command, published by the same SessionFeed as a terminal's monitor."""
    from terminal.broker.base import BrokerError
    from terminal.bus.feed import KafkaBroker
    from terminal.bus.kafka import Topics
    from terminal.cli_args import until_stopped
    from terminal.cli_commands import _fail
    from terminal.monitor import MonitorServer, MonitorState
    from terminal.monitor.session_feed import SessionFeed
    from terminal.services.session import TradingSession

    broker = KafkaBroker(Topics(settings.bus_prefix), trader=settings.trader or "monitor", role="desk",
                         read_only=True)
    session = TradingSession(settings, store, broker)
    try:
        await session.start()
    except (BrokerError, OSError) as exc:
        with contextlib.suppress(Exception):
            await session.stop()
        return _fail(f"monitor --feed: {exc}")
    state = MonitorState("terminal")
    server = MonitorServer(state, host, port, settings.monitor_token)
    await server.start()
    feed = SessionFeed(session, state, asyncio.get_running_loop())
    feed.start()
    print(f"monitor on {server.url} from the desk bus {settings.feed}"
          f"{' (token required)' if settings.monitor_token else ''}; Ctrl-C stops it", file=sys.stderr, flush=True)
    try:
        await until_stopped(None)
    finally:
        feed.stop()
        await server.stop()
        await session.stop()
    return 0


def _print_nginx_config(args: argparse.Namespace, settings: Settings) -> int:
    from terminal.monitor.nginx import NginxConfigError, render_nginx_config

    if args.port is None:
        return _usage("--nginx-config needs --port NGINX_PORT (the port nginx listens on)")
    if not args.upstream:
        return _usage("--nginx-config needs at least one --upstream HOST:PORT (a running monitor)")
    try:
        upstreams = [parse_listen(text, "--upstream") for text in args.upstream]
        if any(port == 0 for _host, port in upstreams):
            return _usage("--upstream needs the monitor's real port, not 0")
        prefix = (args.prefix or settings.resolved_data_dir / "nginx").resolve()
        text = render_nginx_config(args.port, upstreams, prefix, htpasswd=args.htpasswd, token=settings.monitor_token,
                                   tls_cert=args.tls_cert, tls_key=args.tls_key, rate=args.rate, listen=args.bind)
    except (MonitorConfigError, NginxConfigError) as exc:
        return _usage(str(exc))
    try:
        prefix.mkdir(parents=True, exist_ok=True)
        conf = prefix / "nginx.conf"
        # private: with --htpasswd and a monitor token, the file holds the token nginx sends upstream
        descriptor = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
        os.chmod(conf, 0o600)
    except OSError as exc:
        print(f"quant-terminal monitor: cannot write {prefix / 'nginx.conf'}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    sys.stdout.write(text)
    print(f"# written to {conf}; run it: nginx -p {prefix} -c {conf} -e {prefix}/startup.log", file=sys.stderr)
    return 0
