"""The session's writer of trading records: write-ahead for orders, an outbox with retries for everything else.

Every order, fill, position-book and small-state write of the trading services goes
through one ``RecordWriter``, in the order it was asked for, on one thread off the
event loop. A write that fails because the database is locked, slow or briefly gone
(SQLAlchemy ``OperationalError``) stays at the head of the outbox and is retried with
exponential backoff, so it is delayed, never lost, and never overtaken by a later write
of the same order. ``write_ahead`` is the one write a caller waits for: an order is
committed before it is sent. A write the database refuses for good (not a lock or an
outage: a constraint, a bug) is tried three times, then appended as one JSON line to the
dead-letter file (``unwritten-records.jsonl`` in the data folder) with the reason, and the
log says so, so it cannot block the records behind it and is still not lost.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import OperationalError

from terminal.domain import Fill, Order
from terminal.services.log import LogService
from terminal.store import Store

log = logging.getLogger(__name__)


class RecordError(RuntimeError):
    """A record could not be written in time; the message says which and why."""


@dataclass
class _Job:
    description: str
    function: Callable[..., Any]
    args: tuple[Any, ...]
    future: asyncio.Future = field(repr=False)
    attempts: int = 0


class RecordWriter:
    """Writes trading records in order, retrying transient database errors; ``pending`` counts the outbox."""

    PERMANENT_ATTEMPTS = 3  # tries of a write that fails with anything but a transient database error

    def __init__(self, store: Store, log_service: LogService, retry_initial: float = 0.05,
                 retry_max: float = 5.0, dead_letter: Path | None = None) -> None:
        self._store = store
        self.dead_letter = dead_letter
        self._log = log_service
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self._jobs: deque[_Job] = deque()
        self._task: asyncio.Task | None = None  # runs while the outbox holds records
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="record-writer")
        self.retries = 0  # transient failures seen (for the log panel and tests)

    @property
    def pending(self) -> int:
        return len(self._jobs)

    # --- what callers ask for ---------------------------------------------------------------
    async def write_ahead(self, order: Order, timeout: float = 5.0) -> None:
        """Commit ``order`` before it is sent; RecordError if the store did not take it within ``timeout``."""
        future = self._submit(f"order {order.client_order_id}", self._store.orders.save, order)
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            raise RecordError(f"the store did not record {order.describe()} within {timeout:g} s "
                              f"({self.pending} record(s) waiting)") from None

    def save_order(self, order: Order) -> asyncio.Future:
        return self._submit(f"order {order.client_order_id} {order.status.value}", self._store.orders.save, order)

    def save_fill(self, fill: Fill, order: Order | None, book_account: str | None) -> asyncio.Future:
        """The fill, the order as it leaves it and the position book it moves: one transaction."""
        return self._submit(f"fill {fill.execution_id}", self._store.trading.apply_fill, fill, order, book_account)

    def attach_fills(self, execution_ids: list[str], order: Order) -> asyncio.Future:
        return self._submit(f"fills of {order.client_order_id}", self._store.trading.attach_fills, execution_ids, order)

    def save_value(self, key: str, value: Any) -> asyncio.Future:
        return self._submit(f"state {key}", self._store.key_values.set, key, value)

    def set_position(self, account: str, instrument_key: str, quantity: float) -> asyncio.Future:
        return self._submit(f"position book {account} {instrument_key}", self._store.position_book.set, account,
                            instrument_key, quantity)

    def replace_positions(self, account: str, quantities: dict[str, float]) -> asyncio.Future:
        return self._submit(f"position book {account}", self._store.position_book.replace_account, account,
                            quantities)

    async def flush(self, timeout: float = 10.0) -> bool:
        """Wait until the outbox is empty (True) or ``timeout`` passes (False, and the log says what is left)."""
        if not self._jobs:
            return True
        last = self._jobs[-1].future
        try:
            await asyncio.wait_for(asyncio.shield(last), timeout)
        except TimeoutError:
            self._log.error("store", f"{self.pending} trading record(s) not yet written after {timeout:g} s: "
                                     + ", ".join(job.description for job in list(self._jobs)[:5]))
            return False
        except Exception:  # the last job failed permanently; it was logged
            pass
        return not self._jobs

    async def close(self) -> None:
        """Stop the writer (after ``flush``); records still in the outbox are not written."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        self._executor.shutdown(wait=True)

    # --- the writer -------------------------------------------------------------------------
    def _submit(self, description: str, function: Callable[..., Any], *args: Any) -> asyncio.Future:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a Qt slot outside the loop's own callbacks: the session's loop is the current one
            loop = asyncio.get_event_loop_policy().get_event_loop()
        job = _Job(description, function, args, loop.create_future())
        self._jobs.append(job)
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run(loop))
        return job.future

    async def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        delay = self.retry_initial
        while self._jobs:
            job = self._jobs[0]
            job.attempts += 1
            try:
                result = await loop.run_in_executor(self._executor, job.function, *job.args)
            except Exception as exc:
                transient = isinstance(exc, OperationalError)  # locked, slow or gone: keep it at the head
                if transient or job.attempts < self.PERMANENT_ATTEMPTS:
                    self.retries += transient
                    if transient and (job.attempts == 1 or job.attempts % 10 == 0):
                        self._log.warning("store", f"{job.description} not written yet (attempt {job.attempts}, "
                                                   f"retrying in {delay:.2f} s): {_short(exc)}")
                    await asyncio.sleep(delay)
                    delay = min(self.retry_max, delay * 2)
                    continue
                self._jobs.popleft()
                delay = self.retry_initial
                log.exception("record %s failed", job.description)
                kept = await loop.run_in_executor(self._executor, self._keep_unwritten, job, exc)
                self._log.error("store", f"{job.description} could not be written to the store ({exc!r}); "
                                         + (f"kept in {kept}" if kept else "it could not be kept anywhere either"))
                if not job.future.done():
                    job.future.set_exception(exc)
                    job.future.exception()  # retrieved: callers that do not wait must not see a warning
                continue
            self._jobs.popleft()
            delay = self.retry_initial
            if job.attempts > 1:
                self._log.info("store", f"{job.description} written after {job.attempts} attempts")
            if not job.future.done():
                job.future.set_result(result)

    def _keep_unwritten(self, job: _Job, error: Exception) -> Path | None:
        """Append the record the store refused to the dead-letter file; returns its path (None if that failed too)."""
        if self.dead_letter is None:
            return None
        line = json.dumps({"time": datetime.now(UTC).isoformat(), "record": job.description,
                           "write": getattr(job.function, "__qualname__", repr(job.function)),
                           "error": repr(error), "values": [_plain(a) for a in job.args]}, default=str)
        try:
            self.dead_letter.parent.mkdir(parents=True, exist_ok=True)
            with self.dead_letter.open("a", encoding="utf-8") as file:
                file.write(line + "\n")
        except OSError:
            log.exception("cannot append to %s", self.dead_letter)
            return None
        return self.dead_letter


def _plain(value: Any) -> Any:
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) and not isinstance(value, type) else value


def _short(exc: Exception) -> str:
    orig = getattr(exc, "orig", None)
    return str(orig) if orig is not None else str(exc).splitlines()[0]
