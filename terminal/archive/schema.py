"""The archive's file format: one Arrow schema per kind (ticks, depth, bars), its version, and the file metadata.

Every file is Parquet (zstd) and carries, in its key-value metadata, ``qt.schema`` (kind and
version, e.g. ``ticks/1``), ``qt.rows``, ``qt.checksum`` (see ``checksum``), ``qt.time_min`` /
``qt.time_max`` (ISO 8601 UTC) and, for recorded data, ``qt.recording`` and ``qt.seq_first`` /
``qt.seq_last``. Nothing else is needed to read a file: pandas, pyarrow, DuckDB or Spark read
the columns below by name, and the Hive partition folders (``kind=…/symbol=…/date=…``) too.

Columns common to every kind: ``time`` (timestamp µs UTC: the event's time as the broker stamps
it — for ticks, when the IB client library decoded the tick; for bars, the bar's start),
``recv_time`` (timestamp µs UTC: when the recorder took the row), ``seq`` (int64: the row's
number in its recording, one sequence across kinds and symbols, so a recording's rows can be put
back in the order they came), ``symbol``, ``instrument_key`` (``SYMBOL:SECTYPE:EXCHANGE:CURRENCY``),
``contract_id`` (IB conId), ``provenance`` (live, paper, simulator, replay; for bars also csv,
quandl, unknown), ``recording`` (the recording's id; empty for bars exported from the store) and
``event`` (``tick`` for data; ``gap_start`` / ``gap_end`` mark where the connection was lost and
back: rows between them were never received).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SCHEMA_VERSION = 1
KINDS = ("ticks", "depth", "bars")

EVENT_TICK = "tick"
EVENT_GAP_START = "gap_start"
EVENT_GAP_END = "gap_end"

_TIME = pa.timestamp("us", tz="UTC")
_TEXT = pa.dictionary(pa.int32(), pa.string())

_COMMON = [
    pa.field("time", _TIME, nullable=False),
    pa.field("recv_time", _TIME),
    pa.field("seq", pa.int64()),
    pa.field("symbol", _TEXT, nullable=False),  # dictionary: the type readers give the partition key
    pa.field("instrument_key", _TEXT),
    pa.field("contract_id", pa.int64()),
    pa.field("provenance", _TEXT),
    pa.field("recording", _TEXT),
    pa.field("event", _TEXT),
]

SCHEMAS: dict[str, pa.Schema] = {
    # One row per quote update: the whole top of book and last trade after it (NaN: not known yet).
    # ``tick`` says what the tick updated (bid, ask, last, volume; null on gap markers), so a replay
    # sends the same ticks in the same order.
    "ticks": pa.schema(_COMMON + [
        pa.field("tick", _TEXT),
        pa.field("bid", pa.float64()), pa.field("bid_size", pa.float64()),
        pa.field("ask", pa.float64()), pa.field("ask_size", pa.float64()),
        pa.field("last", pa.float64()), pa.field("last_size", pa.float64()),
        pa.field("volume", pa.float64()),
    ]),
    # One row per depth update: the whole book as the broker holds it, best level first.
    "depth": pa.schema(_COMMON + [
        pa.field("bid_price", pa.list_(pa.float64())), pa.field("bid_size", pa.list_(pa.float64())),
        pa.field("ask_price", pa.list_(pa.float64())), pa.field("ask_size", pa.list_(pa.float64())),
    ]),
    # One row per bar; ``bar_seconds`` is the bar size (5, 60, …, 86400).
    "bars": pa.schema(_COMMON + [
        pa.field("bar_seconds", pa.int32(), nullable=False),
        pa.field("open", pa.float64()), pa.field("high", pa.float64()), pa.field("low", pa.float64()),
        pa.field("close", pa.float64()), pa.field("volume", pa.float64()),
    ]),
}

# Keys of the Parquet file metadata.
META_SCHEMA = b"qt.schema"
META_ROWS = b"qt.rows"
META_CHECKSUM = b"qt.checksum"
META_TIME_MIN = b"qt.time_min"
META_TIME_MAX = b"qt.time_max"
META_RECORDING = b"qt.recording"
META_SEQ_FIRST = b"qt.seq_first"
META_SEQ_LAST = b"qt.seq_last"


class SchemaError(ValueError):
    """A table or file does not have the columns its kind needs; the message names what is wrong."""


def schema_tag(kind: str) -> str:
    return f"{kind}/{SCHEMA_VERSION}"


def conform(kind: str, table: pa.Table) -> pa.Table:
    """``table`` with exactly the kind's columns, in order and of its types (missing optional ones null)."""
    if kind not in SCHEMAS:
        raise SchemaError(f"archive kind {kind!r} is not known; use one of {', '.join(KINDS)}")
    schema = SCHEMAS[kind]
    columns = []
    for field in schema:
        if field.name in table.column_names:
            column = table.column(field.name)
            if column.type != field.type:
                try:
                    column = column.cast(field.type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise SchemaError(f"{kind} column {field.name!r} of type {column.type} cannot be "
                                      f"{field.type}: {exc}") from None
        elif field.nullable:
            column = pa.nulls(len(table), field.type)
        else:
            raise SchemaError(f"{kind} rows need a {field.name!r} column")
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=schema)


def checksum(table: pa.Table) -> str:
    """SHA-256 of the table's values, column by column in schema order, independent of how Parquet
    encoded or chunked them: a file read back must give the checksum its metadata states."""
    digest = hashlib.sha256()
    for name in table.column_names:
        column = table.column(name).combine_chunks() if table.num_rows else table.column(name)
        digest.update(name.encode())
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        if pa.types.is_timestamp(column.type):
            column = column.cast(pa.int64())
        digest.update(column.is_null().to_numpy(zero_copy_only=False).tobytes())
        if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
            digest.update(np.ascontiguousarray(column.fill_null(0).to_numpy(zero_copy_only=False)).tobytes())
        elif pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            # Text by its distinct values in order of appearance and each row's index into them:
            # the same for a dictionary column and a plain one, and fast on a million rows.
            encoded = pc.dictionary_encode(column.fill_null(""))
            digest.update("\x1f".join(encoded.dictionary.to_pylist()).encode())
            digest.update(np.ascontiguousarray(encoded.indices.to_numpy(zero_copy_only=False)).tobytes())
        else:  # list columns (depth levels)
            flat = pc.list_flatten(column)
            digest.update(np.ascontiguousarray(pc.list_value_length(column).fill_null(-1)
                                               .to_numpy(zero_copy_only=False)).tobytes())
            digest.update(np.ascontiguousarray(flat.fill_null(0).to_numpy(zero_copy_only=False)).tobytes())
    return digest.hexdigest()


def metadata(kind: str, table: pa.Table) -> dict[bytes, bytes]:
    """The file metadata for ``table`` (rows, checksum, time range, recording and sequence range)."""
    meta = {META_SCHEMA: schema_tag(kind).encode(), META_ROWS: str(table.num_rows).encode(),
            META_CHECKSUM: checksum(table).encode()}
    if table.num_rows:
        times = table.column("time")
        meta[META_TIME_MIN] = _iso(pc.min(times))
        meta[META_TIME_MAX] = _iso(pc.max(times))
        recordings = pc.unique(table.column("recording").cast(pa.string())).to_pylist()
        named = [r for r in recordings if r]
        if len(named) == 1:
            meta[META_RECORDING] = named[0].encode()
        seq = table.column("seq")
        if seq.null_count < len(seq):
            meta[META_SEQ_FIRST] = str(pc.min(seq).as_py()).encode()
            meta[META_SEQ_LAST] = str(pc.max(seq).as_py()).encode()
    return meta


def read_metadata(raw: Mapping[bytes, bytes] | None) -> dict[str, str]:
    """Our keys of a file's metadata, decoded (``schema``, ``rows``, ``checksum``, …)."""
    return {key.decode()[3:]: value.decode() for key, value in (raw or {}).items() if key.startswith(b"qt.")}


def _iso(scalar: pa.Scalar) -> bytes:
    return scalar.as_py().isoformat().encode()
