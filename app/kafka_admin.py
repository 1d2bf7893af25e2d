"""Talking to a running Kafka broker: wait until it answers, create and configure topics."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourceType,
)


class BrokerError(RuntimeError):
    """The broker could not be fetched, started or reached, or a topic does not fit."""


def wait_for_broker(bootstrap: str, timeout: float = 60.0) -> None:
    """Wait until a broker at ``bootstrap`` answers a metadata request, or raise BrokerError."""
    wait_until_answers(bootstrap, timeout, lambda: True)


def ensure_topics(
    bootstrap: str,
    topics: Mapping[str, int],
    *,
    config: Mapping[str, Mapping[str, str]] | None = None,
    replication: int = 1,
    timeout: float = 30.0,
    exact: Collection[str] = (),
) -> None:
    """Create the missing ``topics`` (name -> partition count) and set ``config`` on all.

    ``config`` gives per-topic configs (e.g. ``{"x": {"cleanup.policy": "compact"}}``): new
    topics are created with them, existing ones get them set (so an upgrade brings a topic's
    retention and timestamp type in line), other configs of theirs are left alone. Raises
    BrokerError if a topic has fewer partitions than asked: adding partitions would move keys
    to other partitions, so that is left to an operator. The ``exact`` ones (of ``topics``)
    may not have more either: their keys were placed (and state kept) by the count they have,
    so a lower count asked would leave rows where no key leads any more.
    """
    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = _partition_counts(admin, (), timeout)
    new = [
        NewTopic(name, partitions, replication, config=dict((config or {}).get(name, {})))
        for name, partitions in topics.items()
        if name not in existing
    ]
    if new:
        futures = admin.create_topics(new, operation_timeout=timeout, request_timeout=timeout)
        for name, future in futures.items():
            try:
                future.result(timeout)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise BrokerError(f"could not create topic {name!r}: {exc}") from exc
    kept = [name for name in topics if name in existing and (config or {}).get(name)]
    if kept:
        _set_configs(admin, {name: (config or {})[name] for name in kept}, timeout)
    counts = _partition_counts(admin, list(topics), timeout)
    short = [
        f"{name!r} has {counts[name]}, {want} wanted"
        for name, want in topics.items()
        if counts[name] < want
    ]
    if short:
        raise BrokerError(
            "topics with fewer partitions than asked: " + "; ".join(short) + ". Adding "
            "partitions would move keys to other partitions: delete and recreate the topic "
            "(losing its data) or add them deliberately with kafka-topics --alter"
        )
    more = [
        f"{name!r} has {counts[name]}, {topics[name]} wanted"
        for name in exact
        if counts[name] > topics[name]
    ]
    if more:
        raise BrokerError(
            "topics with more partitions than asked: " + "; ".join(more) + ". Their keys "
            "and rows were placed by the count they have, chosen when they were created: ask "
            "for that count"
        )


def _set_configs(
    admin: AdminClient, configs: Mapping[str, Mapping[str, str]], timeout: float
) -> None:
    """Set these configs of existing topics (incrementally: the others stay as they are)."""
    resources = [
        ConfigResource(
            ResourceType.TOPIC,
            name,
            incremental_configs=[
                ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)
                for key, value in entries.items()
            ],
        )
        for name, entries in configs.items()
    ]
    futures = admin.incremental_alter_configs(resources, request_timeout=timeout)
    for resource, future in futures.items():
        try:
            future.result(timeout)
        except KafkaException as exc:
            raise BrokerError(f"could not configure topic {resource.name!r}: {exc}") from exc


def wait_until_answers(bootstrap: str, timeout: float, ready: Callable[[], bool]) -> None:
    """Poll ``bootstrap`` with metadata requests once ``ready()``; it may raise to give up."""
    deadline = time.monotonic() + timeout
    admin: AdminClient | None = None
    while True:
        remaining = deadline - time.monotonic()
        if ready():
            admin = admin or AdminClient({"bootstrap.servers": bootstrap})
            if _answers(admin, max(min(remaining, 5.0), 0.1)):
                return
        if time.monotonic() >= deadline:
            raise BrokerError(f"no Kafka broker answered at {bootstrap} within {timeout:.0f} s")
        time.sleep(0.2)


def _answers(admin: AdminClient, timeout: float) -> bool:
    try:
        return bool(admin.list_topics(timeout=timeout).brokers)
    except KafkaException:
        return False


def _partition_counts(admin: AdminClient, names: Sequence[str], timeout: float) -> dict[str, int]:
    """Partition count of every topic, waiting up to ``timeout`` until all ``names`` show up."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            topics = admin.list_topics(timeout=max(deadline - time.monotonic(), 0.1)).topics
        except KafkaException as exc:
            raise BrokerError(f"no metadata from the broker: {exc}") from exc
        counts = {name: len(meta.partitions) for name, meta in topics.items() if meta.error is None}
        missing = [name for name in names if name not in counts]
        if not missing:
            return counts
        if time.monotonic() >= deadline:
            raise BrokerError(f"topics missing from the broker's metadata: {', '.join(missing)}")
        time.sleep(0.1)
