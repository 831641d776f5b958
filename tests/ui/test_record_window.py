"""Data → Record in the real window: the watchlist's symbols recorded from the session's broker into the
archive, with the REC indicator, until Data → Stop recording."""

from __future__ import annotations

import pyarrow as pa
import pytest

from terminal.archive import open_archive
from tests.ui.conftest import wait_until

pytestmark = pytest.mark.gui


def test_recording_the_watchlist_from_the_window(terminal_window, qloop, tmp_path):
    window, session = terminal_window()
    for symbol in ("AAPL", "MSFT"):
        qloop.run_until_complete(window.watchlist.add_symbol(symbol))
    archive = str(tmp_path / "archive")
    task = window.start_recording([i.display_name for i in window.watchlist.model.instruments()], depth=True,
                                  archive=archive)
    qloop.run_until_complete(task)
    assert session.recording is not None and window.stop_recording_action.isEnabled()
    wait_until(qloop, lambda: session.recording.ticks_seen > 200, message="ticks recorded")
    window._measure_lag()  # the status bar's once-a-100-ms update
    assert window.recording_label.isVisible() and window.recording_label.text().startswith("● REC")
    window.grab().save(str(tmp_path / "recording.png"))
    seen = session.recording.ticks_seen
    window.stop_recording_action.trigger()
    wait_until(qloop, lambda: session.recording is None and not window.recording_label.isVisible(),
               message="the recording to stop")
    stored = open_archive(archive)
    symbols = [i.display_name for i in window.watchlist.model.instruments()]
    assert stored.symbols("ticks") == sorted(symbols)
    ticks = pa.concat_tables([stored.read("ticks", s) for s in symbols])
    assert ticks.num_rows >= seen  # every tick seen is in the archive (more may have come before the stop)
    assert ticks["provenance"].cast(pa.string()).unique().to_pylist() == ["simulator"]
    assert stored.read("depth", "AAPL").num_rows > 0


def test_recording_nothing_or_a_bad_symbol_says_so_and_starts_nothing(terminal_window, qloop):
    window, session = terminal_window()
    errors = []
    session.log.added.connect(lambda entry: errors.append(entry.message) if entry.severity >= 40 else None)
    task = window.start_recording([])
    with pytest.raises(Exception, match="nothing to record"):
        qloop.run_until_complete(task)
    task = window.start_recording(["NOSUCHSYMBOL"])
    with pytest.raises(Exception, match="NOSUCHSYMBOL"):
        qloop.run_until_complete(task)
    assert session.recording is None and not window.stop_recording_action.isEnabled()
