"""``quant-terminal --version``: one version, written once, reported with the parts a bug report needs."""

import subprocess
import sys
from importlib import metadata

import pytest

import terminal
from terminal.cli import main
from terminal.versions import component_versions, version_text


def test_version_prints_the_package_version_and_its_parts(capsys):
    assert main(["--version"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"quant-terminal {terminal.__version__}"
    labels = {line.split(":")[0].strip() for line in out[1:]}
    assert {"build", "Python", "Qt for Python", "IB client", "backtrader"} <= labels
    assert any(line.strip().startswith("IB client: ib_async ") or line.strip().startswith("IB client: ib_insync ")
               for line in out)


def test_the_installed_distribution_carries_the_version_from_the_package():
    """pyproject.toml reads the version from terminal/__init__.py: the two cannot disagree."""
    assert metadata.version("quant-terminal") == terminal.__version__


def test_a_missing_component_is_reported_as_such(monkeypatch):
    from terminal import versions

    monkeypatch.setattr(versions, "COMPONENTS", (("Nothing", ("no-such-distribution-xyz",)),))
    assert component_versions() == [("Nothing", "not installed")]
    assert "Nothing: not installed" in version_text()


@pytest.mark.timeout(60)
def test_version_answers_without_importing_qt_or_the_ib_client():
    code = ("import sys; from terminal.cli import main; main(['--version']); "
            "print(sorted(m for m in ('PySide6', 'ib_async', 'backtrader', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
