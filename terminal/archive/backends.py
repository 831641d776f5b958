"""Where an archive's files live, by URL: a local path (an NFS mount is one), ``nfs://`` or ``hdfs://``.

Each backend does the few things the archive needs — whole-file writes that appear at once
(written under a ``_`` name that readers skip, then renamed over the final name, so a retry
replaces rather than duplicates), reads, listing, delete — in the filesystem's own terms:

- ``LocalBackend``: a folder; on an NFS mount this is the usual way users meet NFS. NFS gives
  close-to-open consistency and atomic rename within a directory, which is all this relies on
  (no locks: SQLite must never live there, see ``netfs``). Files are fsynced before the rename.
- ``NfsBackend``: ``nfs://HOST/EXPORT/PATH`` through the user-space client libnfs (PyPI
  ``libnfs``, built against Debian's ``libnfs-dev``), for machines that cannot mount NFS. The
  export is the longest one the server lists that the path starts with. NFSv3.
- ``HdfsBackend``: ``hdfs://NAMENODE:RPC_PORT/PATH`` through hdfs-native (Rust, HDFS's native
  RPC, no JVM). pyarrow's own HadoopFileSystem needs libhdfs.so, which no package registry ships.
"""

from __future__ import annotations

import errno
import os
import posixpath
import socket
import stat
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

CONNECT_TIMEOUT = 5.0


class ArchiveError(RuntimeError):
    """The archive cannot be reached or used; the message says which URL and why."""


@dataclass(frozen=True)
class FileEntry:
    path: str  # relative to the archive root, '/'-separated
    size: int


class Backend(Protocol):
    """Files under one root; every ``path`` is relative to it, '/'-separated."""

    url: str

    def write(self, path: str, data: bytes) -> None: ...
    def read(self, path: str) -> bytes: ...
    def read_tail(self, path: str, length: int) -> bytes: ...  # the last ``length`` bytes (all, if shorter)
    def files(self, prefix: str = "") -> Iterator[FileEntry]: ...
    def delete(self, path: str) -> None: ...
    def exists(self, path: str) -> bool: ...


def temporary_name(path: str) -> str:
    """A name beside ``path`` that readers skip (pyarrow, Spark and DuckDB globs ignore ``_`` and ``.``)."""
    folder, name = posixpath.split(path)
    return posixpath.join(folder, f"_tmp-{uuid.uuid4().hex[:12]}-{name}")


def hidden(path: str) -> bool:
    return any(part.startswith(("_", ".")) for part in path.split("/"))


class LocalBackend:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = str(root)

    def _full(self, path: str) -> Path:
        return self.root / path

    def write(self, path: str, data: bytes) -> None:
        final = self._full(path)
        final.parent.mkdir(parents=True, exist_ok=True)
        temporary = self._full(temporary_name(path))
        try:
            with open(temporary, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, final)  # atomic within a directory, on NFS too
        finally:
            temporary.unlink(missing_ok=True)

    def read(self, path: str) -> bytes:
        return self._full(path).read_bytes()

    def read_tail(self, path: str, length: int) -> bytes:
        with open(self._full(path), "rb") as file:
            size = file.seek(0, os.SEEK_END)
            file.seek(max(0, size - length))
            return file.read()

    def files(self, prefix: str = "") -> Iterator[FileEntry]:
        base = self._full(prefix)
        if not base.exists():
            return
        for folder, _dirs, names in os.walk(base):
            for name in names:
                full = Path(folder) / name
                relative = full.relative_to(self.root).as_posix()
                if not hidden(relative):
                    yield FileEntry(relative, full.stat().st_size)

    def delete(self, path: str) -> None:
        self._full(path).unlink(missing_ok=True)

    def exists(self, path: str) -> bool:
        return self._full(path).exists()


class HdfsBackend:
    def __init__(self, url: str) -> None:
        try:
            from hdfs_native import Client
        except ImportError:
            raise ArchiveError(f"{url}: HDFS needs the hdfs-native package (pip install hdfs-native)") from None
        parts = urlsplit(url)
        if not parts.hostname or not parts.port:
            raise ArchiveError(f"{url}: an HDFS archive URL is hdfs://NAMENODE:RPC_PORT/PATH")
        self.url = url
        self.root = parts.path.rstrip("/") or "/"
        try:  # the client retries a refused connection for minutes: ask the port first
            socket.create_connection((parts.hostname, parts.port), timeout=CONNECT_TIMEOUT).close()
        except OSError as exc:
            raise ArchiveError(f"{url}: cannot reach the HDFS NameNode at {parts.hostname}:{parts.port}: "
                               f"{exc.strerror or exc}") from None
        try:
            self._client: Any = Client(f"hdfs://{parts.hostname}:{parts.port}")
            self._client.get_file_info("/")
        except Exception as exc:
            raise ArchiveError(f"{url}: cannot reach the HDFS NameNode at {parts.hostname}:{parts.port}: "
                               f"{_first_line(exc)}") from None

    def _full(self, path: str) -> str:
        return posixpath.join(self.root, path) if path else self.root

    def write(self, path: str, data: bytes) -> None:
        final = self._full(path)
        temporary = self._full(temporary_name(path))
        self._client.mkdirs(posixpath.dirname(final), create_parent=True)
        with self._client.create(temporary) as file:
            file.write(data)
        self._client.rename(temporary, final, overwrite=True)

    def read(self, path: str) -> bytes:
        with self._client.read(self._full(path)) as file:
            return bytes(file.read())

    def read_tail(self, path: str, length: int) -> bytes:
        with self._client.read(self._full(path)) as file:
            size = int(file.size)
            return bytes(file.read_range(max(0, size - length), min(length, size)))

    def files(self, prefix: str = "") -> Iterator[FileEntry]:
        base = self._full(prefix)
        try:
            statuses = self._client.list_status(base, recursive=True)
            for status in statuses:
                if status.isdir:
                    continue
                relative = posixpath.relpath(status.path, self.root)
                if not hidden(relative):
                    yield FileEntry(relative, int(status.length))
        except FileNotFoundError:
            return

    def delete(self, path: str) -> None:
        self._client.delete(self._full(path))

    def exists(self, path: str) -> bool:
        try:
            self._client.get_file_info(self._full(path))
        except FileNotFoundError:
            return False
        return True


class NfsBackend:
    def __init__(self, url: str) -> None:
        try:
            import libnfs
        except ImportError:
            raise ArchiveError(f"{url}: nfs:// needs the libnfs package (apt-get install libnfs-dev; pip install "
                               "libnfs), or mount the share and give its path") from None
        parts = urlsplit(url)
        if not parts.hostname or not parts.path.startswith("/"):
            raise ArchiveError(f"{url}: an NFS archive URL is nfs://HOST/EXPORT/PATH")
        self.url = url
        self._api = libnfs
        self._context = None
        export = self._mount(parts.hostname, parts.path)
        self.root = "/" + parts.path[len(export):].strip("/")
        self._mkdirs(self.root)

    def __del__(self) -> None:
        context = getattr(self, "_context", None)
        if context is not None:
            self._api.nfs_destroy_context(context)

    def _error(self) -> str:
        return str(self._api.nfs_get_error(self._context) or "no reason given")

    def _check(self, code: int, what: str) -> int:
        if code < 0:
            raise ArchiveError(f"{self.url}: {what} failed: {os.strerror(-code)} ({self._error()})")
        return code

    def _mount(self, host: str, path: str) -> str:
        """Mount the export ``path`` lies in and return it: an NFSv3 server mounts an export (and, for
        some servers, a folder below one), so the longest prefix of ``path`` that mounts is the one."""
        parts = [p for p in path.split("/") if p]
        last_error = "no reason given"
        for count in range(len(parts), 0, -1):
            export = "/" + "/".join(parts[:count])
            context = self._api.nfs_init_context()
            if self._api.nfs_mount(context, host, export) == 0:
                self._context = context
                return export
            last_error = str(self._api.nfs_get_error(context) or last_error)
            self._api.nfs_destroy_context(context)
        raise ArchiveError(f"{self.url}: no export of {host} holds this path ({last_error}); give "
                           "nfs://HOST/EXPORT/FOLDER with an export the server lists (showmount -e HOST)")

    def _full(self, path: str) -> str:
        return posixpath.join(self.root, path) if path else self.root

    def _stat(self, path: str) -> Any | None:
        st = self._api.nfs_stat_64()
        return st if self._api.nfs_stat64(self._context, path, st) == 0 else None

    def _is_dir(self, path: str) -> bool:
        st = self._stat(path)
        return st is not None and stat.S_ISDIR(st.nfs_mode)

    def _mkdirs(self, folder: str) -> None:
        current = ""
        for part in [p for p in folder.split("/") if p]:
            current += "/" + part
            if not self._is_dir(current):
                code = self._api.nfs_mkdir(self._context, current)
                if code < 0 and not self._is_dir(current):  # another writer may have made it meanwhile
                    self._check(code, f"mkdir {current}")

    def _open(self, path: str, flags: int) -> Any:
        api = self._api
        handle = api.new_NFSFileHandle()
        code = api.nfs_open(self._context, path, flags, handle)
        if code == -errno.ENOENT and flags & os.O_CREAT:
            code = api.nfs_create(self._context, path, flags, 0o664, handle)
        self._check(code, f"open {path}")
        return api.NFSFileHandle_value(handle)

    def write(self, path: str, data: bytes) -> None:
        api = self._api
        final = self._full(path)
        temporary = self._full(temporary_name(path))
        self._mkdirs(posixpath.dirname(final))
        handle = self._open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        try:
            buffer = bytearray(data)  # the bindings want a bytearray
            written = self._check(api.nfs_write(self._context, handle, len(buffer), buffer), f"write {temporary}")
            if written != len(buffer):
                raise ArchiveError(f"{self.url}: write {temporary}: {written} of {len(buffer)} bytes written")
            self._check(api.nfs_fsync(self._context, handle), f"fsync {temporary}")
        except BaseException:
            api.nfs_close(self._context, handle)
            api.nfs_unlink(self._context, temporary)
            raise
        api.nfs_close(self._context, handle)
        self._check(api.nfs_rename(self._context, temporary, final), f"rename to {path}")

    def read(self, path: str) -> bytes:
        return self._read_range(path, 0, None)

    def read_tail(self, path: str, length: int) -> bytes:
        return self._read_range(path, -length, None)

    def _read_range(self, path: str, offset: int, length: int | None) -> bytes:
        """``length`` bytes from ``offset`` (negative: from the end; None: to the end)."""
        api = self._api
        full = self._full(path)
        st = self._stat(full)
        if st is None:
            raise FileNotFoundError(f"{self.url}/{path}")
        size = int(st.nfs_size)
        start = max(0, size + offset) if offset < 0 else min(offset, size)
        remaining = size - start if length is None else min(length, size - start)
        handle = self._open(full, os.O_RDONLY)
        try:
            chunks = []
            while remaining > 0:
                buffer = bytearray(min(remaining, 1 << 24))
                count = self._check(api.nfs_pread(self._context, handle, start, len(buffer), buffer), f"read {path}")
                if count == 0:
                    raise ArchiveError(f"{self.url}: read {path}: the file ended {remaining} bytes early")
                chunks.append(bytes(buffer[:count]))
                start += count
                remaining -= count
        finally:
            api.nfs_close(self._context, handle)
        return b"".join(chunks)

    def _listdir(self, folder: str) -> list[str]:
        api = self._api
        handle = api.new_NFSDirHandle()
        self._check(api.nfs_opendir(self._context, folder, handle), f"list {folder}")
        directory = api.NFSDirHandle_value(handle)
        names = []
        try:
            while (entry := api.nfs_readdir(self._context, directory)) is not None:
                if entry.name not in (".", ".."):
                    names.append(entry.name)
        finally:
            api.nfs_closedir(self._context, directory)
        return sorted(names)

    def files(self, prefix: str = "") -> Iterator[FileEntry]:
        base = self._full(prefix)
        if not self._is_dir(base):
            return
        pending = [base]
        while pending:
            folder = pending.pop()
            for name in self._listdir(folder):
                full = posixpath.join(folder, name)
                st = self._stat(full)
                if st is None:  # removed meanwhile (another writer's temporary file)
                    continue
                if stat.S_ISDIR(st.nfs_mode):
                    pending.append(full)
                    continue
                relative = posixpath.relpath(full, self.root)
                if not hidden(relative):
                    yield FileEntry(relative, int(st.nfs_size))

    def delete(self, path: str) -> None:
        code = self._api.nfs_unlink(self._context, self._full(path))
        if code != -errno.ENOENT:
            self._check(code, f"delete {path}")

    def exists(self, path: str) -> bool:
        return self._stat(self._full(path)) is not None


def open_backend(url: str, default_root: Path | None = None) -> Backend:
    """The backend for ``url``: ``hdfs://…``, ``nfs://…``, ``file://PATH`` or a plain path."""
    text = (url or "").strip()
    if not text:
        if default_root is None:
            raise ArchiveError("no archive URL given and no data folder to put one in")
        return LocalBackend(default_root)
    scheme = urlsplit(text).scheme.lower()
    if scheme == "hdfs":
        return HdfsBackend(text)
    if scheme == "nfs":
        return NfsBackend(text)
    if scheme == "file":
        return LocalBackend(Path(urlsplit(text).path))
    if scheme and len(scheme) > 1:  # a Windows drive letter is a one-letter "scheme"
        raise ArchiveError(f"archive URL {text!r}: {scheme}:// is not supported; give a path, nfs://HOST/PATH "
                           "or hdfs://NAMENODE:PORT/PATH")
    root = Path(text).expanduser()
    if root.exists() and not root.is_dir():
        raise ArchiveError(f"archive {text}: is a file, not a folder")
    return LocalBackend(root)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
