"""Entry point for ``python -m terminal``."""

from terminal.cli import main

raise SystemExit(main())
