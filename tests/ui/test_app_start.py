"""The app as a user starts it: its own process, window, built-in simulator, and a clean exit on close."""

import os
import subprocess
import sys

import pytest

from terminal.ui.main import WINDOW_SHOWN

pytestmark = pytest.mark.gui


@pytest.mark.timeout(120)
def test_the_app_opens_its_window_and_exits_cleanly_when_it_closes(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "QT_NO_KEYRING": "1"}
    done = subprocess.run([sys.executable, "-m", "terminal", "--data-dir", str(tmp_path), "--exit-after", "1"],
                          capture_output=True, text=True, env=env, timeout=110)
    assert done.stdout.splitlines().count(WINDOW_SHOWN) == 1
    assert done.returncode == 0, done.stderr[-2000:]
    assert "failed" not in done.stderr and "Traceback" not in done.stderr
    assert (tmp_path / "terminal.sqlite").exists()  # the session's store, with the workspace saved on close


@pytest.mark.timeout(60)
def test_exit_after_takes_only_a_positive_number_of_seconds():
    done = subprocess.run([sys.executable, "-m", "terminal", "gui", "--exit-after", "0"],
                          capture_output=True, text=True, timeout=50)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "quant-terminal gui: --exit-after: 0 is not valid; give a number > 0 (see 'quant-terminal gui --help')"]
