"""The Parquet archive: Hive-partitioned files of ticks, depth and bars, written safely by several writers.

Layout: ``<root>/kind=K/symbol=S/date=YYYY-MM-DD/<name>.parquet`` (S percent-encoded where it is
not a letter, digit, ``.``, ``-`` or ``_``: ``BRK%20B``, which pyarrow and Spark decode; the date
is the UTC date of ``time``, for daily and longer bars the 1 January of their year). A file's name is a function of what it holds — the recording and
its first sequence number, or for exported bars their size and time range — so writing the same
batch again (a retry after a timeout, a second export) replaces the file instead of adding a
duplicate. Files appear at once (``backends``: written under a ``_`` name, then renamed), and
their metadata states row count and checksum, which ``verify`` checks and ``compact`` requires
before it removes anything.
"""

from __future__ import annotations

import io
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import quote, unquote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from terminal.archive import schema as sc
from terminal.archive.backends import ArchiveError, Backend, FileEntry, open_backend

COMPRESSION = "zstd"
FOOTER_GUESS = 64 << 10  # one read holds a footer of this size (ours are a few KB)
_PARTITION = re.compile(r"^kind=(?P<kind>[^/]+)/symbol=(?P<symbol>[^/]+)/date=(?P<date>\d{4}-\d{2}-\d{2})/"
                        r"(?P<name>[^/]+\.parquet)$")


def encode_symbol(symbol: str) -> str:
    return quote(symbol, safe="")


@dataclass(frozen=True)
class ArchiveFile:
    kind: str
    symbol: str
    date: date
    name: str
    size: int

    @property
    def path(self) -> str:
        return partition_folder(self.kind, self.symbol, self.date) + "/" + self.name


@dataclass
class Partition:
    """One kind, symbol and day: its files, rows and time range (from the files' metadata)."""

    kind: str
    symbol: str
    date: date
    files: list[ArchiveFile]
    rows: int = 0
    size: int = 0
    first: datetime | None = None
    last: datetime | None = None


class FileDamaged(ArchiveError):
    """A file's rows or checksum do not match its metadata (a partial copy, a disk fault)."""


def partition_folder(kind: str, symbol: str, day: date) -> str:
    return f"kind={kind}/symbol={encode_symbol(symbol)}/date={day.isoformat()}"


def parse_path(entry: FileEntry) -> ArchiveFile | None:
    match = _PARTITION.match(entry.path)
    if match is None:
        return None
    return ArchiveFile(match["kind"], unquote(match["symbol"]), date.fromisoformat(match["date"]), match["name"],
                       entry.size)


class Archive:
    """Reads and writes one archive root (``open_archive(url)``)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    @property
    def url(self) -> str:
        return self.backend.url

    # --- writing -----------------------------------------------------------------------------
    def write(self, kind: str, table: pa.Table, name: str | None = None) -> list[ArchiveFile]:
        """Write ``table`` (rows of one kind, any symbols and days) as one file per partition.

        ``name`` is the file name's stem; by default it comes from the rows (recording and first
        sequence number, else the time range), so the same rows always land under the same name."""
        table = sc.conform(kind, table)
        if table.num_rows == 0:
            return []
        written = []
        for symbol, day, part in _split(table):
            stem = name or _default_stem(kind, part)
            data = encode(kind, part)
            file = ArchiveFile(kind, symbol, day, f"{stem}.parquet", len(data))
            self.backend.write(file.path, data)
            written.append(file)
        return written

    # --- reading -----------------------------------------------------------------------------
    def files(self, kind: str | None = None, symbol: str | None = None) -> list[ArchiveFile]:
        prefix = ""
        if kind is not None:
            prefix = f"kind={kind}"
            if symbol is not None:
                prefix += f"/symbol={encode_symbol(symbol)}"
        found = [parse_path(e) for e in self.backend.files(prefix)]
        return sorted((f for f in found if f is not None), key=lambda f: (f.kind, f.symbol, f.date, f.name))

    def partitions(self, kind: str | None = None, symbol: str | None = None,
                   with_metadata: bool = True) -> list[Partition]:
        grouped: dict[tuple[str, str, date], list[ArchiveFile]] = defaultdict(list)
        for file in self.files(kind, symbol):
            grouped[(file.kind, file.symbol, file.date)].append(file)
        result = []
        for (k, s, d), files in sorted(grouped.items()):
            partition = Partition(k, s, d, files, size=sum(f.size for f in files))
            if with_metadata:
                for file in files:
                    meta = self.file_metadata(file)
                    partition.rows += int(meta.get("rows", 0))
                    first, last = _meta_time(meta, "time_min"), _meta_time(meta, "time_max")
                    if first is not None and (partition.first is None or first < partition.first):
                        partition.first = first
                    if last is not None and (partition.last is None or last > partition.last):
                        partition.last = last
            result.append(partition)
        return result

    def file_metadata(self, file: ArchiveFile) -> dict[str, str]:
        """Our metadata of a file, from its Parquet footer alone (a listing of a share reads no data pages)."""
        tail = self.backend.read_tail(file.path, FOOTER_GUESS)
        if len(tail) < 12 or tail[-4:] != b"PAR1":
            raise FileDamaged(f"{file.path}: not a Parquet file (no footer)")
        footer = int.from_bytes(tail[-8:-4], "little") + 8
        if footer > len(tail):
            tail = self.backend.read_tail(file.path, footer)
        # The footer with a leading magic number parses as a file of its own: only its metadata is read.
        return sc.read_metadata(pq.read_schema(pa.BufferReader(b"PAR1" + tail[-footer:])).metadata)

    def read_file(self, file: ArchiveFile, verify: bool = False) -> pa.Table:
        data = self.backend.read(file.path)
        table = pq.read_table(pa.BufferReader(data))
        if verify:
            _verify(file, table)
        return sc.conform(file.kind, table)

    def read(self, kind: str, symbol: str, start: datetime | None = None, end: datetime | None = None,
             verify: bool = False) -> pa.Table:
        """Rows of ``symbol`` in [start, end], ordered by time then sequence (all stored days if no range)."""
        first_day = start.astimezone(UTC).date() if start is not None else None
        if first_day is not None and kind == "bars":
            first_day = first_day.replace(month=1, day=1)  # daily bars are kept in their year's partition
        wanted = [f for f in self.files(kind, symbol)
                  if (first_day is None or f.date >= first_day)
                  and (end is None or f.date <= end.astimezone(UTC).date())]
        tables = [t for t in (self.read_file(f, verify) for f in wanted) if t.num_rows]
        if not tables:
            return sc.SCHEMAS[kind].empty_table()
        tables, in_order = _in_time_order(tables)
        table = tables[0] if len(tables) == 1 else sc.conform(
            kind, pa.concat_tables(tables, promote_options="permissive").unify_dictionaries())
        if table.num_rows and (start is not None or end is not None):
            time_type = table.schema.field("time").type
            low = pa.scalar(start or datetime.min.replace(tzinfo=UTC), time_type)
            high = pa.scalar(end or datetime.max.replace(tzinfo=UTC), time_type)
            bounds = pc.min_max(table["time"])
            if bounds["min"].as_py() < low.as_py() or bounds["max"].as_py() > high.as_py():  # else all inside
                table = table.filter(pc.and_(pc.greater_equal(table["time"], low), pc.less_equal(table["time"], high)))
        if in_order:
            return table  # each file is written in time and sequence order, and they follow each other
        return table.sort_by([("time", "ascending"), ("seq", "ascending")])

    def symbols(self, kind: str) -> list[str]:
        return sorted({f.symbol for f in self.files(kind)})

    # --- checks and maintenance --------------------------------------------------------------
    def verify(self, files: Iterable[ArchiveFile] | None = None) -> list[str]:
        """Problems found (empty: every file reads back with its stated rows and checksum)."""
        problems = []
        for file in files if files is not None else self.files():
            try:
                self.read_file(file, verify=True)
            except (FileDamaged, OSError, pa.ArrowException) as exc:
                problems.append(f"{file.path}: {exc}")
        return problems

    def compact(self, partition: Partition) -> ArchiveFile | None:
        """Merge a partition's files into one; the sources are removed only after the merged file has been
        written and read back with every source row and the same time range. None if nothing to merge."""
        if len(partition.files) < 2:
            return None
        tables = [self.read_file(f, verify=True) for f in partition.files]
        merged = pa.concat_tables(tables, promote_options="permissive").unify_dictionaries()
        merged = sc.conform(partition.kind, merged).sort_by([("time", "ascending"), ("seq", "ascending")])
        first, last = pc.min(merged["time"]).as_py(), pc.max(merged["time"]).as_py()
        stem = f"compact-{first:%Y%m%dT%H%M%S%f}-{last:%Y%m%dT%H%M%S%f}-{merged.num_rows}"
        target = ArchiveFile(partition.kind, partition.symbol, partition.date, f"{stem}.parquet", 0)
        if any(f.name == target.name for f in partition.files):
            return None
        self.backend.write(target.path, encode(partition.kind, merged))
        check = self.read_file(target, verify=True)
        sources = sum(t.num_rows for t in tables)
        if (check.num_rows != sources or pc.min(check["time"]).as_py() != first
                or pc.max(check["time"]).as_py() != last):
            self.backend.delete(target.path)
            raise FileDamaged(f"{target.path}: the merged file does not hold the {sources} rows of its sources; "
                              "nothing was removed")
        for file in partition.files:
            self.backend.delete(file.path)
        return target

    def copy_to(self, other: Archive, files: Iterable[ArchiveFile] | None = None) -> Iterator[ArchiveFile]:
        """Copy files (all by default) under the same names, each verified before it is written there."""
        for file in files if files is not None else self.files():
            data = self.backend.read(file.path)
            _verify(file, pq.read_table(pa.BufferReader(data)))
            other.backend.write(file.path, data)
            yield file


def open_archive(url: str, default_root: Path | None = None) -> Archive:
    return Archive(open_backend(url, default_root))


def encode(kind: str, table: pa.Table) -> bytes:
    """The Parquet bytes of a conformed table, with our metadata."""
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **sc.metadata(kind, table)})
    sink = io.BytesIO()
    pq.write_table(table, sink, compression=COMPRESSION, row_group_size=1 << 20)
    return sink.getvalue()


def _verify(file: ArchiveFile, table: pa.Table) -> None:
    meta = sc.read_metadata(table.schema.metadata)
    if not meta.get("schema", "").startswith(f"{file.kind}/"):
        raise FileDamaged(f"{file.path}: not a {file.kind} file of this archive (schema {meta.get('schema')!r})")
    stated = int(meta.get("rows", -1))
    if stated != table.num_rows:
        raise FileDamaged(f"{file.path}: {table.num_rows} rows, its metadata says {stated}")
    conformed = sc.conform(file.kind, table)
    if sc.checksum(conformed) != meta.get("checksum"):
        raise FileDamaged(f"{file.path}: the checksum of its rows is not the one in its metadata")


def _in_time_order(tables: list[pa.Table]) -> tuple[list[pa.Table], bool]:
    """The tables ordered by their first row; True when each starts after the one before ends (then their
    concatenation is in order without a sort: the usual case of one recording's batches)."""
    ranges = []
    for table in tables:
        bounds = pc.min_max(table["time"])
        seqs = pc.min_max(table["seq"])
        ranges.append(((bounds["min"].as_py(), seqs["min"].as_py() or 0), (bounds["max"].as_py(), seqs["max"].as_py() or 0)))
    order = sorted(range(len(tables)), key=lambda i: ranges[i][0])
    in_order = all(ranges[a][1] < ranges[b][0] for a, b in zip(order, order[1:], strict=False))
    return [tables[i] for i in order], in_order


def _split(table: pa.Table) -> Iterator[tuple[str, date, pa.Table]]:
    """The table's rows by symbol and UTC day, each part in time and sequence order.

    Daily (and longer) bars go by year, in the partition of its 1 January: a file per daily bar would
    be thousands of one-row files for a few years of history."""
    days = pc.strftime(table["time"], format="%Y-%m-%d")
    if "bar_seconds" in table.column_names:
        years = pc.strftime(table["time"], format="%Y-01-01")
        days = pc.if_else(pc.greater_equal(table["bar_seconds"], 86400), years, days)
    keyed = table.append_column("_day", days)
    for key in keyed.group_by(["symbol", "_day"]).aggregate([]).to_pylist():
        mask = pc.and_(pc.equal(keyed["symbol"], key["symbol"]), pc.equal(keyed["_day"], key["_day"]))
        part = keyed.filter(mask).drop_columns(["_day"])
        yield key["symbol"], date.fromisoformat(key["_day"]), part.sort_by([("time", "ascending"),
                                                                            ("seq", "ascending")])


def _default_stem(kind: str, part: pa.Table) -> str:
    recordings = [r for r in pc.unique(part["recording"].cast(pa.string())).to_pylist() if r]
    seq = part["seq"]
    if len(recordings) == 1 and seq.null_count == 0:
        return f"rec-{recordings[0]}-{pc.min(seq).as_py():012d}"
    first, last = pc.min(part["time"]).as_py(), pc.max(part["time"]).as_py()
    size = ""
    if kind == "bars":
        sizes = pc.unique(part["bar_seconds"]).to_pylist()
        size = f"{sizes[0]}s-" if len(sizes) == 1 else "mixed-"
    return f"{kind}-{size}{first:%Y%m%dT%H%M%S}-{last:%Y%m%dT%H%M%S}-{part.num_rows}"


def _meta_time(meta: dict[str, str], key: str) -> datetime | None:
    value = meta.get(key)
    return datetime.fromisoformat(value) if value else None


def file_for(kind: str, symbol: str, day: date, name: str) -> ArchiveFile:
    return ArchiveFile(kind, symbol, day, name, 0)

