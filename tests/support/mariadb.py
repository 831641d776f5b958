"""Start a private, throw-away MariaDB server on a loopback port for the MySQL-backed store tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_server() -> str | None:
    for name in ("mariadbd", "mysqld"):
        for folder in ("/usr/sbin", "/usr/local/sbin", "/usr/bin"):
            path = Path(folder) / name
            if path.exists():
                return str(path)
        found = shutil.which(name)
        if found:
            return found
    return None


class PrivateMariaDB:
    """mariadbd with its own data dir, socket and port; no grants (loopback only, test data only)."""

    def __init__(self) -> None:
        self.server = find_server()
        self.folder = Path(tempfile.mkdtemp(prefix="qt-mariadb-"))
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"mysql+pymysql://root@127.0.0.1:{self.port}/quant_terminal_test"

    def start(self, timeout: float = 60.0) -> str:
        if self.server is None:
            raise RuntimeError("no mariadbd/mysqld binary found; install mariadb-server")
        install = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
        data = self.folder / "data"
        user = ["--user=root"] if os.geteuid() == 0 else []
        subprocess.run(
            [install, f"--datadir={data}", "--auth-root-authentication-method=normal", "--skip-test-db", *user],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        log = open(self.folder / "server.log", "wb")
        self.process = subprocess.Popen(
            [self.server, "--no-defaults", f"--datadir={data}", f"--port={self.port}", "--bind-address=127.0.0.1",
             f"--socket={self.folder / 'mysqld.sock'}", f"--pid-file={self.folder / 'mysqld.pid'}",
             "--skip-grant-tables", "--innodb-flush-log-at-trx-commit=2", "--innodb-buffer-pool-size=256M",
             "--max-allowed-packet=64M", *user],
            stdout=log, stderr=subprocess.STDOUT,
        )
        import pymysql

        deadline = time.monotonic() + timeout
        while True:
            try:
                conn = pymysql.connect(host="127.0.0.1", port=self.port, user="root")
                break
            except pymysql.err.OperationalError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    text = (self.folder / "server.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"MariaDB did not start: {text}") from None
                time.sleep(0.2)
        with conn.cursor() as cursor:
            cursor.execute("CREATE DATABASE IF NOT EXISTS quant_terminal_test CHARACTER SET utf8mb4")
        conn.close()
        return self.url

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.folder, ignore_errors=True)
