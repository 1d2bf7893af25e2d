"""The bridge: validated source alerts onto Kafka, acknowledged by the broker before 202.

A request is parsed once: the source's alerts become canonical alerts here
(:func:`app.sources.normalize_all`), which the dedup stage reads straight from
``alerts.normalized``, partitioned by ``tenant|fingerprint``. The request as received (the
source's alert objects and what came around them) goes to ``alerts.raw``, the audit topic, as
one message (more only when it exceeds a Kafka message).

Requests that arrive within ``LINGER`` seconds of each other are sent together
(:class:`Coalescer`): one batch message per partition carries all their alerts, so under load
the dedup stage gets large batches instead of one small message per request. One round is sent
at a time; the requests that arrive meanwhile wait and go together in the next, so the slower
the broker answers, the larger the rounds (rounds never race each other for a partition).
:func:`publish` returns only when the broker acknowledged everything of its request
(``acks=all``).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from app import metrics, topics
from app.config import group_labels
from app.current_config import current
from app.heartbeats import pinged_by
from app.records import Alert, RawAlert, epoch_ms
from app.runtime.batches import item, pack
from app.runtime.outbox import MAX_RECORD_BYTES, Message, Place, Producer
from app.runtime.partitions import partition_of
from app.sources import SourceError, normalize_all
from app.stages import producer
from tables.dedup import episode_key

MAX_ALERT_BYTES = 256 * 1024  # one canonical alert; later stages add their fields to it
LINGER = 0.004  # seconds a request waits for others to share its messages
ROUND_ITEMS = 20_000  # alerts at most in one round of messages


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


def prepare(raws: list[RawAlert]) -> Request:
    """Normalise and encode the alerts of a request; raise :class:`SourceError` (4xx) for input
    the pipeline would refuse, before anything is written.

    An alert of a configured heartbeat (``Watchdog``) is its ping, on ``heartbeats``, not an
    alert of the chain: it never pages anyone (:mod:`app.heartbeats`).
    """
    ids: list[str] = []
    alerts: dict[int, list[bytes]] = defaultdict(list)
    pings: list[Message] = []
    heartbeats = current().heartbeats
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
        alerts[partition_of(key, topics.normalized.partitions)].append(encoded)
        ids.append(alert["id"])
        latest = max(latest, epoch_ms(alert["starts_at"]))
    tenant = raws[0]["tenant"] if raws else "default"
    audit: list[Message] = [(tenant.encode(), v, latest or None) for v in _audit_values(raws)]
    return Request(ids, alerts, audit, partition_of(tenant, topics.raw.partitions), pings)


def _ping(heartbeats: Any, raw: RawAlert, alert: Alert) -> Message | None:
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


def messages(requests: Iterable[Request]) -> dict[Place, list[Message]]:
    """The Kafka messages that carry ``requests`` together, by topic and partition."""
    alerts: dict[int, list[bytes]] = defaultdict(list)
    out: dict[Place, list[Message]] = defaultdict(list)
    for request in requests:
        for partition, items in request.alerts.items():
            alerts[partition].extend(items)
        out[(topics.raw.name, request.audit_partition)].extend(request.audit)
        if request.pings:
            out[(topics.heartbeats.name, 0)].extend(request.pings)
    for partition, items in alerts.items():
        out[(topics.normalized.name, partition)] = [(None, m, None) for m in pack(items)]
    return out


async def publish(raws: list[RawAlert]) -> list[str]:
    """Write the alerts of one request; return their ids, in order, once the broker has them.

    A failure raises, and the caller answers with an error, never 202.
    """
    if not raws:
        return []
    request = prepare(raws)
    await _coalescer.send(request)
    for raw in raws:
        metrics.alerts_received.labels(raw["source"]).inc()
    return request.ids


@dataclass
class _Round:
    requests: list[Request] = field(default_factory=list)
    alerts: int = 0
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    lingered: bool = False  # its linger is over: it goes as soon as no round is being sent


class Coalescer:
    """Sends the requests that arrive within ``linger`` seconds of each other together, one
    round at a time: while a round is being sent, the next one keeps gathering requests (up to
    ``ROUND_ITEMS`` alerts; fuller rounds queue behind it)."""

    def __init__(self, producer: Producer, linger: float = LINGER) -> None:
        self._producer = producer
        self._linger = linger
        self._round: _Round | None = None  # the round new requests join
        self._full: deque[_Round] = deque()  # rounds closed while another was being sent
        self._sending: asyncio.Task[None] | None = None

    async def send(self, request: Request) -> None:
        """Send ``request`` with the others of its round; return once all are acknowledged."""
        current = self._round
        if current is None:
            current = self._round = _Round()
            asyncio.get_running_loop().call_later(self._linger, self._lingered, current)
        current.requests.append(request)
        current.alerts += len(request.ids)
        if current.alerts >= ROUND_ITEMS:
            self._round = None
            self._full.append(current)
            self._next()
        await asyncio.shield(current.done)

    def _lingered(self, current: _Round) -> None:
        current.lingered = True
        self._next()

    def _next(self) -> None:
        """Start sending the next round, unless one is being sent."""
        if self._sending is not None:
            return
        if self._full:
            current = self._full.popleft()
        elif self._round is not None and self._round.lingered:
            current, self._round = self._round, None
        else:
            return
        self._sending = asyncio.get_running_loop().create_task(self._flush(current))

    async def _flush(self, current: _Round) -> None:
        try:
            await self._producer.send(messages(current.requests))
        except BaseException as error:  # every request of the round hears of it
            current.done.set_exception(error)
            current.done.exception()  # retrieved: a round nobody waits for logs nothing
        else:
            current.done.set_result(None)
        finally:
            self._sending = None
            self._next()


_coalescer = Coalescer(producer)


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
