"""``alertflow tail``: follow a topic as JSON lines."""

from __future__ import annotations

import sys
import uuid

from confluent_kafka import Consumer, KafkaError, KafkaException

from app.settings import Settings

TAIL_TIMEOUT = 5.0  # seconds `tail` waits for the broker's metadata before giving up


def tail_topic(settings: Settings, topic: str, *, from_beginning: bool) -> int:
    """Print every record of ``topic`` as one JSON line, until Ctrl-C.

    Exits 1 with one line when no broker answers within ``TAIL_TIMEOUT`` or the topic does not
    exist; librdkafka's own log is kept quiet.
    """
    quiet = {"bootstrap.servers": settings.bootstrap, "log_level": 0}
    consumer = Consumer(
        {
            **quiet,
            "group.id": f"alertflow-tail-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest" if from_beginning else "latest",
        }
    )
    try:
        try:
            topics = consumer.list_topics(timeout=TAIL_TIMEOUT).topics
        except KafkaException:
            print(
                f"alertflow tail: no Kafka broker answered at {settings.bootstrap} within "
                f"{TAIL_TIMEOUT:.0f} s (set KAFKA_BOOTSTRAP or ALERTFLOW_KAFKA_PORT)",
                file=sys.stderr,
            )
            return 1
        if topic not in topics:
            known = ", ".join(sorted(t for t in topics if not _internal(t)))
            print(f"alertflow tail: no topic {topic!r}; the topics are: {known}", file=sys.stderr)
            return 1
        consumer.subscribe([topic])
        while True:
            message = consumer.poll(1.0)
            if message is None:
                continue
            error = message.error()
            if error is not None:
                if error.fatal() or error.code() in (
                    KafkaError._ALL_BROKERS_DOWN,
                    KafkaError.UNKNOWN_TOPIC_OR_PART,
                ):
                    print(f"alertflow tail: {error.str()}", file=sys.stderr)
                    return 1
                continue
            sys.stdout.write((message.value() or b"null").decode("utf-8", "replace") + "\n")
            sys.stdout.flush()
    except KeyboardInterrupt:
        return 0
    finally:
        consumer.close()


def _internal(topic: str) -> bool:
    """Kafka's, Faust's and the tables' own topics (nobody tails those by name)."""
    return topic.startswith("_") or "__" in topic or topic.endswith("-changelog")
