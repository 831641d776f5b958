"""The desk bus's messages: plain JSON any consumer can read (the README documents every field).

Every message is an object with ``v`` (the schema version, ``SCHEMA_VERSION``), ``type`` and ``sent``
(the producer's wall clock, epoch seconds). Times of market and trading events are ISO-8601 UTC strings;
a number that is not known (NaN) is ``null``. Decoders accept any message of a version up to ours and
refuse a newer one with a message that says so, so a terminal never guesses at fields it does not know.
"""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime
from typing import Any

from terminal.domain import (
    Account,
    Bar,
    BarSize,
    Fill,
    Instrument,
    Order,
    OrderSide,
    OrderStatus,
    OrderType,
    Position,
    Provenance,
    Quote,
    SecType,
    TimeInForce,
)

SCHEMA_VERSION = 1


class BadMessage(ValueError):
    """A message on the bus that this release cannot read (malformed, or of a newer schema)."""


def num(value: float | None) -> float | None:
    return None if value is None or (isinstance(value, float) and not math.isfinite(value)) else value


def to_float(value: Any) -> float:
    return math.nan if value is None else float(value)


def _opt(value: Any) -> float | None:
    return None if value is None else float(value)


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def parse_time(text: Any) -> datetime | None:
    if text is None or text == "":
        return None
    moment = datetime.fromisoformat(str(text))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def dumps(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":"), allow_nan=False).encode()


def loads(payload: bytes | str) -> dict[str, Any]:
    """One message, checked for its envelope; raises BadMessage."""
    try:
        message = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadMessage(f"not JSON: {exc}") from None
    if not isinstance(message, dict) or "type" not in message:
        raise BadMessage("not a bus message (an object with 'v' and 'type')")
    version = message.get("v")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise BadMessage(f"message of schema version {version!r}; this release reads up to {SCHEMA_VERSION}: "
                         "upgrade this program")
    return message


def envelope(message_type: str, /, **fields: Any) -> dict[str, Any]:
    return {"v": SCHEMA_VERSION, "type": message_type, "sent": time.time(), **fields}


# --- instruments ---------------------------------------------------------------------------------
def instrument_dict(instrument: Instrument) -> dict[str, Any]:
    return {"key": instrument.key, "symbol": instrument.symbol, "sec_type": instrument.sec_type.value,
            "exchange": instrument.exchange, "currency": instrument.currency, "tick_size": instrument.tick_size,
            "multiplier": instrument.multiplier, "contract_id": instrument.contract_id,
            "primary_exchange": instrument.primary_exchange, "local_symbol": instrument.local_symbol,
            "description": instrument.description, "lot_size": instrument.lot_size,
            "last_trade_date": instrument.last_trade_date}


def instrument_from(data: dict[str, Any]) -> Instrument:
    try:
        return Instrument(str(data["symbol"]), SecType(data.get("sec_type", "STK")), data.get("exchange", "SMART"),
                          data.get("currency", "USD"), float(data.get("tick_size", 0.01)),
                          float(data.get("multiplier", 1.0)), int(data.get("contract_id", 0)),
                          data.get("primary_exchange", ""), data.get("local_symbol", ""), data.get("description", ""),
                          float(data.get("lot_size", 1.0)), data.get("last_trade_date", ""))
    except (KeyError, TypeError, ValueError) as exc:
        raise BadMessage(f"bad instrument {data!r}: {exc}") from None


# --- market data ---------------------------------------------------------------------------------
QUOTE_FIELDS = ("bid", "ask", "last", "bid_size", "ask_size", "last_size", "volume", "close", "high", "low")


def quote_message(instrument: Instrument, quote: Quote) -> dict[str, Any]:
    message = envelope("quote", key=instrument.key, symbol=instrument.display_name)
    for name in QUOTE_FIELDS:
        message[name] = num(getattr(quote, name))
    message["time"] = iso(quote.time)
    return message


def quote_from(message: dict[str, Any], symbol: str) -> Quote:
    get = message.get
    return Quote(symbol, to_float(get("bid")), to_float(get("ask")), to_float(get("last")), to_float(get("bid_size")),
                 to_float(get("ask_size")), to_float(get("last_size")), to_float(get("volume")), to_float(get("close")),
                 to_float(get("high")), to_float(get("low")), parse_time(get("time")))


def depth_message(instrument: Instrument, bids: tuple, asks: tuple) -> dict[str, Any]:
    return envelope("depth", key=instrument.key, symbol=instrument.display_name,
                    bids=[[p, s] for p, s in bids], asks=[[p, s] for p, s in asks], time=iso(datetime.now(UTC)))


def depth_from(message: dict[str, Any]) -> tuple[tuple[tuple[float, float], ...], tuple[tuple[float, float], ...]]:
    return (tuple((float(p), float(s)) for p, s in message.get("bids", ())),
            tuple((float(p), float(s)) for p, s in message.get("asks", ())))


def bar_message(instrument: Instrument, bar: Bar) -> dict[str, Any]:
    return envelope("bar", key=instrument.key, symbol=instrument.display_name, bar_size=bar.bar_size.value,
                    time=iso(bar.time), open=bar.open, high=bar.high, low=bar.low, close=bar.close,
                    volume=num(bar.volume))


def bar_from(message: dict[str, Any]) -> Bar:
    time_ = parse_time(message["time"])
    assert time_ is not None
    return Bar(time_, float(message["open"]), float(message["high"]), float(message["low"]),
               float(message["close"]), to_float(message.get("volume")) if message.get("volume") is not None else 0.0,
               BarSize(message.get("bar_size", "5s")))


# --- orders and fills ----------------------------------------------------------------------------
def order_dict(order: Order) -> dict[str, Any]:
    return {
        "client_order_id": order.client_order_id, "order_id": order.order_id, "perm_id": order.perm_id,
        "account": order.account, "instrument": instrument_dict(order.instrument), "symbol": order.instrument.display_name,
        "side": order.side.value, "quantity": order.quantity, "order_type": order.order_type.value,
        "limit_price": num(order.limit_price), "stop_price": num(order.stop_price),
        "trail_amount": num(order.trail_amount), "trail_percent": num(order.trail_percent),
        "time_in_force": order.time_in_force.value, "outside_rth": order.outside_rth, "parent_id": order.parent_id,
        "parent_ref": order.parent_ref, "oca_group": order.oca_group, "transmit": order.transmit,
        "status": order.status.value, "filled_quantity": order.filled_quantity,
        "average_fill_price": order.average_fill_price, "created": iso(order.created), "updated": iso(order.updated),
        "reason": order.reason, "source": order.source, "api_client_id": order.api_client_id,
        "provenance": order.provenance.value,
    }


def order_from(data: dict[str, Any]) -> Order:
    try:
        return Order(
            instrument_from(data["instrument"]), OrderSide(data["side"]), float(data["quantity"]),
            OrderType(data.get("order_type", "MKT")), _opt(data.get("limit_price")), _opt(data.get("stop_price")),
            _opt(data.get("trail_amount")), _opt(data.get("trail_percent")), TimeInForce(data.get("time_in_force", "DAY")),
            bool(data.get("outside_rth", False)), int(data.get("parent_id", 0)), data.get("oca_group", ""),
            bool(data.get("transmit", True)), str(data.get("client_order_id", "")), int(data.get("order_id", 0)),
            data.get("account", ""), OrderStatus(data.get("status", "PendingSubmit")),
            float(data.get("filled_quantity", 0.0)), float(data.get("average_fill_price", 0.0)),
            parse_time(data.get("created")), parse_time(data.get("updated")), data.get("reason", ""),
            data.get("source", "manual"), int(data.get("perm_id", 0)), data.get("parent_ref", ""),
            api_client_id=int(data.get("api_client_id", 0)),
            provenance=Provenance(data.get("provenance", "unknown")))
    except (KeyError, TypeError, ValueError) as exc:
        raise BadMessage(f"bad order {data.get('client_order_id', '?')}: {exc}") from None


def order_message(order: Order, trader: str = "", terminal: str = "", rule: str = "") -> dict[str, Any]:
    """``rule`` is set when the hub refused the command (desk risk, expired, …): the order never left the hub."""
    return envelope("order", **order_dict(order), trader=trader, terminal=terminal, rule=rule)


def fill_message(fill: Fill, trader: str = "", terminal: str = "") -> dict[str, Any]:
    return envelope("fill", exec_id=fill.execution_id, client_order_id=fill.client_order_id, order_id=fill.order_id,
                    perm_id=fill.perm_id, account=fill.account, instrument=instrument_dict(fill.instrument),
                    symbol=fill.instrument.display_name, side=fill.side.value, quantity=fill.quantity,
                    price=fill.price, commission=num(fill.commission), realized_pnl=num(fill.realized_pnl),
                    time=iso(fill.time), provenance=fill.provenance.value, trader=trader, terminal=terminal)


def fill_from(message: dict[str, Any]) -> Fill:
    try:
        moment = parse_time(message["time"])
        assert moment is not None
        return Fill(str(message["exec_id"]), int(message.get("order_id", 0)), instrument_from(message["instrument"]),
                    OrderSide(message["side"]), float(message["quantity"]), float(message["price"]), moment,
                    to_float(message.get("commission")) if message.get("commission") is not None else 0.0,
                    message.get("account", ""), message.get("client_order_id", ""),
                    float(message.get("realized_pnl") or 0.0), int(message.get("perm_id", 0)),
                    Provenance(message.get("provenance", "unknown")))
    except (KeyError, TypeError, ValueError, AssertionError) as exc:
        raise BadMessage(f"bad fill {message.get('exec_id', '?')}: {exc}") from None


# --- positions and accounts ----------------------------------------------------------------------
def position_dict(position: Position) -> dict[str, Any]:
    return {"instrument": instrument_dict(position.instrument), "symbol": position.instrument.display_name,
            "quantity": position.quantity, "average_cost": position.average_cost,
            "realized_pnl": num(position.realized_pnl), "market_price": num(position.market_price)}


def positions_message(account: str, positions: list[Position]) -> dict[str, Any]:
    """The account's whole position list: on a compacted topic keyed by account, the latest is the state."""
    return envelope("positions", account=account, positions=[position_dict(p) for p in positions],
                    time=iso(datetime.now(UTC)))


def positions_from(message: dict[str, Any]) -> list[Position]:
    account = message.get("account", "")
    return [Position(instrument_from(p["instrument"]), float(p["quantity"]), float(p.get("average_cost", 0.0)),
                     float(p.get("realized_pnl") or 0.0), to_float(p.get("market_price")), account)
            for p in message.get("positions", ())]


def account_message(account: Account) -> dict[str, Any]:
    return envelope("account", account=account.account, net_liquidation=num(account.net_liquidation),
                    total_cash=num(account.total_cash), buying_power=num(account.buying_power),
                    daily_pnl=num(account.daily_pnl), unrealized_pnl=num(account.unrealized_pnl),
                    realized_pnl=num(account.realized_pnl), currency=account.currency,
                    provenance=account.provenance.value, time=iso(datetime.now(UTC)))


def account_from(message: dict[str, Any]) -> Account:
    get = message.get
    return Account(get("account", ""), to_float(get("net_liquidation")), to_float(get("total_cash")),
                   to_float(get("buying_power")), to_float(get("daily_pnl")), to_float(get("unrealized_pnl")),
                   to_float(get("realized_pnl")), get("currency", "USD"), Provenance(get("provenance", "unknown")))

