"""Price alerts fire once when last crosses the level, in the direction away from where price was."""

from terminal.domain import Instrument, Quote
from terminal.services.alerts import AlertService
from terminal.services.log import LogService, Severity

AAPL = Instrument("AAPL")


def test_alert_above_fires_once_with_a_log_entry():
    log = LogService()
    alerts = AlertService(log)
    fired = []
    alerts.fired.connect(fired.append)
    alert = alerts.add(AAPL, 190.004, reference=188.0)
    assert alert.above and alert.price == 190.0
    for last in (189.5, 190.0, 191.0, 189.0, 192.0):
        alerts.on_quote(AAPL.key, Quote("AAPL", last=last))
    assert [a.alert_id for a in fired] == [alert.alert_id]
    assert any(e.severity == Severity.WARNING and "ALERT AAPL last ≥ 190.00" in e.message for e in log.entries)


def test_alert_below_the_market_waits_for_a_fall_and_ignores_other_symbols():
    alerts = AlertService(LogService())
    fired = []
    alerts.fired.connect(fired.append)
    alerts.add(AAPL, 185.0, reference=188.0)
    alerts.on_quote("MSFT:STK:SMART:USD", Quote("MSFT", last=100.0))
    alerts.on_quote(AAPL.key, Quote("AAPL", last=186.0))
    assert fired == []
    alerts.on_quote(AAPL.key, Quote("AAPL", last=184.9))
    assert len(fired) == 1 and not fired[0].above
