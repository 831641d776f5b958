"""The real quandl client, pointed at a local HTTP server that answers like Nasdaq Data Link."""

import pytest

from terminal.data.quandl_source import QuandlFetchError, fetch_dataset
from terminal.domain import ValidationError
from tests.support.quandl_server import QuandlServer


@pytest.fixture
def server():
    with QuandlServer() as s:
        yield s


def test_wiki_dataset_becomes_adjusted_ohlcv_bars(server):
    frame = fetch_dataset("WIKI/AAPL", api_key="k123", api_base=server.api_base)
    assert len(frame) == 5 and str(frame.index.tz) == "UTC"
    assert frame.iloc[0].tolist() == [175.04, 175.09, 171.26, 171.27, 35247358.0]
    path, query, token = server.requests[0]
    assert path == "/api/v3/datasets/WIKI/AAPL/data" and token == "k123" and query["order"] == ["asc"]


def test_date_range_is_passed_to_the_api(server):
    fetch_dataset("WIKI/AAPL", api_base=server.api_base, start="2018-03-22", end="2018-03-26")
    query = server.requests[0][1]
    assert query["start_date"] == ["2018-03-22"] and query["end_date"] == ["2018-03-26"]


def test_single_value_series_become_flat_bars(server):
    frame = fetch_dataset("FRED/DGS10", api_base=server.api_base)
    assert (frame["open"] == frame["close"]).all() and frame["close"].tolist() == [4.05, 3.98, 4.01]


def test_bad_api_key_says_how_to_set_one(server):
    with pytest.raises(QuandlFetchError, match="refused the API key.*NASDAQ_DATA_LINK_API_KEY"):
        fetch_dataset("WIKI/AAPL", api_key="bad-key", api_base=server.api_base, retries=False)


def test_rate_limit_429_is_reported(server):
    with pytest.raises(QuandlFetchError, match="rate limit"):
        fetch_dataset("WIKI/AAPL", api_key="busy-key", api_base=server.api_base, retries=False)


def test_unknown_dataset_and_malformed_code(server):
    with pytest.raises(QuandlFetchError, match="no dataset WIKI/NOPE"):
        fetch_dataset("WIKI/NOPE", api_base=server.api_base)
    with pytest.raises(ValidationError, match="DATABASE/DATASET"):
        fetch_dataset("AAPL", api_base=server.api_base)


def test_unreachable_server_is_reported():
    with pytest.raises(QuandlFetchError, match="cannot reach quandl"):
        fetch_dataset("WIKI/AAPL", api_base="http://127.0.0.1:9/api/v3", retries=False)


def test_a_server_that_is_not_quandl_is_named(tmp_path):
    import threading
    from functools import partial
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    (tmp_path / "datasets" / "WIKI" / "AAPL").mkdir(parents=True)
    (tmp_path / "datasets" / "WIKI" / "AAPL" / "data").write_text("<html>\n<p>a web page</p>\n</html>\n")
    with ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(tmp_path))) as web:
        threading.Thread(target=web.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{web.server_address[1]}"
        with pytest.raises(QuandlFetchError, match=f"the answer from {base} for WIKI/AAPL is not a quandl dataset"):
            fetch_dataset("WIKI/AAPL", api_base=base, retries=False)
        with pytest.raises(QuandlFetchError, match="HTTP 404") as info:
            fetch_dataset("WIKI/MSFT", api_base=base, retries=False)
        assert "\n" not in str(info.value)
        web.shutdown()
