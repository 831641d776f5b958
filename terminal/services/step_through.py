"""Step through a backtest bar by bar: play/pause/step/speed, jump to a date or to the next trade, and break on
a signal (the strategy sends an order), a fill, or a rule. It speaks the market replay's controller interface
(``clock``, ``now``, ``play``, ``pause``, ``step``, ``set_speed``, ``jump``, ``clock_changed``, ``refused``), so
the replay's transport bar drives it; speed is in bars per second."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from terminal.backtest.step_trace import BarState, StepTrace, parse_rule
from terminal.services.replay import ReplayClockState
from terminal.services.signal import Signal


@dataclass
class _Speed:
    speed: float = 5.0  # bars per second


class StepThroughController:
    badge = " STEP-THROUGH "
    display_zone = UTC  # bar times as the run's bars are stored (a daily bar is its UTC day)

    def __init__(self, trace: StepTrace, title: str = "") -> None:
        self.trace = trace
        self.title = title
        self.request = _Speed()
        self.index = 0
        self.playing = False
        self.break_on_signal = False
        self.break_on_fill = False
        self.rule: Callable[[BarState], bool] | None = None
        self.rule_text = ""
        self.stopped_by = ""  # why the last play paused, shown beside the controls
        self.clock_changed: Signal[ReplayClockState] = Signal("step.clock_changed")
        self.refused: Signal[str] = Signal("step.refused")
        self.bar_changed: Signal[BarState] = Signal("step.bar_changed")
        self._task: asyncio.Task | None = None
        self.worker: asyncio.Future | None = None  # the worker still running the trace, while it streams

    # what the transport bar reads ------------------------------------------------------------
    @property
    def clock(self) -> ReplayClockState:
        times = self.trace.times
        ended = self.index >= len(self.trace) - 1
        state = "ended" if ended and not self.playing else "playing" if self.playing else "paused"
        return ReplayClockState(times[self.index].to_pydatetime(), self.request.speed, state,
                                times[0].to_pydatetime(), times[-1].to_pydatetime())

    def now(self) -> datetime:
        return self.trace.times[self.index].to_pydatetime()

    @property
    def state(self) -> BarState:
        return self.trace.state(self.index)

    # controls -------------------------------------------------------------------------------------
    def set_rule(self, text: str) -> None:
        """Break when the rule holds ('' for none); a rule not understood is refused with what would be valid."""
        text = text.strip()
        self.rule = parse_rule(text) if text else None
        self.rule_text = text

    @property
    def last(self) -> int:
        """The last bar that can be shown: the last one the worker has run (all of them once it is done)."""
        return max(0, self.trace.available - 1)

    def extended(self) -> None:
        """The worker sent more of the run (a streaming trace grew): the transport bar's clock moves on."""
        self._changed()

    def play(self) -> None:
        if self.index >= len(self.trace) - 1:
            self.refused.emit("step-through: at the last bar; jump back to play again")
            return
        self.playing = True
        self.stopped_by = ""
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())
        self._changed()

    def pause(self, why: str = "") -> None:
        self.playing = False
        self.stopped_by = why
        self._changed()

    def step(self) -> None:
        """One bar forward, then paused."""
        self.playing = False
        self._go(self.index + 1)

    def set_speed(self, speed: float) -> None:
        self.request.speed = max(0.1, float(speed))
        self._changed()

    def jump(self, when: datetime) -> None:
        self.seek(self.trace.bar_at(when))

    def seek(self, index: int) -> None:
        self._go(index)

    def next_trade(self) -> bool:
        """Jump to the next bar with a fill; False (and a message) when there is none."""
        bar = self.trace.next_fill(self.index)
        if bar is None:
            self.refused.emit("step-through: no trade after this bar" if self.trace.complete else
                              "step-through: no trade yet in the bars the worker has run; play on")
            return False
        self.playing = False
        self._go(bar)
        return True

    def close(self) -> None:
        self.playing = False
        if self._task is not None:
            self._task.cancel()
        if self.worker is not None and not self.worker.done():
            self.worker.cancel()  # nobody plays what it still sends

    # the clock ---------------------------------------------------------------------------------------
    async def _run(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            while self.playing:
                await asyncio.sleep(1.0 / self.request.speed)
                if not self.playing:
                    break
                if self.index >= self.last and not self.trace.complete:
                    continue  # ahead of the worker: wait for its next bars, still playing
                self._go(self.index + 1)
                why = self._break_reason(self.state)
                if why:
                    self.pause(why)
                elif self.index >= len(self.trace) - 1:
                    self.pause("end of the run")

    def _break_reason(self, state: BarState) -> str:
        if self.break_on_fill and state.fills:
            return f"break: fill at {state.time:%Y-%m-%d %H:%M}"
        if self.break_on_signal and state.orders:
            return f"break: the strategy sent an order at {state.time:%Y-%m-%d %H:%M}"
        if self.rule is not None and self.rule(state):
            return f"break: {self.rule_text} at {state.time:%Y-%m-%d %H:%M}"
        return ""

    def _go(self, index: int) -> None:
        self.index = max(0, min(index, self.last))
        self.bar_changed.emit(self.state)
        self._changed()

    def _changed(self) -> None:
        self.clock_changed.emit(self.clock)
