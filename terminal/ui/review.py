"""Wiring of the review docks to the chart: a journal round trip or a step-through of a saved run."""

from __future__ import annotations

import asyncio
from typing import Any

from terminal.backtest.step_trace import StepTrace
from terminal.services.step_through import StepThroughController


async def start_step_through(window: Any, run: dict) -> StepThroughController:
    """Run ``run`` again in a worker with a trace and play it on the window's chart from its first bar, paused,
    the transport bar showing; any step-through before it ends. The worker streams the trace: the step-through
    opens with its first bars and grows as the worker runs (play waits at the edge of what it has run)."""
    session = window.session
    window.statusBar().showMessage(f"step-through: running {run.get('strategy_name')} again in a worker…")
    prepared = await session.backtests.step_through_request(run)
    trace = StepTrace.streaming(prepared[1], prepared[0].cash)
    found = await session.workspace.find_symbol(trace.symbol)
    instrument = found[0] if found else None
    title = (f"#{run.get('run_id')} {run.get('strategy_name')} {run.get('params', {})} on {trace.symbol}: "
             f"{len(trace)} bars, {len(run.get('trades', []))} trades")
    controller = StepThroughController(trace, title)
    first_bars = asyncio.Event()

    def chunk(payload: dict) -> None:
        trace.extend(payload)
        if trace.available:
            first_bars.set()
        controller.extended()

    worker = asyncio.ensure_future(session.backtests.step_through(run, chunk, prepared))
    waiting = asyncio.ensure_future(first_bars.wait())
    await asyncio.wait([worker, waiting], return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    if worker.done() and not trace.available:
        worker.result()  # the worker failed before its first bar: its error, said where Step through was pressed
    window.chart.instrument = None  # the chart now plays a backtest, not the live feed
    window.step_panel.attach(controller, window.chart.chart, instrument)
    window.replay_bar.attach(controller)
    window.docks["Step-through"].raise_()
    window.statusBar().showMessage(f"step-through: {title} (the worker is still running)", 10000)

    def done(task: asyncio.Task) -> None:
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            window.step_panel.message.setText(str(error))
            return
        replayed, _frames, warning = task.result()
        warning = "; ".join(w for w in (warning, trace.finish(replayed)) if w)
        controller.extended()
        window.statusBar().showMessage(warning or f"step-through ready: {title}", 10000)
        if warning:
            window.step_panel.message.setText(warning)

    worker.add_done_callback(done)
    controller.worker = worker
    return controller


def end_step_through(window: Any, back_to_live: bool = False) -> None:
    """Stop a step-through: the transport bar goes back to the market replay (hidden when none runs); with
    ``back_to_live`` the chart shows the current symbol's feed again (End, or a symbol picked)."""
    panel = getattr(window, "step_panel", None)  # None while the window is being built
    if panel is None or panel.controller is None:
        return
    stepping = panel.controller
    panel.attach(None)
    bar = getattr(window, "replay_bar", None)
    if bar is not None and bar.controller is stepping:
        bar.attach(window.session.replay)
    if back_to_live and window.current is not None:
        window.show_instrument(window.current)


async def replay_trade(window: Any, trip: Any) -> None:
    """A journal trade in the market replay: the recording of its symbol from 2 minutes before its entry, paused,
    after the trader's yes (the terminal leaves its connection for the replay, as File → Replay… does)."""
    from terminal.services.confirmation import ConfirmationRequired
    from terminal.ui.panels.common import spawn

    session = window.session
    request = await session.journal.replay_request(trip, session.settings.resolved_archive)
    question = ConfirmationRequired(
        "Replay the trade?",
        f"Replay {trip.symbol} from {request.start:%Y-%m-%d %H:%M:%S} UTC, 2 minutes before this {trip.side} "
        f"trade's entry ({trip.entry_price:,.2f}), paused?\n\nThe terminal leaves its current connection for the "
        "replay: working orders stay with it, and no order reaches it until the replay ends.")

    async def start() -> None:
        await session.start_replay(request)
        window.docks["Journal"].raise_()

    window.entry.ask(question, lambda: spawn(start(), window._show_error))
