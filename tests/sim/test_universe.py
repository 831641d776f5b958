"""The simulator's universe: the packaged S&P 500 list, user CSVs through load_universe, and contract lookup."""

from __future__ import annotations

import zlib

import pytest

from terminal.domain import SecType
from terminal.sim.contracts import Listing, Universe, UniverseError, default_listings, load_universe

KNOWN_IB_CONTRACT_IDS = {
    "AAPL": 265598, "MSFT": 272093, "GOOG": 208813720, "AMZN": 3691937, "META": 107113386, "NVDA": 4815747,
    "TSLA": 76792991, "AMD": 4391, "INTC": 270639, "JPM": 1520593, "BAC": 10098, "XOM": 13977, "CVX": 5684,
    "KO": 8894, "PEP": 11017, "WMT": 13824, "JNJ": 8719, "PG": 2585, "V": 49462172, "MA": 53015237,
    "SPY": 756733, "QQQ": 320227571,
}
GICS_SECTORS = {
    "Communication Services", "Consumer Discretionary", "Consumer Staples", "Energy", "Financials", "Health Care",
    "Industrials", "Information Technology", "Materials", "Real Estate", "Utilities",
}
HEADER = "symbol,name,sector,primary_exchange,price,volatility,con_id,pair_with\n"


def _stocks() -> list[Listing]:
    return [item for item in Universe().listings if item.instrument.sec_type is SecType.STOCK]


def _write(tmp_path, text: str, name: str = "universe.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- the packaged universe --------------------------------------------------------------------------------------

def test_default_universe_lists_at_least_500_stocks_with_unique_symbols_and_ids():
    stocks = _stocks()
    symbols = [item.instrument.symbol for item in stocks]
    ids = [item.instrument.contract_id for item in Universe().listings]
    assert len(stocks) >= 500
    assert len(set(symbols)) == len(symbols)
    assert len(set(ids)) == len(ids)


def test_every_stock_has_a_positive_price_and_a_plausible_volatility():
    for item in _stocks():
        assert item.start_price > 0, item.instrument.symbol
        assert 0.12 <= item.annual_volatility <= 0.60, item.instrument.symbol


def test_stocks_carry_gics_sectors_us_primary_exchanges_and_names():
    for item in _stocks():
        ins = item.instrument
        etf = ins.symbol in ("SPY", "QQQ")
        assert (item.sector == "") if etf else (item.sector in GICS_SECTORS), ins.symbol
        assert ins.primary_exchange in ("NYSE", "NASDAQ", "ARCA", "BATS"), ins.symbol
        assert item.name and ins.description == item.name
        assert (ins.exchange, ins.currency, ins.tick_size, ins.local_symbol) == ("SMART", "USD", 0.01, ins.symbol)


def test_known_ib_contract_ids_are_kept_and_the_rest_are_simulator_ids():
    universe = Universe()
    for symbol, con_id in KNOWN_IB_CONTRACT_IDS.items():
        assert universe.by_id[con_id].instrument.symbol == symbol
    for item in _stocks():
        ins = item.instrument
        if ins.symbol not in KNOWN_IB_CONTRACT_IDS:
            assert ins.contract_id == 900_000_000 + zlib.crc32(ins.symbol.encode()) % 100_000_000


def test_the_simulators_original_stocks_keep_their_prices_and_exchanges():
    universe = Universe()
    aapl = universe.by_id[265598]
    assert (aapl.start_price, aapl.annual_volatility, aapl.name, aapl.instrument.primary_exchange) == (
        189.50, 0.25, "APPLE INC", "NASDAQ")
    assert universe.by_id[756733].instrument.primary_exchange == "ARCA"
    assert universe.by_id[11017].instrument.primary_exchange == "NASDAQ"


def test_pairs_are_linked_both_ways():
    stocks = {item.instrument.symbol: item for item in _stocks()}
    paired = {symbol: item.pair_with for symbol, item in stocks.items() if item.pair_with}
    assert paired == {"KO": "PEP", "PEP": "KO", "XOM": "CVX", "CVX": "XOM"}
    for symbol, partner in paired.items():
        assert stocks[partner].pair_with == symbol


def test_class_shares_use_ibs_spelling_with_a_space():
    universe = Universe()
    berkshire = universe.find(0, "BRK B", "STK", "USD")
    assert berkshire is not None and berkshire.instrument.local_symbol == "BRK B"
    assert universe.find(0, "BRK.B", "STK", "USD") is None


def test_futures_and_fx_are_always_in_the_universe():
    for universe in (Universe(), Universe(listings=[]), Universe(listings=default_listings()[:3])):
        found = {(item.instrument.symbol, item.instrument.sec_type) for item in universe.listings}
        assert {("ES", SecType.FUTURE), ("NQ", SecType.FUTURE), ("EUR", SecType.FOREX),
                ("GBP", SecType.FOREX)} <= found


def test_default_listings_are_parsed_once_per_process():
    assert default_listings() is default_listings()
    assert Universe().listings[0] is Universe().listings[0]


# --- lookup ---------------------------------------------------------------------------------------------------

def test_find_by_symbol_by_contract_id_and_by_local_symbol():
    universe = Universe()
    msft = universe.find(0, "msft", "STK", "USD", "SMART")
    assert msft is not None and msft.instrument.contract_id == 272093
    assert universe.find(272093, "", "", "") is msft
    assert universe.find(0, "MSFT", "STK", "USD", "NASDAQ") is msft
    assert universe.find(0, "MSFT", "STK", "USD", "NYSE") is None
    assert universe.find(0, "MSFT", "STK", "EUR") is None
    assert universe.find(0, "ZZZZ", "STK", "USD") is None
    assert universe.find(1, "MSFT", "STK", "USD") is None  # a conId is matched alone, as IB does
    assert universe.find(0, "", "FUT", "", local_symbol="ESZ6").instrument.symbol == "ES"
    assert universe.find(0, "EUR", "CASH", "USD").instrument.local_symbol == "EUR.USD"


def test_es_is_eversource_as_a_stock_and_the_e_mini_as_a_future():
    universe = Universe()
    assert universe.find(0, "ES", "STK", "USD").name == "EVERSOURCE ENERGY"
    assert universe.find(0, "ES", "FUT", "USD").instrument.multiplier == 50.0
    assert len(universe.by_symbol["ES"]) == 2


def test_search_puts_the_exact_symbol_first_then_prefixes_then_names():
    universe = Universe()
    found = [item.instrument.symbol for item in universe.search(" a ")]
    assert found[0] == "A"
    assert all(symbol.startswith("A") for symbol in found)
    assert len(found) == 16
    assert [item.instrument.symbol for item in universe.search("apple")] == ["AAPL"]
    assert universe.search("  ") == []


def test_symbols_keep_only_those_listings():
    universe = Universe(["ko", "PEP", "ESZ6"])
    assert sorted(item.instrument.local_symbol for item in universe.listings) == ["ESZ6", "KO", "PEP"]
    assert universe.find(0, "AAPL", "STK", "USD") is None


def test_a_universe_refuses_two_listings_with_one_contract_id():
    aapl = Universe().by_id[265598]
    with pytest.raises(UniverseError, match="^con_id 265598 is both AAPL and AAPL; every listing needs its own$"):
        Universe(listings=[aapl, aapl])


# --- load_universe --------------------------------------------------------------------------------------------

def test_load_universe_reads_a_full_file(tmp_path):
    path = _write(tmp_path, HEADER + "AAPL,APPLE INC,Information Technology,NASDAQ,189.50,0.25,265598,\n"
                                     "ko,Coca-Cola,Consumer Staples,nyse,62.45,0.14,8894,pep\n"
                                     "PEP,PepsiCo,Consumer Staples,NASDAQ,171.90,0.15,11017,\n")
    aapl, ko, pep = load_universe(path)
    assert (aapl.instrument.symbol, aapl.instrument.contract_id, aapl.instrument.primary_exchange) == (
        "AAPL", 265598, "NASDAQ")
    assert (aapl.start_price, aapl.annual_volatility, aapl.name, aapl.sector) == (
        189.50, 0.25, "APPLE INC", "Information Technology")
    assert (ko.instrument.symbol, ko.instrument.primary_exchange, ko.pair_with, pep.pair_with) == (
        "KO", "NYSE", "PEP", "KO")
    universe = Universe(listings=load_universe(path))
    assert len(universe.listings) == 3 + 4
    assert universe.find(0, "PEP", "STK", "USD") is not None


def test_load_universe_fills_optional_columns_with_defaults(tmp_path):
    path = _write(tmp_path, "\ufeffPrice, Symbol\n# a comment line\n\n12.5,abc\n7,XYZ.A\n")
    abc, xyz = load_universe(path)
    assert abc.instrument.symbol == "ABC" and abc.name == "ABC" and abc.sector == "" and abc.pair_with == ""
    assert (abc.start_price, abc.annual_volatility, abc.instrument.primary_exchange) == (12.5, 0.25, "NYSE")
    assert abc.instrument.contract_id == 900_000_000 + zlib.crc32(b"ABC") % 100_000_000
    assert xyz.instrument.local_symbol == "XYZ.A"


def test_load_universe_moves_a_simulator_id_on_when_a_file_already_uses_it(tmp_path):
    taken = 900_000_000 + zlib.crc32(b"ABC") % 100_000_000
    abc, other = load_universe(_write(tmp_path, f"symbol,price,con_id\nABC,10,\nDEF,20,{taken}\n"))
    assert (abc.instrument.contract_id, other.instrument.contract_id) == (taken + 1, taken)


@pytest.mark.parametrize(("text", "message"), [
    ("", "universe.csv is empty; it needs a header line naming at least symbol,price"),
    ("\n \n", "universe.csv is empty; it needs a header line naming at least symbol,price"),
    ("symbol,price\n", "universe.csv has a header but no rows; add one line per stock, e.g. AAPL,189.50"),
    ("symbol,name\nAAPL,Apple\n", "universe.csv line 1, header: no 'price' column; the header needs symbol and "
                                  "price (optional: name, sector, primary_exchange, volatility, con_id, pair_with)"),
    ("price\n10\n", "universe.csv line 1, header: no 'symbol' column; the header needs symbol and price "
                    "(optional: name, sector, primary_exchange, volatility, con_id, pair_with)"),
    ("symbol,price,volatilty\nAAPL,1,0.2\n", "universe.csv line 1, header: column 'volatilty' is not one of "
                                             "symbol, name, sector, primary_exchange, price, volatility, con_id, "
                                             "pair_with"),
    ("symbol,price,Price\nAAPL,1,2\n", "universe.csv line 1, header: column 'price' appears twice"),
    ("symbol,price\nAAPL,1,2\n", "universe.csv line 2: 3 fields but the header names 2; quote values that "
                                 "contain commas"),
    ("symbol,price\nAAPL,1\n,2\n", "universe.csv line 3, symbol: is empty; give a ticker such as AAPL"),
    ("symbol,price\nA$PL,1\n", "universe.csv line 2, symbol: 'A$PL' is not a ticker: up to 12 letters, digits, "
                               "spaces, '.' or '-'"),
    ("symbol,price\nAAPL,1\nMSFT,2\n\naapl,3\n", "universe.csv line 5, symbol: 'AAPL' is listed twice "
                                                 "(first on line 2)"),
    ("symbol,price\nAAPL,1\nMSFT,-3\n", "universe.csv line 3, price: '-3' is not a positive number"),
    ("symbol,price\nAAPL,\n", "universe.csv line 2, price: '' is not a positive number"),
    ("symbol,price\nAAPL,nan\n", "universe.csv line 2, price: 'nan' is not a positive number"),
    ("symbol,price\nAAPL\n", "universe.csv line 2, price: '' is not a positive number"),
    ("symbol,price,volatility\nAAPL,1,25\n", "universe.csv line 2, volatility: '25' is not an annual volatility "
                                             "above 0 and at most 3 (0.25 = 25%)"),
    ("symbol,price,volatility\nAAPL,1,0\n", "universe.csv line 2, volatility: '0' is not an annual volatility "
                                            "above 0 and at most 3 (0.25 = 25%)"),
    ("symbol,price,con_id\nAAPL,1,12.5\n", "universe.csv line 2, con_id: '12.5' is not a whole number from 1 to "
                                           "2147483647; leave it blank for a simulator id"),
    ("symbol,price,con_id\nAAPL,1,7\nMSFT,2,7\n", "universe.csv line 3, con_id: '7' is already AAPL's (line 2); "
                                                  "ids are unique"),
    ("symbol,price,con_id\nAAPL,1,620731015\n", "universe.csv line 2, con_id: '620731015' is the ESZ6 "
                                                "contract's; choose another or leave it blank"),
    ("symbol,price,primary_exchange\nAAPL,1,LSE\n", "universe.csv line 2, primary_exchange: 'LSE' is not one of "
                                                    "NYSE, NASDAQ, ARCA, AMEX, BATS, IEX"),
    ("symbol,price,pair_with\nKO,1,PEPX\n", "universe.csv line 2, pair_with: 'PEPX' is not a symbol in this file"),
    ("symbol,price,pair_with\nKO,1,ko\n", "universe.csv line 2, pair_with: 'ko' is the stock itself; name another "
                                          "symbol"),
    ("symbol,price,pair_with\nKO,1,PEP\nPEP,2,\nXOM,3,PEP\n", "universe.csv line 4, pair_with: 'PEP' is already "
                                                              "paired with 'KO' (line 2); a stock has one partner"),
])
def test_load_universe_names_file_line_and_field_of_a_bad_row(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(UniverseError) as caught:
        load_universe(path)
    assert str(caught.value) == message.replace("universe.csv", str(path))
    assert "\n" not in str(caught.value)


def test_load_universe_names_a_missing_file_a_directory_and_non_utf8_text(tmp_path):
    missing = tmp_path / "nope.csv"
    with pytest.raises(UniverseError) as caught:
        load_universe(missing)
    assert str(caught.value) == (f"{missing}: no such file; give the path of a CSV with columns "
                                 f"symbol,name,sector,primary_exchange,price,volatility,con_id,pair_with")
    with pytest.raises(UniverseError) as caught:
        load_universe(tmp_path)
    assert str(caught.value) == f"{tmp_path} is a directory; give the path of a CSV file"
    latin = tmp_path / "latin.csv"
    latin.write_bytes("symbol,name,price\nNESN,Nestl\u00e9,100\n".encode("latin-1"))
    with pytest.raises(UniverseError) as caught:
        load_universe(latin)
    assert str(caught.value) == f"{latin} is not UTF-8 text; save the list as a UTF-8 CSV file"


def test_universe_error_is_a_value_error():
    assert issubclass(UniverseError, ValueError)
