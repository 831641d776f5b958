"""Bar storage: bulk upsert and range loads straight into pandas, the hot path of charts and backtests.

Rows go through the DB-API ``executemany`` of the driver (sqlite3, PyMySQL) rather
than ORM objects: at a million bars the per-row Python overhead of the ORM is the
whole cost. SQLite loads stream the cursor straight into one numpy array
(``np.fromiter`` over the chained rows), with no list of tuples in between (1M bars:
~0.8 s against ~1.3 s for fetchall + np.array). The ADBC SQLite driver would be
faster still, but it bundles its own SQLite library, and two SQLite copies in one
process break each other's POSIX locks on the same WAL file ("disk I/O error").
On MySQL/MariaDB each row comes back as one
CSV text field parsed by pandas' C reader, because PyMySQL decodes every field in
Python (1M bars: ~3.3 s against ~5.4 s as six-field tuples).

Each write also records where the bars came from (``bar_sources``: the span of times each
provenance wrote per instrument and bar size, in the same transaction), rather than a
column per bar: the bars table stays six numbers wide, and "which sources does this range
hold" is one lookup in a table of a few rows per series.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, select, text, update

from terminal.domain import Bar, BarSize, Instrument, Provenance
from terminal.domain.provenance import weakest
from terminal.store.schema import bar_sources

BAR_COLUMNS = ("open", "high", "low", "close", "volume")
_CHUNK = 50_000


def _epoch(ts: datetime) -> int:
    return int(ts.timestamp())


class BarRepository:
    """Upserts and loads OHLCV bars per instrument and bar size."""

    def __init__(self, engine: Engine, instrument_id: Callable[[Instrument], int]) -> None:
        self._engine = engine
        self._instrument_id = instrument_id
        dialect = engine.dialect.name
        if dialect in ("mysql", "mariadb"):
            self._upsert_sql = (
                "INSERT INTO bars (instrument_id, bar_size, time, open, high, low, close, volume) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) AS new "
                "ON DUPLICATE KEY UPDATE open=new.open, high=new.high, low=new.low, "
                "close=new.close, volume=new.volume"
            )
            self._legacy_mysql_sql = (
                "INSERT INTO bars (instrument_id, bar_size, time, open, high, low, close, volume) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                "ON DUPLICATE KEY UPDATE open=VALUES(open), high=VALUES(high), low=VALUES(low), "
                "close=VALUES(close), volume=VALUES(volume)"
            )
            # MariaDB has no row alias syntax; VALUES() works on both.
            self._upsert_sql = self._legacy_mysql_sql
        else:
            self._upsert_sql = (
                "INSERT INTO bars (instrument_id, bar_size, time, open, high, low, close, volume) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (instrument_id, bar_size, time) DO UPDATE SET open=excluded.open, "
                "high=excluded.high, low=excluded.low, close=excluded.close, volume=excluded.volume"
            )

    def write_frame(self, instrument: Instrument, bar_size: BarSize, frame: pd.DataFrame,
                    provenance: Provenance = Provenance.UNKNOWN) -> int:
        """Upsert a DataFrame (UTC DatetimeIndex; open/high/low/close/volume) in one transaction, recording
        that ``provenance`` wrote its span."""
        if frame.empty:
            return 0
        index = frame.index
        if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
            raise ValueError("bar frame needs a UTC-aware DatetimeIndex")
        seconds = index.tz_convert("UTC").as_unit("s").asi8
        iid = self._instrument_id(instrument)
        size = bar_size.seconds
        values = frame.loc[:, list(BAR_COLUMNS)].to_numpy(dtype=float)
        rows = [
            (iid, size, int(t), o, h, low, c, v)
            for t, (o, h, low, c, v) in zip(seconds.tolist(), values.tolist(), strict=True)
        ]
        self._write_rows(rows, provenance)
        return len(rows)

    def write_bars(self, instrument: Instrument, bars: Iterable[Bar],
                   provenance: Provenance = Provenance.UNKNOWN) -> int:
        """Upsert domain Bars (each carries its bar size) that ``provenance`` delivered."""
        iid = self._instrument_id(instrument)
        rows = [
            (iid, b.bar_size.seconds, _epoch(b.time), b.open, b.high, b.low, b.close, b.volume) for b in bars
        ]
        self._write_rows(rows, provenance)
        return len(rows)

    def _write_rows(self, rows: Sequence[tuple], provenance: Provenance) -> None:
        if not rows:
            return
        spans: dict[tuple[int, int], tuple[int, int]] = {}
        for iid, size, t, *_ in rows:
            first, last = spans.get((iid, size), (t, t))
            spans[(iid, size)] = (min(first, t), max(last, t))
        with self._engine.begin() as conn:
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                for start in range(0, len(rows), _CHUNK):
                    cursor.executemany(self._upsert_sql, rows[start : start + _CHUNK])
            finally:
                cursor.close()
            for (iid, size), (first, last) in spans.items():
                _widen_source(conn, iid, size, provenance, first, last)

    def provenance(self, instrument: Instrument, bar_size: BarSize, start: datetime | None = None,
                   end: datetime | None = None) -> Provenance:
        """Where the stored bars of [start, end] came from, as one value: SIMULATOR (or REPLAY) if any source
        of the range is simulated, UNKNOWN if any is unknown, else the real source (see ``weakest``)."""
        return weakest(self.sources(instrument, bar_size, start, end))

    def sources(self, instrument: Instrument, bar_size: BarSize, start: datetime | None = None,
                end: datetime | None = None) -> set[Provenance]:
        """Every provenance that wrote bars of this series within [start, end]."""
        query = select(bar_sources.c.provenance).where(
            (bar_sources.c.instrument_id == self._instrument_id(instrument))
            & (bar_sources.c.bar_size == bar_size.seconds))
        if start is not None:
            query = query.where(bar_sources.c.last_time >= _epoch(start))
        if end is not None:
            query = query.where(bar_sources.c.first_time <= _epoch(end))
        with self._engine.connect() as conn:
            return {Provenance.parse(p) for p in conn.execute(query).scalars()}

    def load_frame(
        self,
        instrument: Instrument,
        bar_size: BarSize,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """Bars in [start, end] as a DataFrame with a UTC DatetimeIndex named ``time``; with ``limit``, the
        newest ``limit`` of them. The database does the filtering (on the primary key): a chart asking for
        its last days reads those days, not the whole stored series."""
        iid = self._instrument_id(instrument)
        sql = "SELECT time, open, high, low, close, volume FROM bars WHERE instrument_id = {p} AND bar_size = {p}"
        params: list = [iid, bar_size.seconds]
        if start is not None:
            sql += " AND time >= {p}"
            params.append(_epoch(start))
        if end is not None:
            sql += " AND time <= {p}"
            params.append(_epoch(end))
        if limit is not None:
            # newest `limit` bars, returned oldest first
            sql = f"SELECT * FROM ({sql} ORDER BY time DESC LIMIT {int(limit)}) AS newest"
        sql += " ORDER BY time"
        placeholder = "%s" if self._engine.dialect.name in ("mysql", "mariadb") else "?"
        sql = sql.replace("{p}", placeholder)
        if placeholder == "%s":
            return self._load_mysql_text(sql, params)
        with self._engine.connect() as conn:
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.execute(sql, params)
                flat = np.fromiter(itertools.chain.from_iterable(cursor), dtype=np.float64)
            finally:
                cursor.close()
        return _array_to_frame(flat.reshape(-1, 6))

    def _load_mysql_text(self, sql: str, params: list) -> pd.DataFrame:
        text_sql = f"SELECT CONCAT_WS(',', time, open, high, low, close, volume) FROM ({sql}) AS rows_ ORDER BY rows_.time"
        with self._engine.connect() as conn:
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.execute(text_sql, params)
                rows = cursor.fetchall()
            finally:
                cursor.close()
        if not rows:
            return rows_to_frame([])
        table = pd.read_csv(io.StringIO("\n".join(r[0] for r in rows)), header=None, dtype=float)
        times = table[0].to_numpy().astype("int64").astype("datetime64[s]")
        index = pd.DatetimeIndex(times, name="time").tz_localize("UTC")
        return pd.DataFrame(table.iloc[:, 1:].to_numpy(), index=index, columns=list(BAR_COLUMNS))

    def load_bars(self, instrument: Instrument, bar_size: BarSize, **kwargs) -> list[Bar]:
        frame = self.load_frame(instrument, bar_size, **kwargs)
        return [
            Bar(t.to_pydatetime(), o, h, lo, c, v, bar_size)
            for t, o, h, lo, c, v in zip(
                frame.index, frame["open"], frame["high"], frame["low"], frame["close"], frame["volume"], strict=True
            )
        ]

    def first_time(self, instrument: Instrument, bar_size: BarSize) -> datetime | None:
        """Time of the oldest stored bar (one index lookup), or None when none is stored."""
        sql = "SELECT MIN(time) FROM bars WHERE instrument_id = :i AND bar_size = :b"
        with self._engine.connect() as conn:
            first = conn.execute(text(sql), {"i": self._instrument_id(instrument), "b": bar_size.seconds}).scalar()
        return None if first is None else pd.Timestamp(int(first), unit="s", tz="UTC").to_pydatetime()

    def count(self, instrument: Instrument, bar_size: BarSize | None = None) -> int:
        iid = self._instrument_id(instrument)
        sql = "SELECT COUNT(*) FROM bars WHERE instrument_id = :i"
        params: dict = {"i": iid}
        if bar_size is not None:
            sql += " AND bar_size = :b"
            params["b"] = bar_size.seconds
        with self._engine.connect() as conn:
            return int(conn.execute(text(sql), params).scalar_one())

    def summary(self) -> list[tuple[str, BarSize, int, datetime, datetime]]:
        """(instrument key, bar size, count, first, last) for everything stored."""
        sql = (
            "SELECT i.`key`, b.bar_size, COUNT(*), MIN(b.time), MAX(b.time) FROM bars b "
            "JOIN instruments i ON i.id = b.instrument_id GROUP BY i.`key`, b.bar_size ORDER BY i.`key`, b.bar_size"
        )
        if self._engine.dialect.name not in ("mysql", "mariadb"):
            sql = sql.replace("`", '"')
        sizes = {s.seconds: s for s in BarSize}
        with self._engine.connect() as conn:
            rows = conn.execute(text(sql)).all()
        return [
            (key, sizes[int(size)], int(n), pd.Timestamp(int(lo), unit="s", tz="UTC").to_pydatetime(),
             pd.Timestamp(int(hi), unit="s", tz="UTC").to_pydatetime())
            for key, size, n, lo, hi in rows
            if int(size) in sizes
        ]


def _widen_source(conn: Connection, iid: int, size: int, provenance: Provenance, first: int, last: int) -> None:
    """Record (or widen) the span of times ``provenance`` wrote in this series."""
    key = ((bar_sources.c.instrument_id == iid) & (bar_sources.c.bar_size == size)
           & (bar_sources.c.provenance == provenance.value))
    found = conn.execute(select(bar_sources.c.first_time, bar_sources.c.last_time).where(key)).first()
    if found is None:
        conn.execute(bar_sources.insert().values(instrument_id=iid, bar_size=size, provenance=provenance.value,
                                                 first_time=first, last_time=last))
    elif first < found[0] or last > found[1]:
        conn.execute(update(bar_sources).where(key).values(first_time=min(first, int(found[0])),
                                                           last_time=max(last, int(found[1]))))


def rows_to_frame(rows: Sequence[tuple]) -> pd.DataFrame:
    """(epoch seconds, o, h, l, c, v) rows to a float DataFrame with a UTC DatetimeIndex."""
    return _array_to_frame(np.array(rows, dtype=np.float64).reshape(-1, 6))


def _array_to_frame(array: np.ndarray) -> pd.DataFrame:
    index = pd.DatetimeIndex(array[:, 0].astype("int64").astype("datetime64[s]"), name="time").tz_localize("UTC")
    return pd.DataFrame(array[:, 1:], index=index, columns=list(BAR_COLUMNS))

