"""The built-in simulator as a child process of the terminal, as TWS is a process of its own.

Demo mode then crosses the same process boundary as a live account: the simulator's price paths,
matching and socket writes run in another process (on another core), and the terminal's CPU and
loop-lag figures are the terminal's alone.

The child never outlives the terminal. Its stdin is a pipe whose only writer is the terminal:
when the terminal ends, however it ends (kill -9 included), the kernel closes that pipe, the child
reads end-of-file and exits. On Linux the child also asks the kernel for SIGTERM when its parent
dies (``PR_SET_PDEATHSIG``), which covers a child too busy for its watcher thread to run. It runs
in its own session so that a Ctrl-C in the terminal's shell reaches the terminal, which then stops
the child in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from terminal.config import Settings

log = logging.getLogger(__name__)

READY = "QT-SIM READY"  # the child's first line on stdout once it listens: "QT-SIM READY HOST PORT"
START_TIMEOUT = 30.0


class SimulatorError(RuntimeError):
    """The simulator process could not be started (its last words are in the message)."""


class SimulatorProcess:
    """``await start()`` runs ``quant-terminal sim`` as a child on a free loopback port (``.port``);
    ``await stop()`` ends it. ``on_exit(code)`` is called on the loop if it ends by itself."""

    def __init__(self, seed: int, port: int = 0, host: str = "127.0.0.1", tick_rate: float = 4.0,
                 universe: str = "", log_level: str = "WARNING",
                 on_exit: Callable[[int], None] | None = None, replay_args: list[str] | None = None,
                 on_line: Callable[[str], None] | None = None) -> None:
        """``replay_args`` (``--replay-archive URL …``) makes it a replay; its clock lines on stdout go to
        ``on_line`` on the loop, and ``send`` writes control lines to its stdin."""
        self.seed = seed
        self.host = host
        self.port = port
        self.tick_rate = tick_rate
        self.universe = universe
        self.log_level = log_level
        self.on_exit = on_exit
        self.replay_args = replay_args or []
        self.on_line = on_line
        self.process: subprocess.Popen[bytes] | None = None
        self._stopping = False
        self._launched_unread = False  # launch() ran and start() has not read its READY line yet
        self._last_words: list[str] = []

    @classmethod
    def for_settings(cls, settings: Settings, on_exit: Callable[[int], None] | None = None) -> SimulatorProcess:
        """The built-in simulator of a session with these settings (seed, port, tick rate, universe)."""
        return cls(settings.sim_seed, settings.sim_port, tick_rate=settings.sim_tick_rate,
                   universe=settings.sim_universe, on_exit=on_exit)

    def command(self) -> list[str]:
        """How the child is started: the same program as the terminal (a bundle runs itself)."""
        program = [sys.executable] if getattr(sys, "frozen", False) else [sys.executable, "-m", "terminal"]
        command = [*program, "sim", "--parent-watch", "--host", self.host, "--port", str(self.port),
                   "--seed", str(self.seed), "--tick-rate", f"{self.tick_rate:g}", "--log-level", self.log_level]
        if self.universe:
            command += ["--universe", self.universe]
        return command + self.replay_args

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def launch(self) -> None:
        """Start the child without waiting for it: the terminal launches its simulator first thing, so that
        the child's start-up (half a second of imports) runs on another core while the window is built."""
        self._stopping = False
        process = subprocess.Popen(self.command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, start_new_session=True)
        self.process = process
        self._launched_unread = True
        assert process.stderr is not None
        self._last_words = []
        threading.Thread(target=_relay_stderr, args=(process.stderr, self._last_words), daemon=True,
                         name="simulator-stderr").start()

    async def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the child (unless ``launch`` did) and wait until it listens; SimulatorError with its stderr's
        last line if it cannot."""
        loop = asyncio.get_event_loop()
        if not self._launched_unread:  # else the child launch() started is on its way up: wait for it
            self.launch()
        self._launched_unread = False
        process = self.process
        assert process is not None and process.stdout is not None
        last_words = self._last_words
        try:
            line = await asyncio.wait_for(asyncio.to_thread(_read_ready, process.stdout), timeout)
        except TimeoutError:
            self._kill()
            raise SimulatorError(f"the simulator did not start listening within {timeout:g} s") from None
        if line is None:
            code = process.wait()
            why = last_words[-1] if last_words else f"exit code {code}"
            raise SimulatorError(f"the simulator did not start: {why}")
        self.host, self.port = line[0], int(line[1])
        threading.Thread(target=self._watch, args=(process, loop), daemon=True, name="simulator-watch").start()
        if self.on_line is not None:
            threading.Thread(target=self._read_lines, args=(process.stdout, loop), daemon=True,
                             name="simulator-lines").start()

    def _read_lines(self, stdout: IO[bytes], loop: asyncio.AbstractEventLoop) -> None:
        for raw in iter(stdout.readline, b""):
            text = raw.decode(errors="replace").strip()
            if text and self.on_line is not None:
                with contextlib.suppress(RuntimeError):  # the loop is closed
                    loop.call_soon_threadsafe(self.on_line, text)

    def send(self, line: str) -> None:
        """A control line to the child (a replay's play, pause, speed N, step, jump TIME)."""
        process = self.process
        if process is None or process.stdin is None or process.poll() is not None:
            raise SimulatorError("the simulator is not running")
        try:
            process.stdin.write(line.strip().encode() + b"\n")
            process.stdin.flush()
        except OSError as exc:
            raise SimulatorError(f"the simulator does not take commands: {exc}") from None

    def _watch(self, process: subprocess.Popen[bytes], loop: asyncio.AbstractEventLoop) -> None:
        code = process.wait()
        if not self._stopping and self.on_exit is not None and process is self.process:
            with contextlib.suppress(RuntimeError):  # the loop is closed: the terminal is gone anyway
                loop.call_soon_threadsafe(self.on_exit, code)

    async def stop(self, timeout: float = 5.0) -> None:
        """Close its stdin (it stops in order), then SIGTERM, then SIGKILL, each after ``timeout``."""
        process = self.process
        self._stopping = True
        if process is None or process.poll() is not None:
            return
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
        for next_step in (process.terminate, process.kill):
            try:
                await asyncio.wait_for(asyncio.to_thread(process.wait), timeout)
                return
            except TimeoutError:
                next_step()
        await asyncio.to_thread(process.wait)

    def _kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _read_ready(stdout: IO[bytes]) -> list[str] | None:
    """The child's ``READY HOST PORT`` line split, or None when it ended first."""
    for raw in iter(stdout.readline, b""):
        text = raw.decode(errors="replace").strip()
        if text.startswith(READY):
            return text[len(READY):].split()
    return None


def _relay_stderr(stderr: IO[bytes], last_words: list[str]) -> None:
    """The child's warnings go to the terminal's log; its last line explains a failed start."""
    for raw in iter(stderr.readline, b""):
        text = raw.decode(errors="replace").rstrip()
        if text:
            del last_words[:-1]
            last_words.append(text.removeprefix("quant-terminal: "))
            log.warning("simulator: %s", text)


# --- the child's side ------------------------------------------------------------------------
def watch_parent(on_parent_gone: Callable[[], None], on_line: Callable[[str], None] | None = None) -> None:
    """In the child: call ``on_parent_gone`` (from a thread) when the parent's end of stdin closes, and
    ``on_line`` with each line the parent writes there (a replay's control commands).

    Also asks Linux for SIGTERM at the parent's death; elsewhere the pipe alone does it."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):  # no libc by that name: the pipe still works
            import ctypes

            pr_set_pdeathsig = 1
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)

    def wait_for_eof() -> None:
        pending = b""
        with contextlib.suppress(OSError, ValueError):
            while chunk := os.read(sys.stdin.fileno(), 4096):
                if on_line is None:
                    continue
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if line.strip():
                        on_line(line.decode(errors="replace"))
        on_parent_gone()

    threading.Thread(target=wait_for_eof, daemon=True, name="parent-watch").start()


def announce(host: str, port: int, keep_stdout: bool = False) -> None:
    """In the child: tell the parent where it listens, then keep stdout away from the pipe (nobody reads it)
    unless the parent reads it on (``keep_stdout``: a replay's clock lines)."""
    print(f"{READY} {host} {port}", flush=True)
    if keep_stdout:
        return
    with contextlib.suppress(OSError, ValueError):
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
