"""A local HTTP server that answers like the Nasdaq Data Link (quandl) v3 API, for the real quandl client."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

WIKI_COLUMNS = ["Date", "Open", "High", "Low", "Close", "Volume", "Ex-Dividend", "Split Ratio",
                "Adj. Open", "Adj. High", "Adj. Low", "Adj. Close", "Adj. Volume"]
WIKI_AAPL_ROWS = [
    ["2018-03-21", 175.04, 175.09, 171.26, 171.27, 35247358.0, 0.0, 1.0, 175.04, 175.09, 171.26, 171.27, 35247358.0],
    ["2018-03-22", 170.0, 172.68, 168.6, 168.845, 41051076.0, 0.0, 1.0, 170.0, 172.68, 168.6, 168.845, 41051076.0],
    ["2018-03-23", 168.39, 169.92, 164.94, 164.94, 40248954.0, 0.0, 1.0, 168.39, 169.92, 164.94, 164.94, 40248954.0],
    ["2018-03-26", 168.07, 173.1, 166.44, 172.77, 36272617.0, 0.0, 1.0, 168.07, 173.1, 166.44, 172.77, 36272617.0],
    ["2018-03-27", 173.68, 175.15, 166.92, 168.34, 38962839.0, 0.0, 1.0, 173.68, 175.15, 166.92, 168.34, 38962839.0],
]
FRED_ROWS = [["2024-01-02", 4.05], ["2024-01-03", 3.98], ["2024-01-04", 4.01]]


class QuandlHandler(BaseHTTPRequestHandler):
    server: QuandlServer

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def _send(self, status: int, body: dict) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        url = urlparse(self.path)
        self.server.requests.append((url.path, parse_qs(url.query), self.headers.get("x-api-token")))
        token = self.headers.get("x-api-token")
        if token == "bad-key":
            self._send(400, {"quandl_error": {"code": "QEAx01", "message": "We could not recognize your API key."}})
            return
        if token == "busy-key":
            self._send(429, {"quandl_error": {"code": "QELx01", "message": "You have exceeded the API speed limit."}})
            return
        if url.path.endswith("/datasets/WIKI/AAPL/data.json") or url.path.endswith("/datasets/WIKI/AAPL/data"):
            self._send(200, _dataset_data(WIKI_COLUMNS, WIKI_AAPL_ROWS))
        elif "/datasets/FRED/DGS10/data" in url.path:
            self._send(200, _dataset_data(["Date", "Value"], FRED_ROWS))
        else:
            self._send(404, {"quandl_error": {"code": "QECx02", "message": "You have submitted an incorrect Quandl code."}})


def _dataset_data(columns: list[str], rows: list[list]) -> dict:
    return {"dataset_data": {
        "limit": None, "transform": None, "column_index": None, "column_names": columns,
        "start_date": rows[0][0], "end_date": rows[-1][0], "frequency": "daily",
        "data": rows, "collapse": None, "order": "asc",
    }}


class QuandlServer(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), QuandlHandler)
        self.requests: list[tuple[str, dict, str | None]] = []
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/api/v3"

    def __enter__(self) -> QuandlServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
        self.server_close()
