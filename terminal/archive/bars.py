"""Bars between the store's DataFrames (UTC index ``time``; open, high, low, close, volume) and the archive."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from terminal.archive import schema as sc
from terminal.domain import BarSize, Instrument, Provenance
from terminal.domain.provenance import weakest


def frame_to_table(instrument: Instrument, bar_size: BarSize, frame: pd.DataFrame, provenance: str) -> pa.Table:
    n = len(frame)
    index = pd.DatetimeIndex(frame.index)
    times = pa.array(index.tz_convert("UTC").as_unit("us").asi8 if index.tz is not None
                     else index.as_unit("us").asi8, pa.timestamp("us", tz="UTC"))
    table = pa.table({
        "time": times,
        "symbol": pa.array([instrument.symbol] * n, pa.string()),
        "instrument_key": pa.array([instrument.key] * n, pa.string()),
        "contract_id": pa.array(np.full(n, instrument.contract_id or 0, dtype=np.int64)),
        "provenance": pa.array([provenance] * n, pa.string()),
        "recording": pa.array([""] * n, pa.string()),
        "event": pa.array([sc.EVENT_TICK] * n, pa.string()),
        "bar_seconds": pa.array(np.full(n, bar_size.seconds, dtype=np.int32)),
        **{name: pa.array(frame[name].to_numpy(dtype=np.float64)) for name in ("open", "high", "low", "close", "volume")},
    })
    return sc.conform("bars", table)


def table_to_frame(table: pa.Table, bar_size: BarSize) -> tuple[pd.DataFrame, str, Provenance]:
    """The table's bars of ``bar_size`` as a store frame, the instrument key they were recorded under, and
    their provenance (the weakest of the rows': one simulator row makes the series simulator)."""
    table = table.filter(pc.equal(table["bar_seconds"], bar_size.seconds))
    if table.num_rows == 0:
        return pd.DataFrame(columns=["open", "high", "low", "close", "volume"]), "", Provenance.UNKNOWN
    keys = [k for k in pc.unique(table["instrument_key"].cast(pa.string())).to_pylist() if k]
    frame = table.select(["time", "open", "high", "low", "close", "volume"]).to_pandas()
    frame = frame.drop_duplicates("time", keep="last").set_index("time").sort_index()
    sources = {Provenance.parse(p) for p in pc.unique(table["provenance"].cast(pa.string())).to_pylist()}
    return frame, (keys[0] if len(keys) == 1 else ""), weakest(sources)
