"""The OpenAPI 3.1 description of the monitor's API, served at ``/openapi.json``."""

from __future__ import annotations

from typing import Any

NUMBER = {"type": ["number", "null"]}
TEXT = {"type": "string"}
TIME = {"type": ["string", "null"], "format": "date-time"}
PROVENANCE = {"enum": ["live", "paper", "simulator", "replay", "csv", "quandl", "unknown"]}


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


def _rows(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


POSITION = _object({"account": TEXT, "instrument_key": TEXT, "symbol": TEXT, "sec_type": TEXT, "currency": TEXT,
                    "quantity": NUMBER, "average_cost": NUMBER, "market_price": NUMBER, "market_value": NUMBER,
                    "unrealized_pnl": NUMBER, "realized_pnl": NUMBER})
ORDER = _object({"client_order_id": TEXT, "order_id": {"type": "integer"}, "account": TEXT, "instrument_key": TEXT,
                 "symbol": TEXT, "side": {"enum": ["BUY", "SELL"]}, "quantity": NUMBER, "order_type": TEXT,
                 "limit_price": NUMBER, "stop_price": NUMBER, "time_in_force": TEXT, "status": TEXT,
                 "filled_quantity": NUMBER, "average_fill_price": NUMBER, "source": TEXT, "provenance": PROVENANCE,
                 "created": TIME, "updated": TIME})
FILL = _object({"execution_id": TEXT, "client_order_id": TEXT, "account": TEXT, "instrument_key": TEXT,
                "symbol": TEXT, "side": {"enum": ["BUY", "SELL"]}, "quantity": NUMBER, "price": NUMBER,
                "commission": NUMBER, "realized_pnl": NUMBER, "time": TIME, "provenance": PROVENANCE})
EQUITY_POINT = _object({"time": TIME, "net_liquidation": NUMBER, "daily_pnl": NUMBER})
HEADER = {"schema": {"type": "integer", "description": "schema version of the payload (1)"}, "updated": TIME}

ENDPOINTS: dict[str, tuple[str, dict[str, Any]]] = {
    "/api/health": ("Liveness, version, mode (terminal or store) and when each section last changed",
                    _object({"status": TEXT, "version": TEXT, "mode": {"enum": ["terminal", "store"]},
                             "started": TIME, "time": TIME, "connection": TEXT,
                             "updated": {"type": "object", "additionalProperties": TIME}})),
    "/api/connection": ("Broker connection: state (CONNECTED, RECONNECTING, DISCONNECTED…), endpoint, account",
                        _object({**HEADER, "state": TEXT, "endpoint": TEXT, "message": TEXT, "account": TEXT,
                                 "broker": {"enum": ["IB", "simulator", "store"]}, "provenance": PROVENANCE,
                                 "next_retry_seconds": NUMBER})),
    "/api/account": ("Account values and the trading day's P&L",
                     _object({**HEADER, "account": TEXT, "provenance": PROVENANCE, "net_liquidation": NUMBER, "total_cash": NUMBER,
                              "buying_power": NUMBER, "daily_pnl": NUMBER, "realized_pnl": NUMBER,
                              "unrealized_pnl": NUMBER, "values": {"type": "object"}})),
    "/api/positions": ("Open positions with market price and P&L", _object({**HEADER, "positions": _rows(POSITION)})),
    "/api/orders": ("Working orders", _object({**HEADER, "orders": _rows(ORDER)})),
    "/api/fills": ("Today's fills (since the trading day's reset time), oldest first",
                   _object({**HEADER, "fills": _rows(FILL)})),
    "/api/equity": ("Intraday equity: net liquidation and daily P&L, one point per 5 s at most",
                    _object({**HEADER, "equity": _rows(EQUITY_POINT)})),
    "/api/alerts": ("Price alerts, and the log's recent warnings and errors",
                    _object({**HEADER, "alerts": _rows(_object({"id": {"type": "integer"}, "symbol": TEXT,
                                                                 "price": NUMBER, "direction": TEXT,
                                                                 "fired": {"type": "boolean"}, "description": TEXT})),
                             "events": _rows(_object({"time": TIME, "severity": TEXT, "source": TEXT,
                                                      "message": TEXT}))})),
    "/api/runs": ("Recent backtest runs with their headline statistics",
                  _object({**HEADER, "runs": _rows(_object({"id": {"type": "integer"}, "strategy": TEXT,
                                                            "version": {"type": "integer"}, "engine": TEXT,
                                                            "symbols": _rows(TEXT), "started": TEXT,
                                                            "finished": TEXT, "status": TEXT,
                                                            "statistics": {"type": "object"}}))})),
    "/api/snapshot": ("Every section above in one object, keyed by section name", {"type": "object"}),
}


def openapi_document(version: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for path, (summary, schema) in ENDPOINTS.items():
        paths[path] = {"get": {"summary": summary, "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": schema}}},
            "401": {"description": "a bearer token is set and the request did not carry it"}}}}
    paths["/api/stream"] = {"get": {
        "summary": "Server-Sent Events: each section once, then every change; event name = section name. "
                   "fills and equity events carry {reset, total, rows} with only the new rows",
        "responses": {"200": {"description": "event stream", "content": {"text/event-stream": {}}}}}}
    paths["/healthz"] = {"get": {"summary": "Liveness for load balancers (no token needed)", "responses": {
        "200": {"description": "ok", "content": {"text/plain": {}}}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "QuantTerminal monitor", "version": version,
                 "description": "Read-only view of a terminal's (or a desk store's) trading state. Every method "
                                "but GET and HEAD answers 405."},
        "paths": paths,
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}, {}],
    }
