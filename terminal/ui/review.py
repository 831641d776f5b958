"""Wiring of the review docks to the chart: a journal round trip or a step-through of a saved run."""

from __future__ import annotations

from typing import Any

from terminal.backtest.step_trace import StepTrace
from terminal.services.step_through import StepThroughController


async def start_step_through(window: Any, run: dict) -> StepThroughController:
    """Run ``run`` again in a worker with a trace, then play it on the window's chart from its first bar,
    paused, the transport bar showing; any step-through before it ends."""
    session = window.session
    window.statusBar().showMessage(f"step-through: running {run.get('strategy_name')} again in a worker…")
    replayed, frames, warning = await session.backtests.step_through(run)
    trace = StepTrace.from_run(replayed, frames)
    found = await session.workspace.find_symbol(trace.symbol)
    instrument = found[0] if found else None
    title = (f"#{run.get('run_id')} {run.get('strategy_name')} {run.get('params', {})} on {trace.symbol}: "
             f"{len(trace)} bars, {len(trace.trades)} trades")
    controller = StepThroughController(trace, title)
    window.chart.instrument = None  # the chart now plays a backtest, not the live feed
    window.step_panel.attach(controller, window.chart.chart, instrument)
    window.replay_bar.attach(controller)
    window.docks["Step-through"].raise_()
    window.statusBar().showMessage(warning or f"step-through ready: {title}", 10000)
    if warning:
        window.step_panel.message.setText(warning)
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
