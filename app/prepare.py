"""A request's alerts normalised and encoded for Kafka, before anything is written.

What the bridge sends for one request (:class:`Request`), made by :func:`prepare` — in the
worker, or in a parse process (:mod:`app.parsing`), which is why this module imports only the
parsers and what they need, never Faust or the stages.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from app.heartbeats import Heartbeat, pinged_by
from app.identity import episode_key
from app.records import Alert, RawAlert, epoch_ms, group_labels
from app.runtime.batches import MAX_RECORD_BYTES, Message, Place, item, packed
from app.runtime.partitions import partition_of
from app.sources import SourceError, normalize_all

MAX_ALERT_BYTES = 256 * 1024  # one canonical alert; later stages add their fields to it


class Partitions(NamedTuple):
    """Partitions of the topics a request is written to."""

    normalized: int  # alerts.normalized
    raw: int  # alerts.raw


class Topics(NamedTuple):
    """Names of the topics a request is written to."""

    normalized: str
    raw: str
    heartbeats: str


class AlertTooLarge(SourceError):
    """An alert larger than the chain can carry (Kafka's messages are at most 1 MB)."""

    def __init__(self, index: int, size: int) -> None:
        super().__init__(
            "alert_too_large",
            f"alert {index}: {size:,} bytes once normalised; at most {MAX_ALERT_BYTES:,} bytes "
            "per alert (title, description, labels and annotations together)",
            status=413,
        )


@dataclass
class Request:
    """One accepted request, ready to send: its ids, its alerts by partition, its audit record,
    and the heartbeat pings it carries."""

    ids: list[str]
    alerts: dict[int, list[bytes]]  # partition of alerts.normalized → encoded [key, alert]
    audit: list[Message]  # alerts.raw messages
    audit_partition: int
    pings: list[Message] = field(default_factory=list)  # heartbeats messages
    sources: dict[str, int] = field(default_factory=dict)  # alerts by source, for the metrics


def prepare(
    raws: list[RawAlert], heartbeats: Mapping[str, Heartbeat], partitions: Partitions
) -> Request:
    """Normalise and encode the alerts of a request; raise :class:`SourceError` (4xx) for input
    the pipeline would refuse, before anything is written.

    An alert of a configured heartbeat (``Watchdog``) is its ping, on ``heartbeats``, not an
    alert of the chain: it never pages anyone (:mod:`app.heartbeats`).
    """
    ids: list[str] = []
    alerts: dict[int, list[bytes]] = defaultdict(list)
    pings: list[Message] = []
    latest = 0
    for index, (raw, alert) in enumerate(zip(raws, normalize_all(raws), strict=True)):
        if heartbeats and (ping := _ping(heartbeats, raw, alert)) is not None:
            pings.append(ping)
            ids.append(alert["id"])
            continue
        key = episode_key(alert["tenant"], alert["fingerprint"])
        encoded = item(key, alert)
        if len(encoded) > MAX_ALERT_BYTES:
            raise AlertTooLarge(index, len(encoded))
        alerts[partition_of(key, partitions.normalized)].append(encoded)
        ids.append(alert["id"])
        latest = max(latest, epoch_ms(alert["starts_at"]))
    tenant = raws[0]["tenant"] if raws else "default"
    audit: list[Message] = [(tenant.encode(), v, latest or None) for v in _audit_values(raws)]
    sources: dict[str, int] = dict(Counter(raw["source"] for raw in raws))
    return Request(ids, alerts, audit, partition_of(tenant, partitions.raw), pings, sources)


def _ping(heartbeats: Mapping[str, Heartbeat], raw: RawAlert, alert: Alert) -> Message | None:
    """The ``heartbeats`` message of an alert that pings a heartbeat, else ``None`` (a
    heartbeat's own page is never a ping)."""
    if raw["context"].get("via") == "heartbeat":
        return None
    heartbeat = pinged_by(heartbeats, group_labels(alert))
    if heartbeat is None:
        return None
    # A firing alert pings when it is received; a resolved one says the pings stopped.
    kind = "ping" if alert["status"] == "firing" else "stopped"
    ping = {"kind": kind, "at": alert["received_at"], "alert_id": alert["id"]}
    return (heartbeat.encode(), orjson.dumps(ping), None)


def _audit_values(raws: list[RawAlert]) -> list[bytes]:
    """The ``alerts.raw`` values of one request: its alerts as received, in as few messages
    as Kafka's message size allows (one, unless the request is over half a megabyte); an alert
    object over half a megabyte is recorded as ``{"truncated": true, "bytes": n}``."""
    if not raws:
        return []
    head = {k: v for k, v in raws[0].items() if k != "payload"}
    values: list[bytes] = []
    chunk: list[Any] = []
    size = 0
    for raw in raws:
        payload = orjson.dumps(raw["payload"])
        if len(payload) > MAX_RECORD_BYTES // 2:  # kept as a note: it cannot be a message
            payload = orjson.dumps({"truncated": True, "bytes": len(payload)})
        if chunk and size + len(payload) > MAX_RECORD_BYTES // 2:
            values.append(orjson.dumps({**head, "alerts": chunk}))
            chunk, size = [], 0
        chunk.append(orjson.Fragment(payload))
        size += len(payload)
    values.append(orjson.dumps({**head, "alerts": chunk}))
    return values


def messages(requests: Iterable[Request], topics: Topics) -> dict[Place, list[Message]]:
    """The Kafka messages that carry ``requests`` together, by topic and partition: their
    alerts in one batch message per partition (more only past a message's size)."""
    alerts: dict[int, list[bytes]] = defaultdict(list)
    out: dict[Place, list[Message]] = defaultdict(list)
    for request in requests:
        for partition, items in request.alerts.items():
            alerts[partition].extend(items)
        out[(topics.raw, request.audit_partition)].extend(request.audit)
        if request.pings:
            out[(topics.heartbeats, 0)].extend(request.pings)
    for partition, items in alerts.items():
        out[(topics.normalized, partition)] = packed(items)
    return out
