"""The simulator's instrument universe: US stocks and ETFs, two index futures, two FX pairs, with real tick rules."""

from __future__ import annotations

from dataclasses import dataclass

from terminal.domain import Instrument, SecType


@dataclass(frozen=True)
class Listing:
    """An instrument plus what its simulated price path needs."""

    instrument: Instrument
    start_price: float
    annual_volatility: float
    name: str
    pair_with: str = ""  # a cointegrated partner (pairs trading demo)


def _stock(symbol: str, con_id: int, price: float, vol: float, primary: str, name: str, pair: str = "") -> Listing:
    return Listing(Instrument(symbol, SecType.STOCK, "SMART", "USD", 0.01, 1.0, con_id, primary, symbol,
                              name), price, vol, name, pair)


_LISTINGS = [
    _stock("AAPL", 265598, 189.50, 0.25, "NASDAQ", "APPLE INC"),
    _stock("MSFT", 272093, 415.20, 0.24, "NASDAQ", "MICROSOFT CORP"),
    _stock("GOOG", 208813720, 171.30, 0.28, "NASDAQ", "ALPHABET INC-CL C"),
    _stock("AMZN", 3691937, 183.60, 0.30, "NASDAQ", "AMAZON.COM INC"),
    _stock("META", 107113386, 497.80, 0.35, "NASDAQ", "META PLATFORMS INC-CLASS A"),
    _stock("NVDA", 4815747, 121.40, 0.50, "NASDAQ", "NVIDIA CORP"),
    _stock("TSLA", 76792991, 178.10, 0.55, "NASDAQ", "TESLA INC"),
    _stock("AMD", 4391, 158.70, 0.45, "NASDAQ", "ADVANCED MICRO DEVICES"),
    _stock("INTC", 270639, 30.85, 0.35, "NASDAQ", "INTEL CORP"),
    _stock("JPM", 1520593, 198.40, 0.20, "NYSE", "JPMORGAN CHASE & CO"),
    _stock("BAC", 10098, 38.90, 0.25, "NYSE", "BANK OF AMERICA CORP"),
    _stock("XOM", 13977, 113.20, 0.22, "NYSE", "EXXON MOBIL CORP", pair="CVX"),
    _stock("CVX", 5684, 156.10, 0.22, "NYSE", "CHEVRON CORP", pair="XOM"),
    _stock("KO", 8894, 62.45, 0.14, "NYSE", "COCA-COLA CO/THE", pair="PEP"),
    _stock("PEP", 11017, 171.90, 0.15, "NASDAQ", "PEPSICO INC", pair="KO"),
    _stock("WMT", 13824, 67.30, 0.16, "NYSE", "WALMART INC"),
    _stock("JNJ", 8719, 147.60, 0.15, "NYSE", "JOHNSON & JOHNSON"),
    _stock("PG", 2585, 165.20, 0.15, "NYSE", "PROCTER & GAMBLE CO/THE"),
    _stock("V", 49462172, 274.90, 0.20, "NYSE", "VISA INC-CLASS A SHARES"),
    _stock("MA", 53015237, 448.30, 0.21, "NYSE", "MASTERCARD INC - A"),
    _stock("SPY", 756733, 528.40, 0.15, "ARCA", "SPDR S&P 500 ETF TRUST"),
    _stock("QQQ", 320227571, 452.10, 0.19, "NASDAQ", "INVESCO QQQ TRUST SERIES 1"),
    Listing(Instrument("ES", SecType.FUTURE, "CME", "USD", 0.25, 50.0, 620731015, "", "ESZ6", "E-mini S&P 500",
                       last_trade_date="20261218"), 5310.25, 0.15, "E-mini S&P 500"),
    Listing(Instrument("NQ", SecType.FUTURE, "CME", "USD", 0.25, 20.0, 620730945, "", "NQZ6", "E-mini Nasdaq-100",
                       last_trade_date="20261218"), 18540.50, 0.19, "E-mini Nasdaq-100"),
    Listing(Instrument("EUR", SecType.FOREX, "IDEALPRO", "USD", 0.00005, 1.0, 12087792, "", "EUR.USD",
                       "European Monetary Union Euro", lot_size=1.0), 1.08525, 0.07, "EUR.USD"),
    Listing(Instrument("GBP", SecType.FOREX, "IDEALPRO", "USD", 0.00005, 1.0, 12087797, "", "GBP.USD",
                       "British pound", lot_size=1.0), 1.26810, 0.08, "GBP.USD"),
]


class Universe:
    """Lookup of listings the way IB matches a contract request: by conId, else symbol + type + currency."""

    def __init__(self, symbols: list[str] | None = None) -> None:
        wanted = {s.upper() for s in symbols} if symbols else None
        self.listings = [item for item in _LISTINGS if wanted is None or item.instrument.symbol in wanted
                         or item.instrument.local_symbol in wanted]
        self.by_id = {item.instrument.contract_id: item for item in self.listings}

    def find(self, con_id: int, symbol: str, sec_type: str, currency: str, exchange: str = "",
             local_symbol: str = "") -> Listing | None:
        if con_id:
            return self.by_id.get(con_id)
        symbol = symbol.upper()
        for item in self.listings:
            ins = item.instrument
            if local_symbol and local_symbol.upper() == ins.local_symbol.upper() and (not sec_type or sec_type == ins.sec_type.value):
                return item
            if symbol != ins.symbol:
                continue
            if sec_type and sec_type != ins.sec_type.value:
                continue
            if currency and currency != ins.currency:
                continue
            if exchange and exchange not in ("SMART", ins.exchange, ins.primary_exchange):
                continue
            return item
        return None

    def search(self, pattern: str) -> list[Listing]:
        pattern = pattern.upper().strip()
        if not pattern:
            return []
        starts = [i for i in self.listings if i.instrument.symbol.startswith(pattern)]
        names = [i for i in self.listings if pattern in i.name.upper() and i not in starts]
        return (starts + names)[:16]

    def instruments(self) -> list[Instrument]:
        return [item.instrument for item in self.listings]
