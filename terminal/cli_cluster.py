"""``quant-terminal cluster``: a Dask scheduler and workers on this machine, for ``optimize --cluster``.

Each worker is a process with one thread (its runs are CPU-bound Python); a nanny restarts a worker
that dies, and the scheduler reruns that worker's tasks elsewhere. Other machines join with
``quant-terminal cluster --join tcp://HOST:8786`` (they need quant-terminal installed: the tasks are
its functions). Ctrl-C (or ``--seconds``) stops what this command started.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

from terminal.cli_args import positive_float


def add_cluster_parser(commands: argparse._SubParsersAction) -> None:
    cluster = commands.add_parser("cluster", help="start a Dask scheduler and workers for optimize --cluster")
    cluster.add_argument("--host", default="127.0.0.1",
                         help="address the scheduler listens on (default 127.0.0.1; 0.0.0.0 for other machines)")
    cluster.add_argument("--port", type=int, default=8786, help="scheduler port (default 8786)")
    cluster.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                         help="worker processes on this machine (default: one per core)")
    cluster.add_argument("--join", metavar="tcp://HOST:8786",
                         help="start only workers, for the scheduler at this address")
    cluster.add_argument("--seconds", type=positive_float, help="stop after this many seconds (default: Ctrl-C)")


def _dask(module: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", f"distributed.cli.{module}", *args],
                            stdin=subprocess.DEVNULL, start_new_session=True)


def run_cluster(args: argparse.Namespace) -> int:
    if args.workers < 0 or (args.join and args.workers < 1):
        print(f"quant-terminal: --workers {args.workers} is not valid: give 1 or more (0 with no --join: "
              "a scheduler only)", file=sys.stderr)
        return 2
    if not 0 < args.port < 65536:
        print(f"quant-terminal: --port {args.port} is not valid: give 1 to 65535", file=sys.stderr)
        return 2
    try:
        import distributed  # noqa: F401 - said here in one line rather than by each child process
    except ImportError:
        print("quant-terminal: the cluster needs Dask's distributed scheduler: pip install 'quant-terminal[test]' "
              "(or pip install distributed)", file=sys.stderr)
        return 1
    children: list[subprocess.Popen] = []
    address = args.join or f"tcp://{args.host}:{args.port}"
    if not args.join:
        children.append(_dask("dask_scheduler", "--host", args.host, "--port", str(args.port),
                              "--no-dashboard"))
    if args.workers:
        children.append(_dask("dask_worker", address, "--nworkers", str(args.workers), "--nthreads", "1",
                              "--no-dashboard", "--name", f"qt-{os.uname().nodename}"))
    role = "workers for" if args.join else "scheduler at"
    print(f"quant-terminal: cluster: {role} {address}, {args.workers} worker process(es) here; "
          f"use: quant-terminal optimize … --cluster {address}; Ctrl-C stops", file=sys.stderr, flush=True)
    stop = [False]

    def finish(_signum: int, _frame: object) -> None:
        stop[0] = True

    signal.signal(signal.SIGTERM, finish)
    deadline = time.monotonic() + args.seconds if args.seconds else None
    code = 0
    try:
        while not stop[0] and (deadline is None or time.monotonic() < deadline):
            ended = next((c for c in children if c.poll() is not None), None)
            if ended is not None:
                print(f"quant-terminal: cluster: a Dask process ended (exit code {ended.returncode}); stopping",
                      file=sys.stderr)
                code = 1
                break
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    for child in reversed(children):  # workers first, then the scheduler
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGTERM)
    for child in reversed(children):
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
    return code
