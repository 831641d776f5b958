"""The terminal's last line of defence: an exception nobody caught (in a Qt slot or an asyncio task) becomes
one line in the Log dock and the status bar, and the terminal keeps running; the traceback goes to the
log only at DEBUG level."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from types import TracebackType
from typing import Any

log = logging.getLogger("terminal")


def install(session, show: Callable[[str], None], loop: asyncio.AbstractEventLoop) -> Callable[..., None]:  # type: ignore[no-untyped-def]
    """Route uncaught exceptions to the session log and ``show`` (the status bar). Returns the hook."""

    def report(where: str, error: BaseException) -> None:
        message = f"{where}: {type(error).__name__}: {error}"
        log.debug("%s", message, exc_info=error)
        try:
            session.log.error("app", message)
            show(message)
        except Exception:  # noqa: BLE001 - reporting must never raise in its turn (the window may be closing)
            log.warning("%s", message)

    def hook(kind: type[BaseException], error: BaseException, _tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt | SystemExit):
            sys.__excepthook__(kind, error, _tb)
            return
        report("unexpected error (the terminal keeps running; please report it)", error)

    def loop_handler(_loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = context.get("exception")
        if error is None:
            log.debug("%s", context.get("message", "asyncio reported a problem"))
            return
        report("a background task failed", error)

    sys.excepthook = hook
    loop.set_exception_handler(loop_handler)
    return hook
