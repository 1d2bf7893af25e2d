"""A parse process's producer (app.runtime.blocking_producer) against the session's broker:
acknowledged messages in order, a refusal said, batches compressed, topics learnt before the
first send."""

from __future__ import annotations

import os

import pytest

from app.runtime import blocking_producer
from app.runtime.blocking_producer import BlockingProducer
from tests.flow.producing import assert_written_in_order, new_topic, two_sends
from tests.harness import free_port


def test_send_returns_once_every_message_is_written_in_order(bootstrap: str) -> None:
    topic = new_topic(bootstrap, 2)
    producer = BlockingProducer(bootstrap)

    assert [producer.send(messages) for messages in two_sends(topic)] == [None, None]
    assert_written_in_order(bootstrap, topic)


def test_a_message_the_broker_refuses_is_said(bootstrap: str) -> None:
    topic = new_topic(bootstrap, 1, **{"max.message.bytes": "2000"})
    incompressible = os.urandom(10_000)  # lz4 would fit b"x" * 10_000 in 2,000 bytes
    why = BlockingProducer(bootstrap).send({(topic, 0): [(None, incompressible, None)]})
    assert why is not None and "too large" in why.lower(), why


def test_batches_are_written_compressed(bootstrap: str) -> None:
    """100 kB of alerts' JSON fits a topic that takes 20 kB a message: lz4 wrote it."""
    topic = new_topic(bootstrap, 1, **{"max.message.bytes": "20000"})
    batch = b'{"batch":[' + b",".join([b'["k",{"labels":{"severity":"page"}}]'] * 3_000) + b"]}"
    assert len(batch) > 100_000
    assert BlockingProducer(bootstrap).send({(topic, 0): [(None, batch, None)]}) is None


def test_a_producer_that_learnt_its_topics_sends_to_them(bootstrap: str) -> None:
    topic = new_topic(bootstrap, 2)
    producer = BlockingProducer(bootstrap)
    producer.learn([topic])
    assert producer.send({(topic, 1): [(b"k", b'"v"', None)]}) is None


def test_learning_with_the_broker_away_leaves_it_to_the_first_send(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(blocking_producer, "DELIVERY_TIMEOUT_MS", 500)
    producer = BlockingProducer(f"127.0.0.1:{free_port()}")
    producer.learn(["alerts.normalized", "alerts.raw"])  # no exception: the process goes on
    why = producer.send({("alerts.normalized", 0): [(None, b'"v"', None)]})
    assert why is not None  # and the first send says the broker is away
