"""The spool's ledger of source positions: how far into each stream the recorder took rows from (a Kafka
partition, say) those rows are safely on disk, so that a restarted recorder neither loses nor repeats any.

A position is "the next record to take" (for Kafka, the offset after the last one recorded); a stream is a
name the source chooses (``kafka:GROUP:TOPIC#TOPIC_ID:PARTITION``). The recorder writes the positions a spool
file's rows reach into that file (Arrow schema metadata ``qt.positions``) and, once every spool file of a
batch is on disk, merges the batch's positions into ``positions.json`` beside them, before the batch goes
on to the archive. What is safe is the highest of the two for each stream: a spool file whose batch never
reached the ledger (the process was killed in between) still counts, and a spool file that the recovery of
a later recorder writes to the archive has its positions merged into the ledger before it is removed.
Several recorders may share one spool folder: the ledger is read, merged and replaced under a file lock.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc

log = logging.getLogger(__name__)

LEDGER = "positions.json"
META_POSITIONS = b"qt.positions"


def encode(positions: Mapping[str, int]) -> bytes:
    return json.dumps(dict(sorted(positions.items())), separators=(",", ":")).encode()


def decode(raw: bytes | str | None) -> dict[str, int]:
    """The positions in a ledger or a spool file's metadata; what cannot be read counts as nothing."""
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): int(v) for k, v in data.items() if isinstance(v, int) and not isinstance(v, bool)}


def merge(into: dict[str, int], other: Mapping[str, int]) -> dict[str, int]:
    """``into`` with each stream at the further of its two positions."""
    for stream, position in other.items():
        if position > into.get(stream, -1):
            into[stream] = position
    return into


def spooled(spool: Path) -> dict[str, int]:
    """The positions a spool file's rows reach (empty for a file of a source without positions)."""
    try:
        with ipc.open_file(pa.memory_map(str(spool))) as reader:
            return decode((reader.schema.metadata or {}).get(META_POSITIONS))
    except (OSError, pa.ArrowInvalid):
        return {}


def safe(spool_dir: Path) -> dict[str, int]:
    """Every stream's position up to which the rows are in the spool folder or the archive.

    The spool files are read before the ledger: one that a recovery writes to the archive and removes
    meanwhile has had its positions merged into the ledger first."""
    positions: dict[str, int] = {}
    for spool in sorted(spool_dir.glob("*.arrow")):
        if not spool.name.startswith("_"):
            merge(positions, spooled(spool))
    return merge(positions, _read(spool_dir))


def record(spool_dir: Path, positions: Mapping[str, int]) -> None:
    """Merge ``positions`` into the ledger, on disk (fsynced) when this returns."""
    if not positions:
        return
    with _locked(spool_dir):
        ledger = merge(_read(spool_dir), positions)
        temporary = spool_dir / f"_{LEDGER}.{os.getpid()}"
        with open(temporary, "wb") as file:
            file.write(encode(ledger))
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, spool_dir / LEDGER)
        _sync_folder(spool_dir)


def _read(spool_dir: Path) -> dict[str, int]:
    try:
        return decode((spool_dir / LEDGER).read_bytes())
    except FileNotFoundError:
        return {}


@contextlib.contextmanager
def _locked(spool_dir: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # Windows: one recorder per spool folder there
        yield
        return
    with open(spool_dir / f".{LEDGER}.lock", "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _sync_folder(folder: Path) -> None:
    """The renames in ``folder`` (spool files, the ledger) on disk too, not only in the page cache."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:  # no directory handles (Windows): the rename is as durable as the OS makes it
        return
    try:
        os.fsync(descriptor)
    except OSError as exc:
        log.debug("cannot fsync the folder %s: %s", folder, exc)
    finally:
        os.close(descriptor)
