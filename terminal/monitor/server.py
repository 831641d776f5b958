"""The monitor's HTTP server (aiohttp): read-only JSON API, a Server-Sent Events stream and the web page.

Read-only by design: every method but GET and HEAD answers 405. No CORS headers are sent,
so a page on another origin cannot read the API. The access log is ours and names only
the method, the path and the status: no query strings, headers, tokens or account ids.
In the terminal the server runs on its own thread and loop (``MonitorThread``), so a slow
client or a burst of requests never delays the Qt loop; standalone it runs on the main loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from importlib import resources
from typing import Any

from aiohttp import web

from terminal.monitor.openapi import openapi_document
from terminal.monitor.security import token_matches
from terminal.monitor.state import (
    APPEND_SECTIONS,
    SCHEMA_VERSION,
    SECTIONS,
    MonitorState,
    encode,
    iso,
)

log = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 15.0
STREAM_ROWS = 500  # rows of a growing section (fills, equity) a new stream client gets first
READ_METHODS = ("GET", "HEAD")
# URL path -> (content type, file in the terminal package); the icon is the app's own, shared with the desktop.
STATIC_FILES = {"index.html": ("text/html", "monitor/web/index.html"),
                "app.js": ("text/javascript", "monitor/web/app.js"),
                "chart.js": ("text/javascript", "monitor/web/chart.js"),
                "style.css": ("text/css", "monitor/web/style.css"),
                "icon.svg": ("image/svg+xml", "assets/quant-terminal.svg")}
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
}


def _version() -> str:
    from terminal import __version__

    return __version__


class MonitorServer:
    """Serves one ``MonitorState`` on ``host:port`` (``port`` 0 picks a free one; ``port`` says which after start)."""

    def __init__(self, state: MonitorState, host: str = "127.0.0.1", port: int = 0, token: str = "") -> None:
        self.state = state
        self.host = host
        self.port = port
        self.token = token
        self.requests = 0
        self._runner: web.AppRunner | None = None
        self._streams: set[asyncio.Task] = set()
        self._closing = asyncio.Event()

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard])
        app.router.add_get("/healthz", self._healthz, allow_head=True)
        app.router.add_get("/openapi.json", self._openapi, allow_head=True)
        app.router.add_get("/api/health", self._health, allow_head=True)
        app.router.add_get("/api/snapshot", self._snapshot, allow_head=True)
        app.router.add_get("/api/stream", self._stream, allow_head=False)
        for name in SECTIONS:
            app.router.add_get(f"/api/{name}", self._section_handler(name), allow_head=True)
        app.router.add_get("/", self._static_handler("index.html"), allow_head=True)
        for name in STATIC_FILES:
            app.router.add_get(f"/{name}", self._static_handler(name), allow_head=True)
        return app

    async def start(self) -> None:
        self._closing = asyncio.Event()
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]
        log.debug("monitor listening on http://%s:%d/", self.host, self.port)

    async def stop(self) -> None:
        self._closing.set()
        for task in list(self._streams):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    # --- every request passes here ------------------------------------------------------------
    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests += 1
        started = time.perf_counter()
        if request.method not in READ_METHODS:
            response: web.StreamResponse = web.json_response(
                {"error": f"{request.method} is not allowed: the monitor is read-only (GET and HEAD only)"},
                status=405, headers={"Allow": "GET, HEAD"})
        elif self.token and request.path.startswith("/api/") and not token_matches(
                request.headers.get("Authorization"), self.token):
            response = web.json_response({"error": "a valid 'Authorization: Bearer <token>' header is required"},
                                         status=401, headers={"WWW-Authenticate": 'Bearer realm="monitor"'})
        else:
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                response = web.json_response({"error": exc.reason}, status=exc.status)
        if not response.prepared:
            response.headers.update(SECURITY_HEADERS)
        log.debug("monitor %s %s %d %.1f ms", request.method, request.path, response.status,
                  (time.perf_counter() - started) * 1000)
        return response

    # --- JSON ----------------------------------------------------------------------------------
    @staticmethod
    def _json(body: bytes) -> web.Response:
        return web.Response(body=body, content_type="application/json", headers={"Cache-Control": "no-store"})

    async def _healthz(self, _request: web.Request) -> web.Response:
        return web.Response(text="ok\n", headers={"Cache-Control": "no-store"})

    async def _openapi(self, _request: web.Request) -> web.Response:
        return self._json(encode(openapi_document(_version())))

    def health(self) -> dict[str, Any]:
        connection = self.state.section("connection").value
        return {"schema": SCHEMA_VERSION, "status": "ok", "version": _version(), "mode": self.state.mode,
                "started": iso(self.state.started), "time": _now_iso(),
                "connection": connection.get("state", "UNKNOWN"),
                "updated": {name: iso(self.state.section(name).updated) for name in SECTIONS}}

    async def _health(self, _request: web.Request) -> web.Response:
        return self._json(encode(self.health()))

    async def _snapshot(self, _request: web.Request) -> web.Response:
        parts = b",".join(b'"' + name.encode() + b'":' + self.state.body(name) for name in SECTIONS)
        return self._json(b'{"schema":' + str(SCHEMA_VERSION).encode() + b"," + parts + b"}")

    def _section_handler(self, name: str) -> Any:
        async def handler(_request: web.Request) -> web.Response:
            return self._json(self.state.body(name))
        return handler

    # --- the page ------------------------------------------------------------------------------
    def _static_handler(self, name: str) -> Any:
        content_type, path = STATIC_FILES[name]

        async def handler(_request: web.Request) -> web.Response:
            body = resources.files("terminal").joinpath(path).read_bytes()
            return web.Response(body=body, content_type=content_type, headers={"Cache-Control": "no-cache"})
        return handler

    # --- the stream ----------------------------------------------------------------------------
    async def _stream(self, request: web.Request) -> web.StreamResponse:
        """Server-Sent Events: every section once, then each change as it is published (``event: <section>``)."""
        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",  # nginx: pass events on at once
            **SECURITY_HEADERS})
        await response.prepare(request)
        task = asyncio.current_task()
        if task is not None:
            self._streams.add(task)
        changed = asyncio.Event()
        stop_watching = self.state.watch(asyncio.get_running_loop(), changed.set)
        sent: dict[str, tuple[int, int]] = {}  # section → (epoch, version) sent
        rows_sent: dict[str, int] = {}
        try:
            await response.write(b"retry: 2000\n\n")
            while not self._closing.is_set():
                changed.clear()
                for name, (epoch, version) in self.state.versions().items():
                    if sent.get(name) == (epoch, version):
                        continue
                    if name in APPEND_SECTIONS:
                        data = self._rows_event(name, epoch, sent.get(name), rows_sent)
                    else:
                        data = self.state.body(name)
                    sent[name] = (epoch, version)
                    await response.write(b"event: " + name.encode() + b"\ndata: " + data + b"\n\n")
                try:
                    await asyncio.wait_for(changed.wait(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    await response.write(b": keepalive\n\n")
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            stop_watching()
            if task is not None:
                self._streams.discard(task)
        return response

    def _rows_event(self, name: str, epoch: int, previous: tuple[int, int] | None, rows_sent: dict[str, int]) -> bytes:
        rows = self.state.section(name).value
        reset = previous is None or previous[0] != epoch
        start = max(0, len(rows) - STREAM_ROWS) if reset else rows_sent.get(name, 0)
        rows_sent[name] = len(rows)
        return encode({"schema": SCHEMA_VERSION, "reset": reset, "total": len(rows), "rows": list(rows[start:])})


def _now_iso() -> str:
    from datetime import UTC, datetime

    return iso(datetime.now(UTC)) or ""


class MonitorThread:
    """A ``MonitorServer`` on its own thread and event loop, for a process whose loop is busy (the GUI)."""

    def __init__(self, server: MonitorServer) -> None:
        self.server = server
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self, timeout: float = 10.0) -> None:
        """Start listening; raises what the server raised (a port in use, a bad address)."""
        self._thread = threading.Thread(target=self._run, name="monitor", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"the monitor did not start within {timeout:g} s")
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self.server.start())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self.server.stop())
            loop.close()

    def stop(self, timeout: float = 5.0) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive():
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
