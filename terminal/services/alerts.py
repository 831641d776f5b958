"""Price alerts: fire once when the last price crosses the level, with a log entry and a notification."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace

from terminal.domain import Instrument, Quote
from terminal.services.log import LogService
from terminal.services.signal import Signal


@dataclass(frozen=True)
class PriceAlert:
    alert_id: int
    instrument: Instrument
    price: float
    above: bool  # fire when last >= price (True) or last <= price (False)
    fired: bool = False

    def describe(self) -> str:
        arrow = "≥" if self.above else "≤"
        return f"{self.instrument.display_name} last {arrow} {self.price:.{self.instrument.price_decimals()}f}"


class AlertService:
    def __init__(self, log: LogService) -> None:
        self._log = log
        self._ids = itertools.count(1)
        self.alerts: dict[int, PriceAlert] = {}
        self.fired: Signal[PriceAlert] = Signal("alerts.fired")
        self.changed: Signal[PriceAlert] = Signal("alerts.changed")

    def add(self, instrument: Instrument, price: float, reference: float) -> PriceAlert:
        """New alert at ``price``; its direction is away from the current ``reference`` price."""
        instrument.check_price(instrument.round_to_tick(price), "alert price")
        above = not (math.isfinite(reference) and price < reference)
        alert = PriceAlert(next(self._ids), instrument, instrument.round_to_tick(price), above)
        self.alerts[alert.alert_id] = alert
        self._log.info("alerts", f"alert set: {alert.describe()}")
        self.changed.emit(alert)
        return alert

    def remove(self, alert_id: int) -> None:
        self.alerts.pop(alert_id, None)

    def on_quote(self, instrument_key: str, quote: Quote) -> None:
        last = quote.last
        if not math.isfinite(last):
            return
        for alert in list(self.alerts.values()):
            if alert.fired or alert.instrument.key != instrument_key:
                continue
            if (alert.above and last >= alert.price) or (not alert.above and last <= alert.price):
                done = replace(alert, fired=True)
                self.alerts[alert.alert_id] = done
                self._log.warning("alerts", f"ALERT {done.describe()} (last {last:g})")
                self.fired.emit(done)
                self.changed.emit(done)
