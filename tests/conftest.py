"""Shared fixtures: temporary stores (SQLite and a real MariaDB), settings, data files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_NO_KEYRING", "1")

IN_CI = bool(os.environ.get("CI"))
pytest_plugins = ["tests.support.trading"]  # loop, sims, sessions


@pytest.fixture(scope="session")
def mysql_url():
    """URL of a MariaDB/MySQL database: QT_TEST_MYSQL_URL, else a private server started for the session."""
    url = os.environ.get("QT_TEST_MYSQL_URL")
    if url:
        yield url
        return
    from tests.support.mariadb import PrivateMariaDB

    server = PrivateMariaDB()
    if server.server is None:
        if IN_CI:
            pytest.fail("CI must provide MariaDB: no mariadbd found and QT_TEST_MYSQL_URL is not set")
        pytest.skip("MariaDB tests need mariadb-server installed (or QT_TEST_MYSQL_URL)")
    try:
        yield server.start()
    finally:
        server.stop()


def _reset_mysql(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("SET FOREIGN_KEY_CHECKS=0"))
        for (name,) in conn.execute(text("SHOW TABLES")).all():
            conn.execute(text(f"DROP TABLE `{name}`"))
        conn.execute(text("SET FOREIGN_KEY_CHECKS=1"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def store(request, tmp_path: Path):
    """An empty store, once on SQLite and once on a real MariaDB."""
    from terminal.store import Store

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    else:
        url = request.getfixturevalue("mysql_url")
        _reset_mysql(url)
    s = Store.open(url)
    yield s
    s.close()


@pytest.fixture
def sqlite_store(tmp_path: Path):
    from terminal.store import Store

    s = Store.open(f"sqlite:///{tmp_path / 'store.sqlite'}")
    yield s
    s.close()


@pytest.fixture(scope="session")
def real_csv_dir() -> Path:
    """Real market series shipped by the backtesting package (GOOG daily, EURUSD hourly, BTCUSD monthly)."""
    import backtesting

    return Path(backtesting.__file__).parent / "test"
