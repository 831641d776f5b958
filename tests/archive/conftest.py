"""Archive roots for the tests: a local folder, a real NFS server (nfs-ganesha, through the user-space
client) and a real HDFS (NameNode + DataNode).

``QT_TEST_NFS_URL`` / ``QT_TEST_HDFS_URL`` name running servers (CI starts each once per run, see
.ci/run); without them the session starts its own with ``scripts/start-nfs.sh`` / ``start-hdfs.sh``
when the machine has what they need, and otherwise the NFS or HDFS cases are skipped with the
reason — except in CI, where a missing server fails the run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

IN_CI = bool(os.environ.get("CI"))
ROOT = Path(__file__).resolve().parents[2]


def _unavailable(what: str, reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI must provide {what}: {reason}")
    pytest.skip(f"{what} tests need {reason}")


def _start(script: str, env: dict[str, str], key: str, timeout: float) -> tuple[str, dict[str, str]]:
    result = subprocess.run(["bash", str(ROOT / "scripts" / script)], env={**os.environ, **env},
                            capture_output=True, text=True, timeout=timeout)
    values = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line and line[0].isupper())
    if result.returncode != 0 or key not in values:
        raise RuntimeError(f"{script} failed: {(result.stdout + result.stderr)[-600:]}")
    return values[key], values


def _kill(values: dict[str, str], *names: str) -> None:
    for name in names:
        pid = values.get(name)
        if pid:
            subprocess.run(["kill", pid], capture_output=True)


@pytest.fixture(scope="session")
def hdfs_root() -> Iterator[str]:
    url = os.environ.get("QT_TEST_HDFS_URL")
    if url:
        yield url.rstrip("/")
        return
    try:
        import hdfs_native  # noqa: F401
    except ImportError:
        _unavailable("HDFS", "the hdfs-native package (pip install -e '.[test]')")
    if not (shutil.which("java") and shutil.which("mvn") and shutil.which("curl")):
        _unavailable("HDFS", "Java 17, Maven and curl to start one (or QT_TEST_HDFS_URL)")
    home = tempfile.mkdtemp(prefix="qt-hdfs-")
    env = {"HDFS_HOME": home, "HDFS_RPC_PORT": "29000", "HDFS_HTTP_PORT": "29870", "HDFS_DATANODE_PORT": "29866",
           "HDFS_DATANODE_HTTP_PORT": "29864", "HDFS_DATANODE_IPC_PORT": "29867"}
    try:
        url, values = _start("start-hdfs.sh", env, "HDFS_URL", 300)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        _unavailable("HDFS", f"a NameNode that starts ({exc})")
    try:
        yield url + "/qt-test"
    finally:
        _kill(values, "HDFS_NAMENODE_PID", "HDFS_DATANODE_PID")


@pytest.fixture(scope="session")
def nfs_root() -> Iterator[str]:
    url = os.environ.get("QT_TEST_NFS_URL")
    if url:
        yield url.rstrip("/")
        return
    try:
        import libnfs  # noqa: F401
    except ImportError:
        _unavailable("NFS", "the libnfs package (apt-get install libnfs-dev; pip install libnfs)")
    if not (shutil.which("ganesha.nfsd") and shutil.which("rpcbind")) or os.geteuid() != 0:
        _unavailable("NFS", "nfs-ganesha, nfs-ganesha-vfs and rpcbind, run as root (or QT_TEST_NFS_URL)")
    home = tempfile.mkdtemp(prefix="qt-nfs-")
    try:
        url, values = _start("start-nfs.sh", {"NFS_HOME": home}, "NFS3_URL", 120)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        _unavailable("NFS", f"an NFS server that starts ({exc})")
    try:
        yield url
    finally:
        _kill(values, "GANESHA_PID", "RPCBIND_PID")


@pytest.fixture(params=["local", "nfs", "hdfs"])
def archive_url(request, tmp_path: Path) -> str:
    """A fresh, empty archive root on each kind of storage."""
    if request.param == "local":
        return str(tmp_path / "archive")
    root = request.getfixturevalue(f"{request.param}_root")
    return f"{root}/{uuid.uuid4().hex[:10]}"
