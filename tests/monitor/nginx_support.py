"""A real nginx for tests: found on the machine, started from a private prefix, stopped at the end.

Locally the nginx tests skip when nginx is not installed; in CI (``CI`` set) they fail
instead, because CI must install it (Debian: ``nginx-light apache2-utils``).
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

IN_CI = bool(os.environ.get("CI"))
START_TIMEOUT = 10.0


def nginx_binary() -> str | None:
    """The nginx executable: on PATH, else Debian's /usr/sbin/nginx (not on a normal user's PATH)."""
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None


def write_htpasswd(path: Path, user: str, password: str) -> Path:
    """An htpasswd file with one apr1 (MD5) user: bcrypt would cost nginx a bcrypt check per request."""
    tool = shutil.which("htpasswd")
    if tool:
        subprocess.run([tool, "-bcm", str(path), user, password], check=True, capture_output=True)
        return path
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("writing an htpasswd file needs htpasswd (apache2-utils) or openssl; neither is on PATH")
    hashed = subprocess.run([openssl, "passwd", "-apr1", "-stdin"], input=password, check=True,
                            capture_output=True, text=True).stdout.strip()
    path.write_text(f"{user}:{hashed}\n")
    return path


def self_signed_certificate(folder: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """(certificate, key) PEM files for ``host`` (an IP address), valid for a day."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", f"/CN={host}", "-addext", f"subjectAltName=IP:{host}",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


@dataclass
class RunningNginx:
    """One nginx master in the foreground; ``stop`` ends it and its workers."""

    prefix: Path
    port: int
    process: subprocess.Popen[bytes]
    tls: bool = False

    @property
    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    @property
    def startup_log(self) -> str:
        path = self.prefix / "startup.log"
        return path.read_text(errors="replace") if path.exists() else ""

    @property
    def access_log(self) -> str:
        path = self.prefix / "access.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # SIGTERM: fast shutdown of master and workers
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def start_nginx(prefix: Path, conf_text: str, port: int | None = None, binary: str | None = None) -> RunningNginx:
    """Write ``conf_text`` to ``prefix/nginx.conf``, run nginx on it and wait until its port accepts connections.

    ``port`` defaults to the one in the config's ``listen`` line. Raises ``RuntimeError`` with
    nginx's error log when it exits or does not listen within ``START_TIMEOUT`` seconds.
    """
    binary = binary or nginx_binary()
    if binary is None:
        raise RuntimeError("nginx is not installed (Debian: apt-get install nginx-light)")
    if port is None:
        match = re.search(r"^\s*listen\s+\S*:(\d+)", conf_text, re.MULTILINE)
        if match is None:
            raise ValueError("the nginx config has no 'listen HOST:PORT' line; pass port=")
        port = int(match.group(1))
    prefix.mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(conf_text)
    conf.chmod(0o600)
    process = subprocess.Popen(
        # -e: errors before the config is read; not error.log itself, or every later line is written twice
        [binary, "-e", str(prefix / "startup.log"), "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    running = RunningNginx(prefix, port, process, tls=" ssl;" in conf_text)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise RuntimeError(f"nginx exited with {process.returncode}: {stderr}{running.startup_log}"
                               f"{running.error_log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return running
        except OSError:
            time.sleep(0.05)
    running.stop()
    raise RuntimeError(f"nginx did not listen on 127.0.0.1:{port} within {START_TIMEOUT:g} s: {running.error_log}")


def require_nginx() -> str:
    """The nginx binary, or skip the test (fail it in CI, which must install nginx)."""
    binary = nginx_binary()
    if binary is None:
        if IN_CI:
            pytest.fail("CI must provide nginx: install nginx-light (and apache2-utils for htpasswd)")
        pytest.skip("the nginx tests need nginx installed (Debian: apt-get install nginx-light apache2-utils)")
    return binary


@pytest.fixture(name="nginx")  # imported by test modules as nginx_fixture; tests ask for "nginx"
def nginx_fixture(tmp_path: Path) -> Iterator[Callable[..., RunningNginx]]:
    """Factory ``nginx(conf_text, port=None, name="nginx")`` of nginx processes, all stopped after the test."""
    binary = require_nginx()
    started: list[RunningNginx] = []

    def start(conf_text: str, port: int | None = None, name: str = "nginx") -> RunningNginx:
        running = start_nginx(tmp_path / name, conf_text, port, binary)
        started.append(running)
        return running

    try:
        yield start
    finally:
        for running in started:
            running.stop()
            if running.process.stderr is not None:
                running.process.stderr.close()


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def request(port: int, method: str = "GET", path: str = "/", headers: dict[str, str] | None = None,
            body: bytes | None = None, tls: ssl.SSLContext | None = None, timeout: float = 5.0) -> Answer:
    """One HTTP request on a new connection to 127.0.0.1:``port`` (HTTPS with ``tls``)."""
    connection: http.client.HTTPConnection
    if tls is not None:
        connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=tls)
    else:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()
