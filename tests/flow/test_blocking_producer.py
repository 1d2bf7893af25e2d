"""A parse process's producer (app.runtime.blocking_producer) against the session's broker:
acknowledged messages in order, a refusal said, topics learnt before the first send."""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from app.runtime import blocking_producer
from app.runtime.blocking_producer import BlockingProducer
from tests.harness import TopicReader, eventually, free_port, unique


def _topic(bootstrap: str, partitions: int, **config: str) -> str:
    name = unique("blocking")
    admin = AdminClient({"bootstrap.servers": bootstrap})  # kept until the topic exists
    admin.create_topics([NewTopic(name, partitions, 1, config=config)])[name].result(30)
    return name


def test_send_returns_once_every_message_is_written_in_order(bootstrap: str) -> None:
    topic = _topic(bootstrap, 2)
    producer = BlockingProducer(bootstrap)

    assert producer.send({(topic, 0): [(b"a", b'"1"', None), (b"a", b'"2"', 1_000)]}) is None
    assert (
        producer.send({(topic, 0): [(None, b'"3"', None)], (topic, 1): [(b"b", b'"4"', None)]})
        is None
    )

    ends = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("ends")})
    try:  # written when send returned: the partitions' ends are there at once
        assert ends.get_watermark_offsets(TopicPartition(topic, 0), 10)[1] == 3
        assert ends.get_watermark_offsets(TopicPartition(topic, 1), 10)[1] == 1
    finally:
        ends.close()
    reader = TopicReader(bootstrap, topic)
    try:
        eventually(lambda: len(reader.records) == 4, 30, "four records")
        assert [value for _, value, _ in reader.records if value != "4"] == ["1", "2", "3"]
        assert ("a", "2", 1_000) in reader.records  # a message's own time is kept
    finally:
        reader.close()


def test_a_message_the_broker_refuses_is_said(bootstrap: str) -> None:
    topic = _topic(bootstrap, 1, **{"max.message.bytes": "2000"})
    why = BlockingProducer(bootstrap).send({(topic, 0): [(None, b"x" * 10_000, None)]})
    assert why is not None and "too large" in why.lower(), why


def test_a_producer_that_learnt_its_topics_sends_to_them(bootstrap: str) -> None:
    topic = _topic(bootstrap, 2)
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
