"""The stages' producer (app.runtime.outbox.Producer, librdkafka) against the session's broker:
each place's last offset once all is acknowledged, in order; a refusal or a broker that does
not answer fails the send with aiokafka's KafkaError, which every caller handles."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka.errors import KafkaError
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from app.runtime import outbox
from app.runtime.outbox import Producer
from tests.harness import TopicReader, eventually, free_port, unique


def _topic(bootstrap: str, partitions: int, **config: str) -> str:
    name = unique("outbox")
    admin = AdminClient({"bootstrap.servers": bootstrap})  # kept until the topic exists
    admin.create_topics([NewTopic(name, partitions, 1, config=config)])[name].result(30)
    return name


async def test_send_returns_each_places_last_offset_once_written_in_order(bootstrap: str) -> None:
    topic = _topic(bootstrap, 2)
    producer = Producer(bootstrap)
    try:
        first = await producer.send(
            {(topic, 0): [(b"a", b'"1"', None), (b"a", b'"2"', 1_000)], (topic, 1): []}
        )
        second = await producer.send(
            {(topic, 0): [(None, b'"3"', None)], (topic, 1): [(b"b", b'"4"', None)]}
        )
        assert await producer.send({}) == {}
    finally:
        await producer.stop()

    assert first == {(topic, 0): 1}
    assert second == {(topic, 0): 2, (topic, 1): 0}
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


async def test_a_message_the_broker_refuses_fails_the_send(bootstrap: str) -> None:
    topic = _topic(bootstrap, 1, **{"max.message.bytes": "2000"})
    producer = Producer(bootstrap)
    try:
        with pytest.raises(KafkaError, match=r"(?i)too large"):
            await producer.send({(topic, 0): [(None, b"x" * 10_000, None), (None, b"y", None)]})
        # the refused message's batch carried "y" too: nothing was written, and the producer
        # goes on
        assert await producer.send({(topic, 0): [(None, b"z", None)]}) == {(topic, 0): 0}
    finally:
        await producer.stop()


async def test_a_broker_that_does_not_answer_fails_the_send_in_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(outbox, "DELIVERY_TIMEOUT_MS", 1_000)
    producer = Producer(f"127.0.0.1:{free_port()}")
    started = time.monotonic()
    try:
        with pytest.raises(KafkaError):
            await producer.send({("nowhere", 0): [(None, b"x", None)]})
    finally:
        await producer.stop()
    assert time.monotonic() - started < 10


async def test_stop_delivers_what_is_queued_and_a_later_send_starts_anew(bootstrap: str) -> None:
    topic = _topic(bootstrap, 1)
    producer = Producer(bootstrap)
    sending = asyncio.ensure_future(producer.send({(topic, 0): [(None, b'"1"', None)]}))
    await asyncio.sleep(0)  # handed to librdkafka, not yet acknowledged
    await producer.stop()
    assert await asyncio.wait_for(sending, 1) == {(topic, 0): 0}
    try:
        assert await producer.send({(topic, 0): [(None, b'"2"', None)]}) == {(topic, 0): 1}
    finally:
        await producer.stop()
