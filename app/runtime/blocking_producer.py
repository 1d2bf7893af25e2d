"""A parse process's producer: librdkafka (confluent-kafka), one request's messages at a time.

A parse process (:mod:`app.parse_pool`) writes the request it prepared itself, so the encoded
alerts never travel back to the worker through a pipe, and the worker's event loop never
builds their produce requests (in a webhook flood, with the stages held, aiokafka's requests
were 44% of the loop's samples, and the pipe's copies about 10% of the worker's and its
processes' together). librdkafka builds and sends the requests in C, on threads of its own.

:meth:`BlockingProducer.send` returns once the broker acknowledged every message
(``acks=all``), or says why it did not: refused, or not acknowledged within
``DELIVERY_TIMEOUT_MS``. A message not acknowledged in time stays queued and may still reach
Kafka later, as any abandoned write may (the client's retry carries the same alert ids).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from app.runtime.batches import Message as Outgoing
from app.runtime.batches import Place

DELIVERY_TIMEOUT_MS = 10_000  # a message not acknowledged by then fails its send
MESSAGE_BYTES = 1_048_000  # a full batch message; the broker's limit is 1,048,588


def producer_config(
    bootstrap: str, linger_ms: int, on_error: Callable[[KafkaError], None], compression: str
) -> dict[str, Any]:
    """The settings of alertflow's librdkafka producers (this one and the stages',
    :class:`app.runtime.outbox.Producer`): ``acks=all``, idempotent, so a partition's
    messages stay in order through retries; errors to ``on_error``; ``compression`` as
    librdkafka's ``compression.type`` (``"lz4"``, ``"none"``)."""
    return {
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": linger_ms,
        "message.max.bytes": MESSAGE_BYTES,
        "delivery.timeout.ms": DELIVERY_TIMEOUT_MS,
        "compression.type": compression,
        "log_level": 0,  # an outage is the worker's to report (app.health), not each retry's
        "error_cb": on_error,
    }


class BlockingProducer:
    """Sends one request's messages and waits for the broker's answer to each."""

    def __init__(self, bootstrap: str) -> None:
        self.broken = False  # a fatal error (idempotence): this producer writes no more
        # linger 0: a request's messages are all queued before the wait. lz4: a batch of
        # alerts is repetitive JSON, 6-38x smaller compressed, and each alert is written twice
        # (alerts.normalized, alerts.raw): the broker handles far fewer bytes in a flood
        # (docs/benchmark.md, 2026-12-05 (day))
        self._producer = Producer(producer_config(bootstrap, 0, self._on_error, "lz4"))

    def _on_error(self, error: KafkaError) -> None:
        if error.fatal():
            self.broken = True

    def learn(self, topics: Iterable[str]) -> None:
        """Connect and fetch ``topics``' metadata now, so the first send does not wait for it
        (about half a second); a broker away now is learnt of by that send instead."""
        for topic in topics:
            try:
                self._producer.list_topics(topic, timeout=DELIVERY_TIMEOUT_MS / 1000)
            except KafkaException:
                return

    def send(self, messages: dict[Place, list[Outgoing]]) -> str | None:
        """Send every message and wait until each is acknowledged: ``None``, or why not."""
        failures: list[str] = []

        def report(error: KafkaError | None, _: Message) -> None:
            if error is not None:
                failures.append(error.str())

        for (topic, partition), queued in messages.items():
            for key, value, timestamp in queued:
                try:
                    self._producer.produce(
                        topic,
                        value,
                        key,
                        partition=partition,
                        timestamp=timestamp or 0,
                        on_delivery=report,
                    )
                except BufferError:  # librdkafka's queue is full: the broker is not taking
                    return "the producer's queue is full"
                except KafkaException as error:  # refused before it was sent (its size)
                    return str(error)
        if unsent := self._producer.flush(DELIVERY_TIMEOUT_MS / 1000 + 1):
            return f"{unsent} messages not acknowledged within {DELIVERY_TIMEOUT_MS:,} ms"
        return failures[0] if failures else None
