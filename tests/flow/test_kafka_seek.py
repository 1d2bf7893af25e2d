"""A partition that never had a commit is read again from the start when the worker seeks to
the committed offsets (app.kafka_seek), not from where the fetcher had got to."""

from __future__ import annotations

import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from app import kafka_seek


async def _consumer_past_five(bootstrap: str, topic: str) -> AIOKafkaConsumer:
    """A consumer of a group with no commits that has fetched five of ten messages."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for n in range(10):
            await producer.send_and_wait(topic, str(n).encode(), partition=0)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=f"seek-{uuid.uuid4().hex}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    consumer.assign([TopicPartition(topic, 0)])
    for _ in range(5):
        await consumer.getone()
    return consumer


async def test_an_uncommitted_partition_is_reset_by_policy_on_a_seek_to_committed(
    bootstrap: str,
) -> None:
    topic = f"seek-{uuid.uuid4().hex}"
    consumer = await _consumer_past_five(bootstrap, topic)
    try:
        await kafka_seek._unpatched(consumer)  # aiokafka alone: the position stays at 5
        assert (await consumer.getone()).offset == 5
        committed = await consumer.seek_to_committed()  # as the worker has it
        assert committed == {TopicPartition(topic, 0): None}
        # A position at once: Faust's livelock check reads it and crashed the worker on None.
        state = consumer._subscription.subscription.assignment.state_value(TopicPartition(topic, 0))
        assert state.has_valid_position
        assert (await consumer.getone()).offset == 0
    finally:
        await consumer.stop()


async def test_a_changelog_partition_stays_where_recovery_left_it(bootstrap: str) -> None:
    topic = f"seek-{uuid.uuid4().hex}{kafka_seek.CHANGELOG_SUFFIX}"
    consumer = await _consumer_past_five(bootstrap, topic)
    try:
        await consumer.seek_to_committed()
        assert (await consumer.getone()).offset == 5
    finally:
        await consumer.stop()
