"""CSV import of OHLCV bars: the whole file is checked first and stored in one transaction, or not at all."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from terminal.domain import BarSize, Provenance

PROVENANCE = Provenance.CSV  # what bars stored from a CSV file are recorded as

_ALIASES = {
    "time": ("time", "date", "datetime", "timestamp", "date time", "gmt time", "local time"),
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c", "last", "price"),
    "volume": ("volume", "vol", "v"),
}
REQUIRED = ("time", "open", "high", "low", "close")
MAX_LISTED = 5  # bad rows named in the one-line message; ``errors`` holds them all
# a time of day followed by a UTC offset: 09:30:00-0500, 09:30+05:30, 09:30Z, 09:30 UTC
_UTC_OFFSET = re.compile(r":\d\d[\d:.,]*\s*(?:Z|UTC|GMT|[+-]\d\d(?::?\d\d)?)$", re.IGNORECASE)


@dataclass(frozen=True)
class RowError:
    line: int  # 1-based line number in the file (the header is line 1)
    column: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, {self.column}: {self.message}"


class CsvImportError(ValueError):
    """The file cannot be imported; ``errors`` lists every bad row (the message shows the first ones)."""

    def __init__(self, path: str, errors: list[RowError] | None = None, problem: str = "") -> None:
        self.path = path
        self.errors = errors or []
        if problem:
            text = f"{path}: {problem}"
        else:
            shown = "; ".join(str(e) for e in self.errors[:MAX_LISTED])
            more = f"; … and {len(self.errors) - MAX_LISTED} more" if len(self.errors) > MAX_LISTED else ""
            text = f"{path}: {len(self.errors)} bad row(s), nothing was imported: {shown}{more}"
        super().__init__(text)


def _map_columns(columns: list[str], path: str) -> dict[str, str]:
    lowered = {c.strip().lower(): c for c in columns}
    mapping: dict[str, str] = {}
    for field, names in _ALIASES.items():
        for name in names:
            if name in lowered:
                mapping[field] = lowered[name]
                break
    if "time" not in mapping and columns and (columns[0].startswith("Unnamed") or not columns[0].strip()):
        mapping["time"] = columns[0]  # a pandas-written index column has no header
    missing = [f for f in REQUIRED if f not in mapping]
    if missing:
        raise CsvImportError(
            path,
            problem=f"missing column(s) {', '.join(missing)}; found {', '.join(columns) or 'none'}; "
            "expected a header with Date/Time, Open, High, Low, Close and optionally Volume",
        )
    return mapping


def read_bars_csv(source: str | Path | io.StringIO, timezone: str = "UTC", name: str | None = None) -> pd.DataFrame:
    """Parse and validate an OHLCV CSV; returns a frame with a UTC DatetimeIndex or raises CsvImportError.

    Naive timestamps are read in ``timezone``. Checks: required columns, parseable dates,
    numeric prices/volume, high >= low, open/close within high..low, volume >= 0,
    no duplicate timestamps.
    """
    path = name or str(source)
    raw = _read_table(source, path)
    # blank lines stay in the table until their line numbers are known, so that messages name the right line
    lines = np.arange(len(raw)) + 2
    blank = (raw == "").all(axis=1).to_numpy()
    raw, lines = raw[~blank].reset_index(drop=True), lines[~blank]
    mapping = _map_columns(list(raw.columns), path)
    if raw.empty:
        raise CsvImportError(path, problem="the file has a header but no rows")
    errors: list[RowError] = []

    time_text = raw[mapping["time"]].str.strip()
    index = _utc_times(time_text, lines, mapping["time"], timezone, path, errors)
    valid_times = index.notna()

    numbers: dict[str, pd.Series] = {}
    for field in ("open", "high", "low", "close", "volume"):
        if field not in mapping:
            numbers[field] = pd.Series(np.zeros(len(raw)), index=raw.index)
            continue
        text = raw[mapping[field]].str.strip().str.replace(",", "", regex=False)
        values = pd.to_numeric(text, errors="coerce")
        bad = values.isna() | ~np.isfinite(values.fillna(0.0))
        for i in np.flatnonzero(bad.to_numpy()):
            shown = raw[mapping[field]].iloc[i]
            errors.append(RowError(int(lines[i]), mapping[field], f"{shown!r} is not a number"))
        numbers[field] = values.where(~bad)  # an infinity is reported once, here, not again as out of range

    o, h, lo, c, v = (numbers[f].to_numpy(dtype=float, na_value=np.nan) for f in ("open", "high", "low", "close", "volume"))
    with np.errstate(invalid="ignore"):
        for i in np.flatnonzero(h < lo):
            errors.append(RowError(int(lines[i]), "high/low", f"high {h[i]:g} is below low {lo[i]:g}"))
        outside = ((o > h) | (o < lo) | (c > h) | (c < lo)) & ~(h < lo)
        for i in np.flatnonzero(outside):
            errors.append(
                RowError(int(lines[i]), "open/close", f"open {o[i]:g} or close {c[i]:g} outside low {lo[i]:g} .. high {h[i]:g}")
            )
        nonpositive = (lo <= 0) & ~(h < lo)
        for i in np.flatnonzero(nonpositive):
            errors.append(RowError(int(lines[i]), "low", f"price {lo[i]:g} must be > 0"))
        for i in np.flatnonzero(v < 0):
            errors.append(RowError(int(lines[i]), mapping.get("volume", "volume"), f"volume {v[i]:g} is negative"))

    if valid_times.any():
        duplicated = index.duplicated(keep="first") & valid_times
        first_line = {}
        for i, t in enumerate(index):
            if valid_times[i] and t not in first_line:
                first_line[t] = int(lines[i])
        for i in np.flatnonzero(duplicated):
            errors.append(
                RowError(int(lines[i]), mapping["time"], f"{time_text.iloc[i]} repeats the time of line {first_line[index[i]]}")
            )
    if errors:
        errors.sort(key=lambda e: e.line)
        raise CsvImportError(path, errors)
    frame = pd.DataFrame({"open": o, "high": h, "low": lo, "close": c, "volume": v}, index=index)
    frame.index.name = "time"
    return frame.sort_index()


def _read_table(source: str | Path | io.StringIO, path: str) -> pd.DataFrame:
    try:
        return pd.read_csv(source, dtype=str, keep_default_na=False, skipinitialspace=True, skip_blank_lines=False)
    except FileNotFoundError as exc:
        raise CsvImportError(path, problem="file not found; give the path of a CSV file") from exc
    except IsADirectoryError as exc:
        raise CsvImportError(path, problem="is a folder; give the path of a CSV file") from exc
    except pd.errors.EmptyDataError as exc:
        raise CsvImportError(path, problem="the file is empty") from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        reason = " ".join(str(exc).split())  # pandas ends some messages with a newline
        raise CsvImportError(path, problem=f"not a readable CSV file: {reason}") from exc
    except OSError as exc:
        raise CsvImportError(path, problem=f"cannot be read: {exc.strerror or exc}") from exc


def _utc_times(text: pd.Series, lines: np.ndarray, column: str, timezone: str, path: str,
               errors: list[RowError]) -> pd.DatetimeIndex:
    """The times in UTC, NaT where a row is bad (and a RowError for it).

    Times with a UTC offset keep it, even when it changes within the file (a DST change, or
    data from several places); times without one are read in ``timezone``.
    """
    try:
        parsed = pd.to_datetime(text, errors="coerce", format="mixed")
        mixed = False
    except ValueError:  # "Mixed timezones detected": offsets differ, or some times have none
        parsed = pd.to_datetime(text, errors="coerce", format="mixed", utc=True)
        mixed = True
    for i in np.flatnonzero(parsed.isna().to_numpy()):
        errors.append(RowError(int(lines[i]), column, f"{text.iloc[i]!r} is not a date/time"))
    index = pd.DatetimeIndex(parsed)
    if mixed:
        has_offset = text.str.contains(_UTC_OFFSET).to_numpy()
        naive = np.flatnonzero(index.notna() & ~has_offset)
        if len(naive) and has_offset.any():
            example = int(lines[np.flatnonzero(has_offset)[0]])
            for i in naive:
                errors.append(RowError(int(lines[i]), column, f"{text.iloc[i]!r} has no UTC offset but line {example} "
                                       f"has one; give every time an offset, or none (then all are read in {timezone})"))
        elif len(naive):
            raise CsvImportError(path, problem=f"the {column} column mixes time zones in a form that cannot be "
                                 "told apart; give every time a UTC offset such as 2024-03-08 09:30-05:00")
        return index
    if index.tz is not None:
        return index.tz_convert("UTC")
    return _localize(index, text, lines, column, timezone, path, errors)


def _localize(index: pd.DatetimeIndex, text: pd.Series, lines: np.ndarray, column: str, timezone: str,
              path: str, errors: list[RowError]) -> pd.DatetimeIndex:
    """Naive wall-clock times of ``timezone`` in UTC; a repeated hour in time order is told apart by its order."""
    try:
        try:
            local = index.tz_localize(timezone, ambiguous="infer", nonexistent="NaT")
        except ValueError:  # cannot infer: a lone repeated hour, or times out of order
            local = index.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
    except (KeyError, ValueError) as exc:  # ZoneInfoNotFoundError is a KeyError
        raise CsvImportError(path, problem=f"time zone {timezone!r} is not known; give an IANA name "
                             "such as UTC or America/New_York") from exc
    for i in np.flatnonzero(local.isna() & index.notna()):
        shifted = index[i : i + 1].tz_localize(timezone, ambiguous="NaT", nonexistent="shift_forward")
        why = "is repeated when the clocks go back" if shifted.isna()[0] else "is skipped when the clocks go forward"
        errors.append(RowError(int(lines[i]), column, f"{text.iloc[i]!r} {why} in {timezone}; "
                               "give times with a UTC offset"))
    return local.tz_convert("UTC")


def infer_bar_size(frame: pd.DataFrame) -> BarSize:
    """The bar size whose length is closest to the median spacing of the timestamps."""
    if len(frame) < 2:
        return BarSize.DAY_1
    spacing = float(np.median(np.diff(frame.index.as_unit("s").asi8)))
    if spacing >= 20 * 3600:  # daily data has weekend and holiday gaps
        return BarSize.DAY_1
    return min(BarSize, key=lambda b: abs(b.seconds - spacing))
