"""The terminal's side of a market replay: what to replay, and the transport (play, pause, step, speed, jump).

The replay itself runs in the simulator child (``quant-terminal sim --replay-archive …``); this
controller writes its control lines to the child's stdin and reads the clock lines it prints
(``QT-REPLAY CLOCK <now> <speed> <state> <start> <end>``), which the status bar and the transport
bar show. While a replay runs the session trades only on it (``OrderService.replay_only``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from terminal.services.signal import Signal

CLOCK_PREFIX = "QT-REPLAY CLOCK"
SPEEDS = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)


@dataclass(frozen=True)
class ReplayRequest:
    archive: str
    start: datetime | None = None  # None: the start of the recording
    speed: float = 1.0
    symbols: tuple[str, ...] = ()  # () = every recorded symbol
    paused: bool = False  # wait for Play instead of starting with the first subscription

    def simulator_args(self) -> list[str]:
        args = ["--replay-archive", self.archive, "--speed", f"{self.speed:g}"]
        if self.start is not None:
            args += ["--from", self.start.isoformat()]
        if self.symbols:
            args += ["--symbols", ",".join(self.symbols)]
        if self.paused:
            args.append("--paused")
        return args


@dataclass(frozen=True)
class ReplayClockState:
    now: datetime
    speed: float
    state: str  # playing, paused, ended
    start: datetime
    end: datetime

    @property
    def progress(self) -> float:
        span = (self.end - self.start).total_seconds()
        return 1.0 if span <= 0 else min(1.0, max(0.0, (self.now - self.start).total_seconds() / span))

    @classmethod
    def parse(cls, line: str) -> ReplayClockState | None:
        if not line.startswith(CLOCK_PREFIX):
            return None
        parts = line[len(CLOCK_PREFIX):].split()
        if len(parts) != 5:
            return None
        try:
            return cls(datetime.fromisoformat(parts[0]), float(parts[1]), parts[2], datetime.fromisoformat(parts[3]),
                       datetime.fromisoformat(parts[4]))
        except ValueError:
            return None


class ControlChannel(Protocol):
    def send(self, line: str) -> None: ...


class ReplayController:
    def __init__(self, request: ReplayRequest) -> None:
        self.request = request
        self.channel: ControlChannel | None = None
        self.clock: ReplayClockState | None = None
        self._clock_at = 0.0  # monotonic time the last clock line came
        self.clock_changed: Signal[ReplayClockState] = Signal("replay.clock_changed")
        self.refused: Signal[str] = Signal("replay.refused")
        self.jumped: Signal[ReplayClockState] = Signal("replay.jumped")  # views reload what lies before the clock
        self._jump_pending = False

    def on_line(self, line: str) -> None:
        """A line from the replay simulator: its clock, or why it refused a command."""
        state = ReplayClockState.parse(line)
        if state is not None:
            self.clock = state
            self._clock_at = time.monotonic()
            self.clock_changed.emit(state)
            if self._jump_pending:
                self._jump_pending = False
                self.jumped.emit(state)
        elif line.startswith("error: "):
            self.refused.emit(line.removeprefix("error: "))

    def now(self) -> datetime | None:
        """The replay's time now: the last clock line, run on at its speed while playing (for display)."""
        clock = self.clock
        if clock is None:
            return None
        if clock.state != "playing":
            return clock.now
        moved = clock.now + timedelta(seconds=(time.monotonic() - self._clock_at) * clock.speed)
        return min(moved, clock.end)

    def _send(self, line: str) -> None:
        if self.channel is None:
            raise RuntimeError("the replay is not running")
        self.channel.send(line)

    def play(self) -> None:
        self._send("play")

    def pause(self) -> None:
        self._send("pause")

    def step(self) -> None:
        self._send("step")

    def set_speed(self, speed: float) -> None:
        self._send(f"speed {speed:g}")

    def jump(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("a replay time needs its time zone")
        self._jump_pending = True
        self._send(f"jump {when.isoformat()}")
