"""A strategy that loops forever or kills its process at module level is opened, checked and run from the
editor while the terminal keeps streaming quotes: its code runs only in worker processes."""

from __future__ import annotations

import asyncio
import time

import pytest

from terminal.data import read_bars_csv
from terminal.domain import BarSize, Instrument
from tests.ui.conftest import open_with_symbol

pytestmark = pytest.mark.gui

HEADER = "import os\nfrom terminal.backtest.api import Strategy\n\n"
HOSTILE = {
    "spinner": HEADER + "while True:\n    pass\n\nclass Spin(Strategy):\n    params = {'n': 3}\n",
    "exiter": HEADER + "os._exit(3)\n\nclass Exit(Strategy):\n    params = {'n': 3}\n",
    "quitter": HEADER + "raise SystemExit(0)\n\nclass Quit(Strategy):\n    params = {'n': 3}\n",
}


def _measure(loop, session, instrument, coroutine):
    """Run ``coroutine`` on the terminal's loop; count quotes of ``instrument`` and the longest loop stall."""
    quotes = []
    session.market.quote_updated.connect(lambda item: quotes.append(time.monotonic())
                                         if item[0].key == instrument.key else None)
    stalls = [0.0]

    async def heartbeat():
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.02)
            now = time.monotonic()
            stalls[0] = max(stalls[0], now - last - 0.02)
            last = now

    async def both():
        beat = asyncio.ensure_future(heartbeat())
        try:
            return await coroutine
        finally:
            beat.cancel()

    started = time.monotonic()
    result = loop.run_until_complete(both())
    return result, len(quotes), time.monotonic() - started, stalls[0]


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_strategy_is_opened_checked_and_run_while_quotes_stream(terminal_window, qloop, real_csv_dir, name):
    window, session, instrument = open_with_symbol(terminal_window, qloop, "AAPL")
    session.store.bars.write_frame(Instrument("GOOG", primary_exchange="NASDAQ", contract_id=208813720),
                                   BarSize.DAY_1, read_bars_csv(real_csv_dir / "GOOG.csv"))
    session.backtests.load_time_limit = 2.0
    session.store.strategies.save(name, HOSTILE[name], {"n": 3})
    editor = window.editor
    editor.symbols.setText("GOOG")

    # opened: the source and its parameters are read, nothing of it runs
    started = time.monotonic()
    editor.strategies.setCurrentText(name)
    qloop.run_until_complete(editor.wait_opened())
    assert time.monotonic() - started < 2
    assert editor.source() == HOSTILE[name]
    assert editor.raw_param_values() == {"n": "3"}

    # checked: in a worker, stopped at the load time limit or ended by the strategy; one clear message
    ok, quotes, seconds, stall = _measure(qloop, session, instrument, editor.save())
    assert ok is False
    message = editor.messages.toPlainText()
    expected = {"spinner": "did not finish loading within 2 s", "exiter": "ended its worker process (exit code 3)",
                "quitter": "called sys.exit(0)"}[name]
    assert expected in message and "Traceback" not in message
    assert stall < 0.5, f"the terminal's loop stalled {stall:.2f} s during the check"
    if seconds > 1.5:  # quotes kept coming while the worker ran (the simulator quotes AAPL several times a second)
        assert quotes >= 2

    # run: the same, and the terminal is still there and trading data keeps flowing
    payload, quotes, seconds, stall = _measure(qloop, session, instrument, editor.run())
    assert payload is None
    assert expected.split(" (")[0] in editor.messages.toPlainText()
    assert stall < 0.5
    assert session.store.backtest_runs.count() == 0
    assert window.isVisible() and session.status.state == "CONNECTED"

    # and a good strategy runs right after
    editor.strategies.setCurrentText("sma_cross")
    qloop.run_until_complete(editor.wait_opened())
    assert qloop.run_until_complete(editor.run()) is not None


def test_an_uncaught_error_in_a_slot_or_task_is_one_line_in_the_log_and_the_terminal_goes_on(terminal_window,
                                                                                            qloop):
    import sys

    from terminal.ui import errors

    window, session = terminal_window()
    shown = []
    saved = sys.excepthook, qloop.get_exception_handler()
    try:
        hook = errors.install(session, shown.append, qloop)
        try:
            raise KeyError("no such column")
        except KeyError as exc:
            hook(type(exc), exc, exc.__traceback__)

        async def fails():
            raise RuntimeError("feed parser choked")

        task = qloop.create_task(fails())
        qloop.run_until_complete(asyncio.sleep(0.05))
        del task  # never awaited: asyncio reports it to the loop's handler when collected
        import gc

        gc.collect()
        qloop.run_until_complete(asyncio.sleep(0.05))
    finally:
        sys.excepthook = saved[0]
        qloop.set_exception_handler(saved[1])
    texts = [e.message for e in session.log.entries if e.source == "app"]
    assert any("unexpected error" in t and "KeyError: 'no such column'" in t for t in texts)
    assert any("a background task failed: RuntimeError: feed parser choked" in t for t in texts)
    assert all("\n" not in t and "Traceback" not in t for t in shown)
    assert window.isVisible()
