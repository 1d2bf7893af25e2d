"""Kafka side of the bench (confluent-kafka): produce, raw consume, offsets, lag, arrivals."""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka import Message as KafkaMessage
from confluent_kafka.admin import AdminClient, OffsetSpec

from app.runtime.batches import Message, Place

INPUT = "alerts.normalized"  # what the bridge writes and the first stage reads
ENRICHED = "alerts.enriched"
GROUP = "alertflow"  # the Faust app id is the consumer group


def produce(bootstrap: str, messages: Iterable[dict[Place, list[Message]]]) -> float:
    """Write rounds of messages as the bridge does (explicit partitions, acks=all); the
    seconds it took until the broker acknowledged all of them."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "linger.ms": 20,
            "batch.num.messages": 10_000,
            "queue.buffering.max.messages": 1_000_000,
            "message.max.bytes": 1_048_576,
        }
    )
    failures: list[str] = []

    def delivered(error: object, _message: object) -> None:
        if error is not None:
            failures.append(str(error))

    started, count = time.perf_counter(), 0
    for round_ in messages:
        for (topic, partition), queued in round_.items():
            for key, value, timestamp in queued:
                while True:
                    try:
                        producer.produce(
                            topic,
                            key=key,
                            value=value,
                            partition=partition,
                            timestamp=timestamp or 0,
                            on_delivery=delivered,
                        )
                        break
                    except BufferError:
                        producer.poll(0.05)
                count += 1
        if count % 1_000 < 20:
            producer.poll(0)
    producer.flush(120)
    if failures:
        raise RuntimeError(f"{len(failures)} messages not written, e.g. {failures[0]}")
    return time.perf_counter() - started


def available(consumer: Consumer, timeout: float, most: int) -> list[KafkaMessage]:
    """The messages ``consumer`` has, as soon as there is one (waiting ``timeout`` seconds at
    most for the first): up to ``most``, never waiting to fill them.

    ``Consumer.consume(num_messages, timeout)`` returns only once it has ``num_messages`` or
    the ``timeout`` passed: a record that came meanwhile would be noted up to ``timeout`` late
    (docs/benchmark.md, 2026-12-07 (day))."""
    first = consumer.poll(timeout)
    if first is None:
        return []
    return [first, *consumer.consume(num_messages=most - 1, timeout=0)]


def raw_consume(bootstrap: str, alerts: int, timeout: float = 300.0) -> float:
    """Consume the pre-produced ``alerts.normalized`` and parse every message with orjson;
    alerts/s from the first message to the last: the client-side limit of consume + parse."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-raw-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "fetch.max.bytes": 64 * 1024 * 1024,
            "max.partition.fetch.bytes": 16 * 1024 * 1024,
        }
    )
    consumer.subscribe([INPUT])
    seen, first, deadline = 0, 0.0, time.monotonic() + timeout
    try:
        while seen < alerts and time.monotonic() < deadline:
            batch = available(consumer, 0.5, 10_000)
            if batch and not first:
                first = time.perf_counter()
            for message in batch:
                if message.error() is None:
                    seen += len(orjson.loads(message.value())["batch"])
        elapsed = time.perf_counter() - first
    finally:
        consumer.close()
    if seen < alerts:
        raise RuntimeError(f"raw consume saw {seen} of {alerts} alerts in {timeout:.0f} s")
    return seen / elapsed


class Offsets:
    """End offsets of topics and committed offsets of the worker group, via the admin API."""

    def __init__(self, bootstrap: str) -> None:
        self.admin: AdminClient | None = AdminClient({"bootstrap.servers": bootstrap})
        self.partitions: dict[str, int] = {}

    def _admin(self) -> AdminClient:
        assert self.admin is not None, "closed"
        return self.admin

    def highs(self, *topics: str) -> dict[tuple[str, int], int]:
        """(topic, partition) → high watermark (the offset the next message will get)."""
        for topic in topics:
            if topic not in self.partitions:
                meta = self._admin().list_topics(topic, timeout=10).topics[topic]
                self.partitions[topic] = len(meta.partitions)
        request = {
            TopicPartition(topic, p): OffsetSpec.latest()
            for topic in topics
            for p in range(self.partitions[topic])
        }
        futures = self._admin().list_offsets(request, request_timeout=10)
        return {(tp.topic, tp.partition): f.result().offset for tp, f in futures.items()}

    def start(self, topic: str) -> dict[int, int]:
        """Partition → current end of ``topic``: where a reader of what comes next starts."""
        return {p: high for (_, p), high in self.highs(topic).items()}

    def total(self, topic: str) -> int:
        """Messages ever written to ``topic`` (nothing is deleted during a bench)."""
        return sum(self.highs(topic).values())

    def committed(self, group: str = GROUP) -> dict[tuple[str, int], int]:
        """(topic, partition) → committed offset of ``group``; empty before its first commit."""
        request = [ConsumerGroupTopicPartitions(group)]
        try:
            answer = self._admin().list_consumer_group_offsets(request)[group].result(timeout=10)
        except KafkaException:
            return {}
        return {(tp.topic, tp.partition): max(tp.offset, 0) for tp in answer.topic_partitions}

    def lag(self, group: str = GROUP) -> tuple[int, int, int]:
        """Offsets of the input committed, lag on it, and lag over every topic read."""
        committed = self.committed(group)
        highs = self.highs(*sorted({topic for topic, _ in committed} | {INPUT}))
        lag = {tp: high - committed.get(tp, 0) for tp, high in highs.items()}
        raw = [tp for tp in highs if tp[0] == INPUT]
        return (
            sum(committed.get(tp, 0) for tp in raw),
            sum(lag[tp] for tp in raw),
            sum(lag.values()),
        )

    def close(self) -> None:
        """Let go of the admin client (librdkafka destroys it with its last reference)."""
        self.admin = None


@dataclass
class LagSample:
    """Consumer lag of the worker group at one moment (seconds since the phase began)."""

    at: float
    raw_committed: int
    raw_lag: int
    chain_lag: int  # over every topic the group reads


@dataclass
class LagSampler:
    """Samples the worker group's lag in a background thread every ``interval`` seconds."""

    bootstrap: str
    interval: float = 1.0
    samples: list[LagSample] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        offsets = Offsets(self.bootstrap)
        try:
            while not self._stop.wait(self.interval):
                at = time.monotonic() - self._started
                self.samples.append(LagSample(at, *offsets.lag()))
        finally:
            offsets.close()

    def stop(self) -> list[LagSample]:
        self._stop.set()
        self._thread.join(timeout=30)
        return self.samples


class Arrivals:
    """Reads ``alerts.enriched`` from ``start`` (partition → offset) in a thread.

    Counts the records and, with ``track``, notes when each key (alert id) arrived.
    """

    def __init__(self, bootstrap: str, start: dict[int, int], *, track: bool = False) -> None:
        self.count = 0
        self.first = self.last = 0.0  # perf_counter of the first and last arrival
        self.at: dict[str, float] = {}
        self.track = track
        self._stop = threading.Event()
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"bench-enriched-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "fetch.wait.max.ms": 5,
                "fetch.min.bytes": 1,
            }
        )
        self._consumer.assign([TopicPartition(ENRICHED, p, o) for p, o in start.items()])
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            batch = available(self._consumer, 0.05, 5_000)
            now = time.perf_counter()
            for message in batch:
                if message.error() is not None:
                    continue
                if self.track:
                    self.at[message.key().decode()] = now
                self.count += 1
            if batch:
                self.first = self.first or now
                self.last = now
        self._consumer.close()

    def wait_for(
        self, ids: Collection[str], *, stall: float = 60.0, limit: float = math.inf
    ) -> bool:
        """Wait until a record of each of ``ids`` arrived (``track``: a count of records would
        also take other alerts' records and stop early); False when none came for ``stall``
        seconds, or after ``limit`` seconds in all."""
        waiting = set(ids)
        seen, since = self.count, time.monotonic()
        deadline = since + limit
        while waiting:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
            waiting = {alert_id for alert_id in waiting if alert_id not in self.at}
            if self.count != seen:
                seen, since = self.count, time.monotonic()
            elif time.monotonic() - since > stall:
                return False
        return True

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def drain(
    offsets: Offsets,
    arrivals: Arrivals,
    *,
    settle: float = 4.0,
    stall: float = 120.0,
    limit: float = math.inf,
    at_least: int = 0,
) -> bool:
    """Wait until nothing arrived for ``settle`` and the worker group has committed all it reads.

    ``settle`` exceeds Faust's commit interval (2.8 s), so a topic whose first commit is still to
    come cannot pass for done. Only arrivals restart the wait: the workers' ticks (one message
    per partition every ``tick_interval`` from each worker) make the lag flicker until the next
    commit, and with two workers never leave it still for ``settle``. Not done before
    ``at_least`` records arrived. False when neither lag nor arrivals moved for ``stall``
    seconds, or after ``limit`` seconds in all.
    """
    quiet_since = moved_at = began = time.monotonic()
    last: tuple[int, int] | None = None
    while time.monotonic() - began < limit:
        time.sleep(0.5)
        now, state = time.monotonic(), (offsets.lag()[2], arrivals.count)
        if state != last:
            if last is None or state[1] != last[1]:
                quiet_since = now
            moved_at, last = now, state
        if state[0] == 0 and state[1] >= at_least and now - quiet_since >= settle:
            return True
        if now - moved_at > stall:
            return False
    return False


def traffic(offsets: Offsets, log_dir: Path | None) -> list[tuple[str, int, int]]:
    """(topic, messages, bytes on disk) of every topic, most messages first.

    Bytes come from the broker's log segments in ``log_dir`` (0 when it is unknown), so the
    changelogs show what each table costs in writes.
    """
    names = [
        name
        for name in offsets._admin().list_topics(timeout=10).topics
        if not name.startswith("__")
    ]
    rows = []
    for name in names:
        size = 0
        if log_dir is not None:
            size = sum(f.stat().st_size for f in log_dir.glob(f"{name}-*/*.log"))
        rows.append((name, offsets.total(name), size))
    return sorted(rows, key=lambda row: row[1], reverse=True)
