"""Smoke test of what a user installs: the desktop bundle, and the wheel installed with pipx.

    python packaging/smoke.py bundle [--bundle dist/quant-terminal] [--archive dist/quant-terminal-*.tar.gz]
    python packaging/smoke.py wheel  [--wheel dist/quant_terminal-*.whl]

bundle: --version; the window offscreen on the bundled simulator for 15 s with no error logged; a headless
backtest and a two-worker optimization (worker processes of the frozen app) on bars it fetches from its own
simulator; a strategy that raises fails in one line; the release archive's install.sh puts the entry, icons and
command in a scratch home and --uninstall takes them away.
wheel: pipx installs the wheel into a scratch PIPX_HOME (a clean environment of its own); its quant-terminal
answers --version, starts the simulator, and a backfill through the real IB client against it stores bars.
Each check prints one line; the first failure ends the run with exit code 1.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from terminal import __version__  # noqa: E402

WINDOW_SECONDS = 15


class SmokeFailure(Exception):
    pass


def check(ok: bool, what: str, detail: str = "") -> None:
    if not ok:
        raise SmokeFailure(f"{what}: {detail.strip()[-3000:]}" if detail else what)
    print(f"ok  {what}", flush=True)


def run(command: list[str], timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:  # type: ignore[no-untyped-def]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)


def gui_env(home: Path) -> dict[str, str]:
    return {**os.environ, "QT_QPA_PLATFORM": "offscreen", "QT_NO_KEYRING": "1", "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"), "XDG_DATA_HOME": str(home / ".local/share")}


def check_version(exe: str, build: str) -> None:
    done = run([exe, "--version"], timeout=60)
    lines = done.stdout.splitlines()
    check(done.returncode == 0 and lines[:1] == [f"quant-terminal {__version__}"] and f"build: {build}" in done.stdout
          and "IB client: ib_async" in done.stdout, f"--version says quant-terminal {__version__} ({build})",
          done.stdout + done.stderr)


def check_window(exe: str, scratch: Path) -> None:
    started = time.perf_counter()
    done = run([exe, "--data-dir", str(scratch / "data"), "--exit-after", str(WINDOW_SECONDS)],
               timeout=WINDOW_SECONDS + 120, env=gui_env(scratch))
    shown = "QT-WINDOW-SHOWN" in done.stdout.splitlines()
    bad = [line for line in done.stderr.splitlines() if " ERROR " in line or "Traceback" in line or "failed" in line]
    check(done.returncode == 0 and shown and not bad and "connected: 127.0.0.1:" in done.stderr,
          f"window on the bundled simulator for {WINDOW_SECONDS} s, no error logged "
          f"({time.perf_counter() - started:.1f} s in all)", "\n".join(bad) or done.stderr)


def check_backtests(exe: str, scratch: Path) -> None:
    data = ["--data-dir", str(scratch / "backtest")]
    span = ["--symbol", "AAPL", "--from", "2025-01-02", "--to", "2025-12-31"]
    done = run([exe, *data, "backtest", "sma_cross", *span, "--json"], env=gui_env(scratch))
    result = json.loads(done.stdout) if done.returncode == 0 else {}
    trades, equity = result.get("statistics", {}).get("trades", 0), result.get("equity") or []
    check(done.returncode == 0 and trades > 0 and len(equity) > 200 and not result.get("error"),
          f"headless backtest sma_cross on AAPL: {trades:g} trades, {len(equity)} equity points", done.stderr)
    done = run([exe, *data, "optimize", "sma_cross", *span, "--grid", "fast=5,10", "--grid", "slow=30,40",
                "--workers", "2", "--json"], env=gui_env(scratch))
    rows = json.loads(done.stdout).get("rows", []) if done.returncode == 0 else []
    check(done.returncode == 0 and len(rows) == 4, f"optimization in 2 worker processes: {len(rows)} of 4 runs",
          done.stdout[-1000:] + done.stderr)
    broken = scratch / "broken.py"
    broken.write_text("from terminal.backtest.api import Strategy\n\n\nclass Broken(Strategy):\n"
                      "    def next(self):\n        raise RuntimeError('boom')\n")
    done = run([exe, *data, "backtest", str(broken), *span], env=gui_env(scratch))
    lines = [line for line in done.stderr.splitlines() if "boom" in line]
    check(done.returncode != 0 and len(lines) == 1 and "Traceback" not in done.stderr,
          "a strategy that raises fails in one line: " + (lines[0] if lines else "-"), done.stderr)


def check_install(archive: Path, scratch: Path) -> None:
    home = scratch / "home"
    with tarfile.open(archive) as tar:
        tar.extractall(scratch / "unpacked", filter="tar")
    (release,) = (scratch / "unpacked").iterdir()
    env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home / ".local/share")}
    done = run(["bash", str(release / "install.sh")], env=env)
    entry = home / ".local/share/applications/quant-terminal.desktop"
    app = home / ".local/opt/quant-terminal/quant-terminal"
    icon = home / ".local/share/icons/hicolor/256x256/apps/quant-terminal.png"
    text = entry.read_text() if entry.exists() else ""
    check(done.returncode == 0 and f'Exec="{app}" gui' in text and icon.exists() and app.exists(),
          f"install.sh (per user): entry, icon and app in {home}", done.stdout + done.stderr + text)
    validate = run(["desktop-file-validate", str(entry)])
    check(validate.returncode == 0 and not validate.stdout.strip(), "the installed entry passes desktop-file-validate",
          validate.stdout + validate.stderr)
    linked = run([str(home / ".local/bin/quant-terminal"), "--version"], env=env, timeout=60)
    check(linked.returncode == 0 and linked.stdout.startswith(f"quant-terminal {__version__}"),
          "~/.local/bin/quant-terminal runs the installed app", linked.stderr)
    done = run(["bash", str(release / "install.sh"), "--uninstall"], env=env)
    left = [p for p in (entry, app, icon, home / ".local/bin/quant-terminal") if p.exists() or p.is_symlink()]
    check(done.returncode == 0 and not left, "install.sh --uninstall removes all of it", str(left) + done.stderr)


def bundle(args: argparse.Namespace) -> None:
    exe = str(Path(args.bundle) / "quant-terminal")
    archive = Path(args.archive or max(glob.glob(str(ROOT / "dist" / f"quant-terminal-{__version__}-linux-*.tar.gz"))))
    with tempfile.TemporaryDirectory(prefix="qt-smoke-") as folder:
        scratch = Path(folder)
        check_version(exe, "desktop bundle")
        check_window(exe, scratch)
        check_backtests(exe, scratch)
        check_install(archive, scratch)


def wheel(args: argparse.Namespace) -> None:
    wheel_file = Path(args.wheel or max(glob.glob(str(ROOT / "dist" / f"quant_terminal-{__version__}-*.whl"))))
    with tempfile.TemporaryDirectory(prefix="qt-smoke-") as folder:
        scratch = Path(folder)
        env = {**os.environ, "PIPX_HOME": str(scratch / "pipx"), "PIPX_BIN_DIR": str(scratch / "bin"),
               "PIPX_MAN_DIR": str(scratch / "man")}
        started = time.perf_counter()
        done = run([sys.executable, "-m", "pipx", "install", str(wheel_file)], env=env, timeout=1200)
        exe = str(scratch / "bin" / "quant-terminal")
        check(done.returncode == 0 and Path(exe).exists(),
              f"pipx install {wheel_file.name} into a clean environment ({time.perf_counter() - started:.0f} s)",
              done.stdout + done.stderr)
        check_version(exe, "Python package")
        sim = subprocess.Popen([exe, "sim", "--port", "0", "--parent-watch"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            ready = (sim.stdout.readline() if sim.stdout else "").split()
            check(ready[:2] == ["QT-SIM", "READY"], f"the installed simulator listens: {' '.join(ready)}")
            host, port = ready[2], ready[3]
            data = ["--data-dir", str(scratch / "data")]
            fill = run([exe, *data, "--ib", f"{host}:{port}:7", "backfill", "MSFT", "--bar-size", "1D",
                        "--from", "2025-06-02", "--to", "2025-06-30"], env=gui_env(scratch))
            bars = run([exe, *data, "bars", "MSFT", "--tail", "3"], env=gui_env(scratch))
            check(fill.returncode == 0 and "MSFT 1D: 20 bars stored" in bars.stdout,
                  "backfill through the IB client from the installed simulator stores MSFT's 20 June 2025 sessions (Juneteenth closed)",
                  fill.stderr + bars.stdout + bars.stderr)
        finally:
            if sim.stdin:
                sim.stdin.close()  # --parent-watch: the simulator ends when its parent's pipe closes
            sim.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    b = sub.add_parser("bundle")
    b.add_argument("--bundle", default=str(ROOT / "dist" / "quant-terminal"))
    b.add_argument("--archive")
    w = sub.add_parser("wheel")
    w.add_argument("--wheel")
    args = parser.parse_args()
    try:
        (bundle if args.what == "bundle" else wheel)(args)
    except (SmokeFailure, subprocess.TimeoutExpired, ValueError, OSError) as exc:
        print(f"FAIL {exc}", file=sys.stderr)
        return 1
    print(f"smoke {args.what}: all checks passed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
