"""The stages' producer (app.runtime.outbox.Producer, librdkafka) against the session's broker:
each place's last offset once all is acknowledged, in order; a refusal or a broker that does
not answer fails the send with aiokafka's KafkaError, which every caller handles."""

from __future__ import annotations

import asyncio
import os
import time

import pytest
from aiokafka.errors import KafkaError

from app.runtime import blocking_producer
from app.runtime.outbox import Producer
from tests.flow.producing import assert_written_in_order, new_topic, two_sends
from tests.harness import free_port


async def test_send_returns_each_places_last_offset_once_written_in_order(bootstrap: str) -> None:
    topic = new_topic(bootstrap, 2)
    sends = two_sends(topic)
    producer = Producer(bootstrap)
    try:
        ends = [await producer.send(messages) for messages in sends]
        assert await producer.send({}) == {}
    finally:
        await producer.stop()

    assert ends == [{(topic, 0): 1}, {(topic, 0): 2, (topic, 1): 0}]
    assert_written_in_order(bootstrap, topic)


async def test_plain_and_compressed_topics_are_written_alike(bootstrap: str) -> None:
    plain, compressed = new_topic(bootstrap, 2), new_topic(bootstrap, 2)
    producer = Producer(bootstrap, plain_topics=[plain])
    try:
        ends = []
        for sends in zip(two_sends(plain), two_sends(compressed), strict=True):
            ends.append(await producer.send({**sends[0], **sends[1]}))
    finally:
        await producer.stop()

    for topic in (plain, compressed):
        assert [{p: o for p, o in end.items() if p[0] == topic} for end in ends] == [
            {(topic, 0): 1},
            {(topic, 0): 2, (topic, 1): 0},
        ]
        assert_written_in_order(bootstrap, topic)


async def test_a_message_the_broker_refuses_fails_the_send(bootstrap: str) -> None:
    topic = new_topic(bootstrap, 1, **{"max.message.bytes": "2000"})
    producer = Producer(bootstrap)
    try:
        with pytest.raises(KafkaError, match=r"(?i)too large"):
            too_large = os.urandom(10_000)  # compressed as much as sent: lz4 gains nothing
            await producer.send({(topic, 0): [(None, too_large, None), (None, b"y", None)]})
        # the refused message's batch carried "y" too: nothing was written, and the producer
        # goes on
        assert await producer.send({(topic, 0): [(None, b"z", None)]}) == {(topic, 0): 0}
    finally:
        await producer.stop()


async def test_a_broker_that_does_not_answer_fails_the_send_in_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(blocking_producer, "DELIVERY_TIMEOUT_MS", 1_000)
    producer = Producer(f"127.0.0.1:{free_port()}")
    started = time.monotonic()
    try:
        with pytest.raises(KafkaError):
            await producer.send({("nowhere", 0): [(None, b"x", None)]})
    finally:
        await producer.stop()
    assert time.monotonic() - started < 10


async def test_stop_delivers_what_is_queued_and_a_later_send_starts_anew(bootstrap: str) -> None:
    topic = new_topic(bootstrap, 1)
    producer = Producer(bootstrap)
    sending = asyncio.ensure_future(producer.send({(topic, 0): [(None, b'"1"', None)]}))
    await asyncio.sleep(0)  # handed to librdkafka, not yet acknowledged
    await producer.stop()
    assert await asyncio.wait_for(sending, 1) == {(topic, 0): 0}
    try:
        assert await producer.send({(topic, 0): [(None, b'"2"', None)]}) == {(topic, 0): 1}
    finally:
        await producer.stop()
