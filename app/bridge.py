"""The bridge: validated source alerts onto Kafka, acknowledged by the broker before 202.

A request is parsed once, by :mod:`app.prepare`: on the event loop, or for a large body in a
parse process (:mod:`app.parse_pool`), which then writes that request itself, as below, with a
producer of its own. The source's alerts become canonical alerts, which the dedup stage reads
straight from ``alerts.normalized``, partitioned by ``tenant|fingerprint``. The request as
received (the source's alert objects and what came around them) goes to ``alerts.raw``, the
audit topic, as one message (more only when it exceeds a Kafka message).

Requests written here that arrive within ``LINGER`` seconds of each other are sent together
(:class:`~app.runtime.coalescer.Coalescer`): one batch message per partition carries all their
alerts, so under load the dedup stage gets large batches instead of one small message per
request; the slower the broker answers, the larger the rounds.
:func:`publish` returns only when the broker acknowledged everything of its request
(``acks=all``).
"""

from __future__ import annotations

from functools import partial

from app import metrics, topics
from app.current_config import current
from app.prepare import Partitions, Request, Topics, messages, prepare
from app.records import RawAlert
from app.runtime.coalescer import Coalescer
from app.stages import producer

REQUEST_PARTITIONS = Partitions(topics.normalized.partitions, topics.raw.partitions)
REQUEST_TOPICS = Topics(topics.normalized.name, topics.raw.name, topics.heartbeats.name)
LINGER = 0.004  # seconds a request waits for others to share its messages
ROUND_ITEMS = 20_000  # alerts at most in one round of messages


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
    counted(request.sources)
    return request.ids


def counted(sources: dict[str, int]) -> None:
    """Count a written request's alerts by source (``alertflow_alerts_received_total``)."""
    for source, count in sources.items():
        metrics.alerts_received.labels(source).inc(count)


_coalescer: Coalescer[Request] = Coalescer(
    producer,
    partial(messages, topics=REQUEST_TOPICS),
    LINGER,
    ROUND_ITEMS,
    weight=lambda request: len(request.ids),
)
