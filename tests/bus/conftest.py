"""Fixtures of the desk-bus tests: a real Kafka broker, a hub on the simulator, terminal sessions on the feed."""

from __future__ import annotations

import os
import uuid

import pytest

from terminal.bus.kafka import Topics
from tests.conftest import IN_CI
from tests.support.kafka import PrivateKafka, can_run


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory):
    """HOST:PORT of a Kafka broker: QT_TEST_KAFKA_BOOTSTRAP (CI starts one per run), else a private one."""
    given = os.environ.get("QT_TEST_KAFKA_BOOTSTRAP")
    if given:
        yield given
        return
    why = can_run()
    if why:
        if IN_CI:
            pytest.fail(f"CI must provide Kafka: {why}, and QT_TEST_KAFKA_BOOTSTRAP is not set")
        pytest.skip(why)
    broker = PrivateKafka(tmp_path_factory.mktemp("kafka"))
    yield broker.start(fresh=True)
    broker.stop()


@pytest.fixture
def topics():
    """Topics of this test alone (a fresh prefix), so tests on one broker never see each other's messages."""
    return Topics(f"t{uuid.uuid4().hex[:10]}.")


@pytest.fixture
def desk(loop, tmp_path, kafka_bootstrap, topics, sims):
    """``desk.hub(...)``, ``desk.terminal(trader, ...)``: a hub on an in-process simulator and terminal sessions
    on its feed, each with its own store; all stopped after the test."""
    from tests.bus.desk import Desk

    d = Desk(loop, tmp_path, kafka_bootstrap, topics, sims)
    yield d
    d.close()
