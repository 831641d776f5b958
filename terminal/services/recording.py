"""Recording market data into the archive: the broker's ticks, depth and live bars of chosen instruments.

The service subscribes what it records through the broker (a subscription the watchlist or the
chart already holds is shared, not doubled), asks the broker for every tick (``record_ticks``),
and hands each event to a ``Recorder``, which numbers and batches them off the loop. A lost
connection writes a gap marker at once and another when the broker is back, so a reader knows
what was never received; the subscriptions come back with the reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

from terminal.archive import Archive
from terminal.archive.recorder import Recorder, RecorderStats
from terminal.broker import events as ev
from terminal.broker.base import Broker
from terminal.domain import Instrument

FLUSH_CHECK_SECONDS = 1.0


@dataclass(frozen=True)
class RecordingRequest:
    instruments: tuple[Instrument, ...]
    depth: bool = False
    bars: bool = True
    depth_levels: int = 10


class RecordingService:
    """One recording at a time: ``start`` a request, ``stop`` to flush everything into the archive."""

    def __init__(self, broker: Broker, archive: Archive, provenance: str, spool_dir: Path,
                 batch_rows: int = 500_000, batch_seconds: float = 300.0) -> None:
        self.broker = broker
        self.archive = archive
        self.provenance = provenance
        self.spool_dir = spool_dir
        self.batch_rows = batch_rows
        self.batch_seconds = batch_seconds
        self.recorder: Recorder | None = None
        self.request: RecordingRequest | None = None
        self._keys: set[str] = set()
        self._depth_keys: set[str] = set()
        self._bar_keys: set[str] = set()
        self._in_gap = False
        self._timer: asyncio.Task[None] | None = None
        self.ticks_seen = 0  # TickEvent ticks handed to the recorder (what the client saw)

    @property
    def recording(self) -> bool:
        return self.recorder is not None

    async def start(self, request: RecordingRequest, recording: str | None = None) -> Recorder:
        if self.recorder is not None:
            raise RuntimeError("a recording is already running; stop it first")
        self.recorder = Recorder(self.archive, self.provenance, self.spool_dir, recording,
                                 batch_rows=self.batch_rows, batch_seconds=self.batch_seconds)
        self.request = request
        self._keys = {i.key for i in request.instruments}
        self._depth_keys = self._keys if request.depth else set()
        self._bar_keys = self._keys if request.bars else set()
        self.broker.record_ticks = True
        self.broker.events.subscribe(self._on_event)
        for instrument in request.instruments:
            await self.broker.subscribe_quotes(instrument)
            if request.depth:
                await self.broker.subscribe_depth(instrument, request.depth_levels)
            if request.bars:
                await self.broker.subscribe_bars(instrument)
        self._timer = asyncio.ensure_future(self._flush_timer())
        return self.recorder

    async def stop(self) -> RecorderStats:
        """Stop taking rows and wait (off the loop) until the archive, or the spool, holds them all."""
        recorder = self.recorder
        if recorder is None:
            return RecorderStats()
        self.broker.events.unsubscribe(self._on_event)
        self.broker.record_ticks = False
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
        self.recorder = None
        return await asyncio.to_thread(recorder.close)

    async def _flush_timer(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_CHECK_SECONDS)
            if self.recorder is not None:
                self.recorder.flush_if_due()

    def _on_event(self, event: ev.BrokerEvent) -> None:
        recorder = self.recorder
        if recorder is None:
            return
        if isinstance(event, ev.TickEvent):
            if event.instrument.key in self._keys:
                self.ticks_seen += len(event.ticks)
                recorder.ticks(event.instrument, event.ticks)
        elif isinstance(event, ev.DepthEvent):
            if event.instrument.key in self._depth_keys:
                recorder.depth(event.instrument, time.time(), event.bids, event.asks)
        elif isinstance(event, ev.BarEvent):
            if event.instrument.key in self._bar_keys:
                recorder.bar(event.instrument, event.bar, 5)
        elif isinstance(event, ev.ConnectionEvent):
            if event.state in (ev.ConnectionState.DISCONNECTED, ev.ConnectionState.RECONNECTING):
                if not self._in_gap:
                    self._in_gap = True
                    recorder.gap(start=True)
            elif event.state is ev.ConnectionState.CONNECTED and self._in_gap:
                self._in_gap = False
                recorder.gap(start=False)
