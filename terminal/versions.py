"""The terminal's version and those of the parts a bug report needs (Qt, the IB client, the engines).

Read from the installed distributions' metadata (``importlib.metadata``), so nothing heavy is imported:
``quant-terminal --version`` answers in the time Python starts. The version itself is written once, in
``terminal/__init__.py``; ``pyproject.toml`` reads it from there.
"""

from __future__ import annotations

import sys
from importlib import metadata

from terminal import __version__

# (label, distribution names tried in order): the first one installed is reported.
COMPONENTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Python", ()),
    ("Qt for Python", ("PySide6", "PySide6-Essentials")),
    ("IB client", ("ib_async", "ib_insync")),
    ("backtrader", ("backtrader",)),
    ("backtesting.py", ("backtesting",)),
    ("pyqtgraph", ("pyqtgraph",)),
    ("statsmodels", ("statsmodels",)),
    ("pandas", ("pandas",)),
    ("confluent-kafka", ("confluent-kafka",)),
)


def _installed(names: tuple[str, ...]) -> str:
    for name in names:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        return f"{name} {version}" if len(names) > 1 else version
    return "not installed"


def component_versions() -> list[tuple[str, str]]:
    """(label, version) of each component, Python first."""
    rows = []
    for label, names in COMPONENTS:
        rows.append((label, sys.version.split()[0] if not names else _installed(names)))
    return rows


def build_kind() -> str:
    """How this copy runs: a PyInstaller bundle, or Python with the package installed (wheel, pipx, editable)."""
    if getattr(sys, "frozen", False):
        return "desktop bundle"
    return f"Python package ({sys.executable})"


def version_text() -> str:
    """What ``quant-terminal --version`` prints: the version on the first line, then one component per line."""
    lines = [f"quant-terminal {__version__}", f"  build: {build_kind()}"]
    lines += [f"  {label}: {version}" for label, version in component_versions()]
    return "\n".join(lines)
