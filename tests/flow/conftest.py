"""Session fixtures of the flow tests: one real Kafka broker, one worker, one notification
receiver, and readers of the topics the worker writes.

Only tests under tests/flow see these; broker-free fixtures go in tests/conftest.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.harness import (
    API_TOKEN,
    REPO,
    SENTRY_SECRET,
    Receiver,
    TopicReader,
    Worker,
    free_port,
    reading,
    running,
)


@pytest.fixture(scope="session")
def bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``KAFKA_BOOTSTRAP`` when set, else a fresh embedded broker for the session."""
    if os.environ.get("KAFKA_BOOTSTRAP"):
        yield os.environ["KAFKA_BOOTSTRAP"]
        return
    from app.broker import embedded_broker

    broker = embedded_broker(tmp_path_factory.mktemp("kafka"), REPO / ".cache", free_port())
    try:
        yield broker.start()
    finally:
        broker.stop()


@pytest.fixture(scope="module")
def own_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A broker of the requesting module's own: for tests that must not share the session
    worker's consumer group, or whose load would slow every later test's worker (restoring a
    storm's changelogs)."""
    from app.broker import embedded_broker

    kafka = embedded_broker(tmp_path_factory.mktemp("own-kafka"), REPO / ".cache", free_port())
    try:
        yield kafka.start()
    finally:
        kafka.stop()


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    """The generic webhook receiver the worker notifies."""
    server = Receiver()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def worker(
    bootstrap: str, receiver: Receiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Worker]:
    """One worker for the session, with API token, Sentry secret and webhook receiver set."""
    process = Worker(
        bootstrap,
        tmp_path_factory.mktemp("worker"),
        env={
            "ALERTFLOW_API_TOKEN": API_TOKEN,
            "ALERTFLOW_SENTRY_CLIENT_SECRET": SENTRY_SECRET,
            "ALERTFLOW_WEBHOOK_URL": receiver.url,
            "ALERTFLOW_LOG_FORMAT": "json",  # tests/flow/test_logs.py reads it
        },
    )
    yield from running(process)


@pytest.fixture(scope="session")
def enriched(bootstrap: str, worker: Worker) -> Iterator[TopicReader]:
    """Everything written to ``alerts.enriched`` during the session."""
    yield from reading(bootstrap, "alerts.enriched")


@pytest.fixture(scope="session")
def raw_topic(bootstrap: str, worker: Worker) -> Iterator[TopicReader]:
    """Everything written to ``alerts.raw`` during the session."""
    yield from reading(bootstrap, "alerts.raw")


@pytest.fixture(scope="session")
def deadletters(bootstrap: str, worker: Worker) -> Iterator[TopicReader]:
    """Everything written to ``alerts.deadletter`` during the session."""
    yield from reading(bootstrap, "alerts.deadletter")


@pytest.fixture(scope="session")
def feedback_topic(bootstrap: str, worker: Worker) -> Iterator[TopicReader]:
    """Everything written to ``alerts.feedback`` during the session."""
    yield from reading(bootstrap, "alerts.feedback")


@pytest.fixture(scope="session")
def sent(bootstrap: str, worker: Worker) -> Iterator[TopicReader]:
    """Everything written to ``notifications.sent`` during the session."""
    yield from reading(bootstrap, "notifications.sent")
