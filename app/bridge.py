"""The bridge: validated source alerts onto Kafka, acknowledged by the broker before 202.

One request is parsed once: the source's alerts become canonical alerts here
(:func:`app.sources.normalize`), which the dedup stage reads straight from
``alerts.normalized`` — one batch message per partition the request touches. The request as
received (the source's alert objects and what came around them) goes to ``alerts.raw``, the
audit topic, as one message (more only when it exceeds a Kafka message). Everything is sent
in one round of record batches, and :func:`publish` returns only when the broker acknowledged
all of it (``acks=all``).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import orjson

from app import metrics, topics
from app.records import Alert, RawAlert, epoch_ms
from app.runtime.batches import item, pack
from app.runtime.outbox import MAX_RECORD_BYTES, Message
from app.runtime.partitions import partition_of
from app.sources import SourceError, normalize
from app.stages import producer
from tables.dedup import episode_key

MAX_ALERT_BYTES = 256 * 1024  # one canonical alert; later stages add their fields to it


class AlertTooLarge(SourceError):
    """An alert larger than the chain can carry (Kafka's messages are at most 1 MB)."""

    def __init__(self, index: int, size: int) -> None:
        super().__init__(
            "alert_too_large",
            f"alert {index}: {size:,} bytes once normalised; at most {MAX_ALERT_BYTES:,} bytes "
            "per alert (title, description, labels and annotations together)",
            status=413,
        )


async def publish(raws: list[RawAlert]) -> list[str]:
    """Write the alerts of one request; return their ids, in order.

    Every alert is normalised first, so input the pipeline would refuse is refused here,
    before anything is written. Returns only after the broker acknowledged every write
    (``acks=all``); a failure raises, and the caller answers with an error, never 202.
    """
    if not raws:
        return []
    alerts = [normalize(raw) for raw in raws]
    messages: dict[tuple[str, int], list[Message]] = defaultdict(list)
    by_partition: dict[int, list[bytes]] = defaultdict(list)
    for index, alert in enumerate(alerts):
        encoded = item(episode_key(alert["tenant"], alert["fingerprint"]), alert)
        if len(encoded) > MAX_ALERT_BYTES:
            raise AlertTooLarge(index, len(encoded))
        key = episode_key(alert["tenant"], alert["fingerprint"])
        by_partition[partition_of(key, topics.normalized.partitions)].append(encoded)
    for partition, items in by_partition.items():
        messages[(topics.normalized.name, partition)] = [(None, m, None) for m in pack(items)]
    raw_partition = partition_of(raws[0]["tenant"], topics.raw.partitions)
    messages[(topics.raw.name, raw_partition)] = [
        (raws[0]["tenant"].encode(), value, _latest_ms(alerts)) for value in _requests(raws)
    ]
    await producer.send(messages)
    for raw in raws:
        metrics.alerts_received.labels(raw["source"]).inc()
    return [alert["id"] for alert in alerts]


def _requests(raws: list[RawAlert]) -> list[bytes]:
    """The ``alerts.raw`` values of one request: its alerts as received, in as few messages
    as Kafka's message size allows (one, unless the request is over a megabyte)."""
    head = {k: v for k, v in raws[0].items() if k != "payload"}
    values: list[bytes] = []
    chunk: list[Any] = []
    size = 0
    for raw in raws:
        payload = orjson.dumps(raw["payload"])
        if chunk and size + len(payload) > MAX_RECORD_BYTES // 2:
            values.append(orjson.dumps({**head, "alerts": chunk}))
            chunk, size = [], 0
        chunk.append(orjson.Fragment(payload))
        size += len(payload)
    values.append(orjson.dumps({**head, "alerts": chunk}))
    return values


def _latest_ms(alerts: list[Alert]) -> int:
    """The message time of a request: its newest alert's event time."""
    return max(epoch_ms(alert["starts_at"]) for alert in alerts)
