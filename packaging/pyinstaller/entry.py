"""The bundle's executable: ``quant-terminal`` with every sub-command, as the wheel's console script.

``freeze_support`` first: backtest and optimization workers are ``multiprocessing`` children, and in a
frozen app a child starts by running this same executable, which must become the worker, not a new app."""

import multiprocessing

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from terminal.cli import main

    raise SystemExit(main())
