"""The bridge: validated source alerts onto Kafka, acknowledged by the broker before 202.

A request is parsed once, by :mod:`app.prepare` (on the event loop, or for a large body in
a parse process: :mod:`app.parse_pool`): the source's alerts become canonical alerts, which
the dedup stage reads straight from ``alerts.normalized``, partitioned by
``tenant|fingerprint``. The request as received (the source's alert objects and what came
around them) goes to ``alerts.raw``, the audit topic, as one message (more only when it
exceeds a Kafka message).

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

from app import metrics, topics
from app.current_config import current
from app.prepare import Partitions, Request, prepare
from app.records import RawAlert
from app.runtime.batches import pack
from app.runtime.outbox import Message, Place, Producer
from app.stages import producer

REQUEST_PARTITIONS = Partitions(topics.normalized.partitions, topics.raw.partitions)
LINGER = 0.004  # seconds a request waits for others to share its messages
ROUND_ITEMS = 20_000  # alerts at most in one round of messages


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
    return await send(prepare(raws, current().heartbeats, REQUEST_PARTITIONS)) if raws else []


async def send(request: Request) -> list[str]:
    """Write a prepared request (:func:`prepare`, perhaps in :mod:`app.parse_pool`); its ids, in
    order, once the broker has them."""
    if not request.ids:
        return []
    await _coalescer.send(request)
    for source, count in request.sources.items():
        metrics.alerts_received.labels(source).inc(count)
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
