"""The simulator's instruments: US stocks and ETFs from a CSV, two index futures, two FX pairs, with real tick rules.

The stocks come from ``universe.csv`` next to this module: the S&P 500 constituents (late 2024) plus
the SPY and QQQ ETFs, with plausible late-2024 prices, annual volatilities, GICS sectors (blank for
ETFs) and primary exchanges. ``load_universe(path)`` reads another list with the same columns (the
CLI's ``--universe FILE``); only ``symbol`` and ``price`` are required.

Contract ids: the 22 names the simulator always had keep their real IB conIds (AAPL 265598 …).
The others are simulator ids, not IB's: ``900_000_000 + crc32(symbol) % 100_000_000``, written into
the CSV so they never change between runs; a user file that leaves ``con_id`` blank gets the same
rule (moved on by one while taken). Class shares use IB's spelling with a space: ``BRK B``, ``BF B``.
ES is both Eversource (a stock) and the E-mini future, as at IB; the request's security type tells
them apart.

The default list is parsed once per process (``default_listings`` is cached): about 4 ms with the
standard ``csv`` module, which also gives the line numbers that ``UniverseError`` names.
"""

from __future__ import annotations

import csv
import functools
import io
import math
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from terminal.domain import Instrument, SecType

COLUMNS = ("symbol", "name", "sector", "primary_exchange", "price", "volatility", "con_id", "pair_with")
PRIMARY_EXCHANGES = ("NYSE", "NASDAQ", "ARCA", "AMEX", "BATS", "IEX")
DEFAULT_PRIMARY_EXCHANGE = "NYSE"
DEFAULT_VOLATILITY = 0.25
MAX_VOLATILITY = 3.0
SIMULATOR_ID_BASE = 900_000_000
_SYMBOL = re.compile(r"[A-Z0-9][A-Z0-9 .\-]{0,11}")


class UniverseError(ValueError):
    """A universe CSV that cannot be used; the message is one line naming file, line, field and what is valid."""


@dataclass(frozen=True, slots=True)
class Listing:
    """An instrument plus what its simulated price path needs."""

    instrument: Instrument
    start_price: float
    annual_volatility: float
    name: str
    pair_with: str = ""  # a cointegrated partner (pairs trading demo)
    sector: str = ""  # GICS sector; blank for ETFs, futures and FX


_DERIVATIVES = (
    Listing(Instrument("ES", SecType.FUTURE, "CME", "USD", 0.25, 50.0, 620731015, "", "ESZ6", "E-mini S&P 500",
                       last_trade_date="20261218"), 5310.25, 0.15, "E-mini S&P 500"),
    Listing(Instrument("NQ", SecType.FUTURE, "CME", "USD", 0.25, 20.0, 620730945, "", "NQZ6", "E-mini Nasdaq-100",
                       last_trade_date="20261218"), 18540.50, 0.19, "E-mini Nasdaq-100"),
    Listing(Instrument("EUR", SecType.FOREX, "IDEALPRO", "USD", 0.00005, 1.0, 12087792, "", "EUR.USD",
                       "European Monetary Union Euro", lot_size=1.0), 1.08525, 0.07, "EUR.USD"),
    Listing(Instrument("GBP", SecType.FOREX, "IDEALPRO", "USD", 0.00005, 1.0, 12087797, "", "GBP.USD",
                       "British pound", lot_size=1.0), 1.26810, 0.08, "GBP.USD"),
)


def simulator_con_id(symbol: str) -> int:
    """The simulator's stable id for a stock without a known IB conId."""
    return SIMULATOR_ID_BASE + zlib.crc32(symbol.encode()) % 100_000_000


def load_universe(path: str | Path) -> list[Listing]:
    """The stocks listed in a CSV file with the columns of ``COLUMNS`` (symbol and price required).

    Raises ``UniverseError`` naming the file, line and field of the first problem."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UniverseError(f"{source}: no such file; give the path of a CSV with columns "
                            f"{','.join(COLUMNS)}") from None
    except IsADirectoryError:
        raise UniverseError(f"{source} is a directory; give the path of a CSV file") from None
    except UnicodeDecodeError:
        raise UniverseError(f"{source} is not UTF-8 text; save the list as a UTF-8 CSV file") from None
    except OSError as exc:
        raise UniverseError(f"{source} cannot be read: {exc.strerror or exc}") from None
    return _parse(text, source)


@functools.cache
def default_listings() -> tuple[Listing, ...]:
    """The packaged stock list, parsed once per process: every simulator shares it (listings are frozen)."""
    text = resources.files(__package__).joinpath("universe.csv").read_text(encoding="utf-8")
    return tuple(_parse(text, "universe.csv"))


def _parse(text: str, source: str) -> list[Listing]:
    reader = csv.reader(io.StringIO(text), skipinitialspace=True)
    header = next((row for row in reader if row and "".join(row).strip()), None)
    if header is None:
        raise UniverseError(f"{source} is empty; it needs a header line naming at least symbol,price")
    columns = _columns(header, source, reader.line_num)
    rows: list[tuple[int, dict[str, str]]] = []
    for row in reader:
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        if len(row) > len(columns):
            raise UniverseError(f"{source} line {reader.line_num}: {len(row)} fields but the header names "
                                f"{len(columns)}; quote values that contain commas")
        rows.append((reader.line_num, {column: value.strip() for column, value in zip(columns, row, strict=False)}))
    if not rows:
        raise UniverseError(f"{source} has a header but no rows; add one line per stock, e.g. AAPL,189.50")
    return _listings(rows, source)


def _columns(header: list[str], source: str, line: int) -> list[str]:
    columns = [name.strip().lower() for name in header]
    for index, name in enumerate(columns):
        if name not in COLUMNS:
            raise UniverseError(f"{source} line {line}, header: column {header[index].strip()!r} is not one of "
                                f"{', '.join(COLUMNS)}")
        if name in columns[:index]:
            raise UniverseError(f"{source} line {line}, header: column {name!r} appears twice")
    for required in ("symbol", "price"):
        if required not in columns:
            raise UniverseError(f"{source} line {line}, header: no {required!r} column; the header needs "
                                f"symbol and price (optional: name, sector, primary_exchange, volatility, "
                                f"con_id, pair_with)")
    return columns


def _fail(source: str, line: int, field: str, problem: str) -> UniverseError:
    return UniverseError(f"{source} line {line}, {field}: {problem}")


@dataclass(frozen=True, slots=True)
class _Row:
    """One CSV line checked on its own; what needs the other lines (duplicates, pairs, ids) comes after."""

    line: int
    symbol: str
    price: float
    volatility: float
    con_id: int  # 0: give it a simulator id
    fields: dict[str, str]


def _row(line: int, fields: dict[str, str], source: str) -> _Row:
    symbol = fields.get("symbol", "").upper()
    if not symbol:
        raise _fail(source, line, "symbol", "is empty; give a ticker such as AAPL")
    if not _SYMBOL.fullmatch(symbol):
        raise _fail(source, line, "symbol",
                    f"{fields['symbol']!r} is not a ticker: up to 12 letters, digits, spaces, '.' or '-'")
    text = fields.get("price", "")
    price = _number(text)
    if price is None or price <= 0:
        raise _fail(source, line, "price", f"{text!r} is not a positive number")
    volatility = DEFAULT_VOLATILITY
    if text := fields.get("volatility", ""):
        volatility = _number(text) or 0.0
        if not 0 < volatility <= MAX_VOLATILITY:
            raise _fail(source, line, "volatility", f"{text!r} is not an annual volatility above 0 and at most "
                                                    f"{MAX_VOLATILITY:g} (0.25 = 25%)")
    con_id = 0
    if text := fields.get("con_id", ""):
        con_id = int(text) if text.isascii() and text.isdigit() and len(text) <= 10 else 0
        if not 0 < con_id < 2**31:
            raise _fail(source, line, "con_id", f"{text!r} is not a whole number from 1 to {2**31 - 1}; "
                                                f"leave it blank for a simulator id")
    if (text := fields.get("primary_exchange", "")) and text.upper() not in PRIMARY_EXCHANGES:
        raise _fail(source, line, "primary_exchange", f"{text!r} is not one of {', '.join(PRIMARY_EXCHANGES)}")
    return _Row(line, symbol, price, volatility, con_id, fields)


def _listings(lines: list[tuple[int, dict[str, str]]], source: str) -> list[Listing]:
    rows = [_row(line, fields, source) for line, fields in lines]
    reserved = {item.instrument.contract_id: item.instrument.local_symbol for item in _DERIVATIVES}
    first_line: dict[str, int] = {}
    id_owner: dict[int, _Row] = {}
    for row in rows:
        if row.symbol in first_line:
            raise _fail(source, row.line, "symbol",
                        f"{row.symbol!r} is listed twice (first on line {first_line[row.symbol]})")
        first_line[row.symbol] = row.line
        if row.con_id in reserved:
            raise _fail(source, row.line, "con_id", f"'{row.con_id}' is the {reserved[row.con_id]} contract's; "
                                                    f"choose another or leave it blank")
        if row.con_id in id_owner:
            owner = id_owner[row.con_id]
            raise _fail(source, row.line, "con_id", f"'{row.con_id}' is already {owner.symbol}'s "
                                                    f"(line {owner.line}); ids are unique")
        if row.con_id:
            id_owner[row.con_id] = row
    partners = _pairs(rows, first_line, source)
    taken = set(id_owner) | set(reserved)
    listings = []
    for row in rows:
        con_id = row.con_id
        if not con_id:
            con_id = simulator_con_id(row.symbol)
            while con_id in taken:
                con_id += 1
            taken.add(con_id)
        name = row.fields.get("name") or row.symbol
        exchange = row.fields.get("primary_exchange", "").upper() or DEFAULT_PRIMARY_EXCHANGE
        instrument = Instrument(row.symbol, SecType.STOCK, "SMART", "USD", 0.01, 1.0, con_id, exchange, row.symbol,
                                name)
        listings.append(Listing(instrument, row.price, row.volatility, name, partners.get(row.symbol, ""),
                                row.fields.get("sector", "")))
    return listings


def _pairs(rows: list[_Row], first_line: dict[str, int], source: str) -> dict[str, str]:
    """symbol → partner, both ways: a pair named on one side only is linked from the other too."""
    partners: dict[str, str] = {}
    named_on: dict[str, int] = {}
    for row in rows:
        text = row.fields.get("pair_with", "")
        partner = text.upper()
        if not partner:
            continue
        if partner == row.symbol:
            raise _fail(source, row.line, "pair_with", f"{text!r} is the stock itself; name another symbol")
        if partner not in first_line:
            raise _fail(source, row.line, "pair_with", f"{text!r} is not a symbol in this file")
        for one, other in ((row.symbol, partner), (partner, row.symbol)):
            if partners.get(one, other) != other:
                raise _fail(source, row.line, "pair_with", f"{one!r} is already paired with {partners[one]!r} "
                                                           f"(line {named_on[one]}); a stock has one partner")
            partners[one] = other
            named_on.setdefault(one, row.line)
    return partners


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


class Universe:
    """Lookup of listings the way IB matches a contract request: by conId, else symbol + type + currency.

    ``listings`` are the stocks (None: the packaged S&P 500 list); the futures and FX are always added.
    ``symbols`` keeps only those symbols (or local symbols such as ``ESZ6``)."""

    def __init__(self, symbols: list[str] | None = None, listings: Sequence[Listing] | None = None) -> None:
        stocks = default_listings() if listings is None else listings
        wanted = {s.upper() for s in symbols} if symbols else None
        self.listings = [item for item in (*stocks, *_DERIVATIVES) if wanted is None
                         or item.instrument.symbol in wanted or item.instrument.local_symbol in wanted]
        self.by_id: dict[int, Listing] = {}
        self.by_symbol: dict[str, list[Listing]] = {}
        self._by_local_symbol: dict[str, list[Listing]] = {}
        for item in self.listings:
            ins = item.instrument
            if ins.contract_id in self.by_id:
                first = self.by_id[ins.contract_id].instrument.symbol
                raise UniverseError(f"con_id {ins.contract_id} is both {first} and {ins.symbol}; every listing "
                                    f"needs its own")
            self.by_id[ins.contract_id] = item
            self.by_symbol.setdefault(ins.symbol, []).append(item)
            self._by_local_symbol.setdefault(ins.local_symbol.upper(), []).append(item)

    def find(self, con_id: int, symbol: str, sec_type: str, currency: str, exchange: str = "",
             local_symbol: str = "") -> Listing | None:
        """The listing a contract request names, or None (IB's error 200)."""
        if con_id:
            return self.by_id.get(con_id)
        for item in self._by_local_symbol.get(local_symbol.upper(), ()) if local_symbol else ():
            if not sec_type or sec_type == item.instrument.sec_type.value:
                return item
        for item in self.by_symbol.get(symbol.upper(), ()):
            ins = item.instrument
            if sec_type and sec_type != ins.sec_type.value:
                continue
            if currency and currency != ins.currency:
                continue
            if exchange and exchange not in ("SMART", ins.exchange, ins.primary_exchange):
                continue
            return item
        return None

    def search(self, pattern: str) -> list[Listing]:
        """Up to 16 listings for a typed pattern: the exact symbol, symbols starting with it, names containing it."""
        pattern = pattern.upper().strip()
        if not pattern:
            return []
        exact = list(self.by_symbol.get(pattern, ()))
        starts = [i for i in self.listings if i.instrument.symbol.startswith(pattern)
                  and i.instrument.symbol != pattern]
        names = [i for i in self.listings if pattern in i.name.upper()
                 and not i.instrument.symbol.startswith(pattern)]
        return (exact + starts + names)[:16]

    def instruments(self) -> list[Instrument]:
        """Every instrument, stocks first, then the futures and FX."""
        return [item.instrument for item in self.listings]
