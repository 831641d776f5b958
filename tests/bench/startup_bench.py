"""Start-up benchmark: from launching ``quant-terminal`` to its window on screen, desktop bundle vs venv.

Each variant is a fresh process started the way a user starts it, timed from ``Popen`` to the line
``QT-WINDOW-SHOWN`` that the app prints once its window has painted (``--exit-after``: it then closes).
That includes the built-in simulator's child process, the store, the session's connection and the
watchlist's first quotes request, as in every start.

- baseline: a bare PySide6 QMainWindow from the venv's Python (the floor any Qt app of ours pays);
- venv: ``.venv/bin/quant-terminal`` (the editable install the developers run);
- bundle: ``dist/quant-terminal/quant-terminal`` (``make package``), skipped, saying so, when it is not built.

The first launch of each (caches cold after a build) is shown apart; then ``--runs`` launches of each, in
turn, give the median and the best. Target: ≤ 2 s to the window on this machine.

Run: python tests/bench/startup_bench.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHOWN = "QT-WINDOW-SHOWN"
BARE = ("import sys, time\n"
        "from PySide6.QtWidgets import QApplication, QMainWindow, QLabel\n"
        "from PySide6.QtCore import QTimer\n"
        "app = QApplication(sys.argv)\n"
        "w = QMainWindow(); w.setCentralWidget(QLabel('bare')); w.resize(1280, 800); w.show()\n"
        f"QTimer.singleShot(0, lambda: (print('{SHOWN}', flush=True), app.quit()))\n"
        "app.exec()\n")


def launch(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    assert process.stdout is not None
    seconds = None
    for line in process.stdout:
        if line.strip() == SHOWN:
            seconds = time.perf_counter() - started
            break
    process.stdout.close()
    code = process.wait(timeout=120)
    if seconds is None or code != 0:
        raise SystemExit(f"startup_bench: {command[0]} ended with exit code {code} before its window showed")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--bundle", type=Path, default=ROOT / "dist" / "quant-terminal" / "quant-terminal")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="qt-startup-") as folder:
        env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen"),
               "QT_NO_KEYRING": "1", "XDG_CONFIG_HOME": str(Path(folder) / "config")}
        app_args = ["--exit-after", "0.1", "--sim-seed", "3"]
        variants = {"baseline (bare Qt window)": [sys.executable, "-c", BARE],
                    "venv": [str(ROOT / ".venv" / "bin" / "quant-terminal"), "--data-dir", f"{folder}/venv", *app_args]}
        if args.bundle.exists():
            variants["bundle"] = [str(args.bundle), "--data-dir", f"{folder}/bundle", *app_args]
        else:
            print(f"bundle: not built ({args.bundle}); run make package to compare it")
        first = {name: launch(command, env) for name, command in variants.items()}
        runs: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.runs):
            for name, command in variants.items():
                runs[name].append(launch(command, env))
    base = statistics.median(runs["baseline (bare Qt window)"])
    print(f"start to window shown, {args.runs} launches each after a first one (offscreen, {os.cpu_count()} cores)")
    print(f"{'':28} {'first':>7} {'median':>7} {'best':>7}  vs baseline")
    for name, times in runs.items():
        median = statistics.median(times)
        print(f"{name:28} {first[name]:6.2f}s {median:6.2f}s {min(times):6.2f}s  {median / base:5.1f}×")
    if "bundle" in runs:
        ratio = statistics.median(runs["bundle"]) / statistics.median(runs["venv"])
        print(f"bundle / venv: {ratio:.2f}× (target ≤ 2 s to the window: "
              f"{'met' if statistics.median(runs['bundle']) <= 2 else 'not met'} by the bundle)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
