"""Nasdaq Data Link (quandl) time series through the official ``quandl`` client, mapped to OHLCV bars."""

from __future__ import annotations

import re

import pandas as pd
import quandl
from quandl.errors.quandl_error import (
    AuthenticationError,
    ForbiddenError,
    LimitExceededError,
    NotFoundError,
    QuandlError,
)

from terminal.domain import Provenance, ValidationError

PROVENANCE = Provenance.QUANDL  # what bars stored from Nasdaq Data Link are recorded as

_CANDIDATES = {
    "open": ("Adj. Open", "Open", "Opening Price"),
    "high": ("Adj. High", "High"),
    "low": ("Adj. Low", "Low"),
    "close": ("Adj. Close", "Close", "Last", "Settle", "Value", "Rate", "Price"),
    "volume": ("Adj. Volume", "Volume", "Total Volume"),
}


class QuandlFetchError(RuntimeError):
    """A dataset could not be fetched; the message says why and what to do."""


def fetch_dataset(
    code: str,
    api_key: str = "",
    api_base: str = "",
    start: str | None = None,
    end: str | None = None,
    retries: bool = True,
) -> pd.DataFrame:
    """Fetch ``DATABASE/DATASET`` and return OHLCV bars (UTC daily index).

    Single-value series (rates, indices) become bars with open = high = low = close.
    """
    if "/" not in code or code.startswith("/") or code.endswith("/"):
        raise ValidationError(f"quandl code {code!r} must look like DATABASE/DATASET, e.g. WIKI/AAPL")
    config = quandl.ApiConfig
    saved = (config.api_key, config.api_base, config.use_retries)
    try:
        config.api_key = api_key or None
        if api_base:
            config.api_base = api_base.rstrip("/")
        config.use_retries = retries
        options = {}
        if start:
            options["start_date"] = start
        if end:
            options["end_date"] = end
        frame = quandl.get(code, **options)
    except AuthenticationError as exc:
        raise QuandlFetchError(
            f"quandl refused the API key for {code} ({exc.quandl_message}); set NASDAQ_DATA_LINK_API_KEY "
            "or QT_QUANDL_API_KEY, or store it in the keyring"
        ) from exc
    except LimitExceededError as exc:
        raise QuandlFetchError(
            f"quandl rate limit reached while fetching {code} ({exc.quandl_message}); wait and retry, "
            "or use an API key with a higher limit"
        ) from exc
    except NotFoundError as exc:
        raise QuandlFetchError(f"quandl has no dataset {code} ({exc.quandl_message})") from exc
    except ForbiddenError as exc:
        raise QuandlFetchError(f"quandl denies access to {code} ({exc.quandl_message}); check the subscription") from exc
    except QuandlError as exc:
        detail = " ".join(str(exc.quandl_message or exc.http_body).split())[:300]  # a web page's body, on one line
        raise QuandlFetchError(f"quandl error for {code}: HTTP {exc.http_status}: {detail}") from exc
    except ValueError as exc:  # requests' JSONDecodeError (also an OSError): a server answered, but not quandl
        raise QuandlFetchError(f"the answer from {config.api_base} for {code} is not a quandl dataset "
                               f"({' '.join(str(exc).split())}); check the API base URL") from exc
    except OSError as exc:
        raise QuandlFetchError(f"cannot reach quandl at {config.api_base} for {code}: {_network_reason(exc)}; "
                               "check the API base URL and the network") from exc
    finally:
        config.api_key, config.api_base, config.use_retries = saved
    return to_bars(frame, code)


def _network_reason(exc: OSError) -> str:
    """The socket error inside requests' nested wrappers ("Connection refused"), else the whole text on one line."""
    text = " ".join(str(exc).split())
    found = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    return found.group(1).strip() if found else text


def to_bars(frame: pd.DataFrame, code: str = "") -> pd.DataFrame:
    """Map a quandl frame's columns (Adj. Close, Settle, Value…) to open/high/low/close/volume."""
    chosen: dict[str, str] = {}
    for field, names in _CANDIDATES.items():
        for name in names:
            if name in frame.columns:
                chosen[field] = name
                break
    if "close" not in chosen:
        raise QuandlFetchError(f"dataset {code} has no price column; columns: {', '.join(map(str, frame.columns))}")
    close = pd.to_numeric(frame[chosen["close"]], errors="coerce")
    out = pd.DataFrame(index=pd.DatetimeIndex(frame.index).tz_localize("UTC"))
    out["close"] = close.to_numpy()
    for field in ("open", "high", "low"):
        out[field] = pd.to_numeric(frame[chosen[field]], errors="coerce").to_numpy() if field in chosen else out["close"]
    out["volume"] = pd.to_numeric(frame[chosen["volume"]], errors="coerce").fillna(0.0).to_numpy() if "volume" in chosen else 0.0
    out = out.dropna(subset=["open", "high", "low", "close"])
    out["high"] = out[["open", "high", "low", "close"]].max(axis=1)
    out["low"] = out[["open", "high", "low", "close"]].min(axis=1)
    out.index.name = "time"
    return out[["open", "high", "low", "close", "volume"]].sort_index()
