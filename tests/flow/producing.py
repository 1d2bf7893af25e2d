"""What the producers' flow tests share: a topic of their own, and the four messages both
producers write in two sends, with the check that they were written in order."""

from __future__ import annotations

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from app.runtime.batches import Message, Place
from tests.harness import TopicReader, eventually, unique


def new_topic(bootstrap: str, partitions: int, **config: str) -> str:
    """A topic no other test writes to."""
    name = unique("producing")
    admin = AdminClient({"bootstrap.servers": bootstrap})  # kept until the topic exists
    admin.create_topics([NewTopic(name, partitions, 1, config=config)])[name].result(30)
    return name


def two_sends(topic: str) -> tuple[dict[Place, list[Message]], dict[Place, list[Message]]]:
    """Three messages for partition 0 (one with its own time) and one for partition 1."""
    first: dict[Place, list[Message]] = {
        (topic, 0): [(b"a", b'"1"', None), (b"a", b'"2"', 1_000)],
        (topic, 1): [],
    }
    second: dict[Place, list[Message]] = {
        (topic, 0): [(None, b'"3"', None)],
        (topic, 1): [(b"b", b'"4"', None)],
    }
    return first, second


def assert_written_in_order(bootstrap: str, topic: str) -> None:
    """The messages of :func:`two_sends` are in ``topic`` (at once: the partitions' ends are
    there when the sends returned), in order, each at its own time."""
    ends = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("ends")})
    try:
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
