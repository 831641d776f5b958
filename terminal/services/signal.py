"""Typed event attributes for services (``orders.order_changed.connect(fn)``), delivered synchronously on the loop."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


class Signal(Generic[T]):
    """A list of listeners for one kind of value; a failing listener is logged, never breaks the emitter."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        self._listeners: list[Callable[[T], object]] = []

    def connect(self, listener: Callable[[T], object]) -> None:
        if listener not in self._listeners:
            self._listeners.append(listener)

    def disconnect(self, listener: Callable[[T], object]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def emit(self, value: T) -> None:
        for listener in list(self._listeners):
            try:
                listener(value)
            except Exception:  # a broken view must not stop order or market processing
                log.exception("listener %r of %s failed", listener, self.name)

    def __len__(self) -> int:
        return len(self._listeners)
