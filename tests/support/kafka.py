"""A private Apache Kafka broker (KRaft, one node) for tests, started with scripts/start-kafka.sh."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "start-kafka.sh"
JARS_HOME = Path(os.environ.get("QT_KAFKA_JARS", "/tmp/qt-infra/kafka"))  # where the Maven jars are kept between runs


def free_port_pair() -> int:
    """A port whose next one is free too (the controller listens on port + 1)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port < 65000:
            with socket.socket() as t:
                try:
                    t.bind(("127.0.0.1", port + 1))
                    return port
                except OSError:
                    continue
    raise RuntimeError("no two free consecutive ports")


def can_run() -> str:
    """'' if a broker can be started here, else why not."""
    missing = [tool for tool in ("java", "mvn") if shutil.which(tool) is None]
    return f"Kafka tests need {' and '.join(missing)} (Debian: openjdk-17-jdk-headless maven)" if missing else ""


class PrivateKafka:
    """``start()`` (keeps its data across restarts), ``kill()`` (SIGKILL, as a crash), ``stop()``."""

    def __init__(self, home: Path, port: int = 0) -> None:
        self.home = Path(home)
        self.port = port or free_port_pair()
        self.bootstrap = f"127.0.0.1:{self.port}"

    def _env(self, fresh: bool) -> dict[str, str]:
        self.home.mkdir(parents=True, exist_ok=True)
        lib = JARS_HOME / "lib-4.1.1"
        if lib.is_dir() and not (self.home / "lib-4.1.1").exists():
            (self.home / "lib-4.1.1").symlink_to(lib)  # the jars once per machine, not once per broker
        return {**os.environ, "KAFKA_HOME": str(self.home), "KAFKA_PORT": str(self.port), "KAFKA_HEAP": "384m",
                "KAFKA_FRESH": "1" if fresh else "0"}

    def start(self, fresh: bool = False) -> str:
        result = subprocess.run(["bash", str(SCRIPT)], env=self._env(fresh), capture_output=True, text=True,
                                timeout=300)
        if result.returncode != 0:
            raise RuntimeError(f"Kafka did not start: {result.stderr[-2000:]}")
        return self.bootstrap

    def pid(self) -> int:
        try:
            return int((self.home / "kafka.pid").read_text())
        except (OSError, ValueError):
            return 0

    def _signal(self, sig: int, timeout: float = 30.0) -> None:
        pid = self.pid()
        if not pid:
            return
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        self._signal(signal.SIGTERM)
