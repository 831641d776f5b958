"""What the desk hub answers on ``replies`` for a terminal's ``requests``: reads from the hub's broker.

qualify, search, history, snapshot, what-if, server time and account values, each a plain call on the
hub's session; an error comes back as ``ok: false`` with its message and kind (a terminal raises the
same domain error, e.g. UnknownInstrument, as it would on its own connection).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from terminal.bus import codec
from terminal.domain import BarSize, DomainError
from terminal.services.session import TradingSession


async def answer(session: TradingSession, message: dict[str, Any]) -> dict[str, Any]:
    """The reply message to one request message."""
    terminal, request_id = str(message.get("terminal", "")), message.get("id")
    method, args = message.get("method"), message.get("args", {})
    market, broker = session.market, session.broker
    try:
        if method == "qualify":
            result: Any = codec.instrument_dict(await market.qualify(codec.instrument_from(args["instrument"])))
        elif method == "search":
            result = [codec.instrument_dict(i) for i in await broker.search(str(args["pattern"]))]
        elif method == "history":
            start, end = codec.parse_time(args["start"]), codec.parse_time(args["end"])
            assert start is not None and end is not None
            bars = await broker.history(codec.instrument_from(args["instrument"]), BarSize(args["bar_size"]),
                                        start, end)
            result = [[codec.iso(b.time), b.open, b.high, b.low, b.close, b.volume] for b in bars]
        elif method == "snapshot":
            instrument = codec.instrument_from(args["instrument"])
            quote = await broker.snapshot(instrument, float(args.get("timeout", 3.0)))
            result = codec.quote_message(instrument, quote)
        elif method == "what_if":
            preview = await broker.what_if(codec.order_from(args["order"]), float(args.get("timeout", 5.0)))
            # OrderPreview is slotted: no __dict__ (that answered every what-if with an AttributeError)
            result = {k: codec.num(v) if isinstance(v, float) else v for k, v in asdict(preview).items()}
        elif method == "server_time":
            result = codec.iso(await broker.server_time())
        elif method == "account_values":
            result = [[v.account, v.tag, v.value, v.currency] for v in await broker.account_values()]
        else:
            raise DomainError(f"unknown request {method!r}")
        return codec.envelope("reply", id=request_id, terminal=terminal, ok=True, result=result)
    except Exception as exc:
        return codec.envelope("reply", id=request_id, terminal=terminal, ok=False,
                              error=f"{type(exc).__name__}: {exc}", kind=type(exc).__name__)
