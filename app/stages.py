"""What every stage of this worker shares: the one producer, dead letters, stage metrics, the
routing configuration snapshot."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiokafka.errors import KafkaError

from app import health, metrics, topics
from app.config import load_config
from app.faust_app import app, settings
from app.learning.scoring import Thresholds
from app.runtime.batches import item
from app.runtime.outbox import Outbox, Producer
from app.runtime.partitions import partition_of
from app.runtime.stage import Stage, Topic
from app.runtime.state import forget_all
from app.triage.routing import Snapshot

log = logging.getLogger(__name__)
producer = Producer(settings.bootstrap, [topic.name for topic in topics.ALL if topic.batched])
snapshot = Snapshot(load_config(), Thresholds(settings.notify_threshold, settings.digest_threshold))


async def send(
    topic: Topic,
    key: str | None,
    value: Any,
    timestamp_ms: int | None = None,
    *,
    json_key: bool = False,
) -> None:
    """Write one record outside a stage (a web view, a timer) through the one producer;
    return once the broker acknowledged it. ``value`` ``None`` is a tombstone; a record without
    a key goes to partition 0. ``json_key``: the key as JSON, as Faust's global tables
    (silences, rules) read theirs."""
    partition = 0 if key is None else partition_of(key, topic.partitions)
    raw = None if value is None else orjson.dumps(value)
    encoded = None if key is None else (orjson.dumps(key) if json_key else key.encode())
    await producer.send({(topic.name, partition): [(encoded, raw, timestamp_ms)]})


async def send_ticks(topic: Topic) -> None:
    """A tick (``{"kind": "tick", "at_ms": now}``) to each partition of ``topic`` this worker
    is assigned: the stage reading it moves its clock on while no alert comes."""
    outbox = Outbox(producer)
    value = {"kind": "tick", "at_ms": int(time.time() * 1000)}
    for tp in app.assignor.assigned_actives():
        if tp.topic == topic.name:
            outbox.item(tp.topic, tp.partition, item("", value))
    await outbox.flush()


def periodic(job: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
    """A timer's job that writes to Kafka: while the broker is away a write fails, which is
    logged, and the next run tries again (an exception would stop the worker)."""

    @functools.wraps(job)
    async def run() -> None:
        try:
            await job()
        except (KafkaError, OSError) as error:
            log.warning(
                "%s: not done this time (%r); the next run tries again", job.__name__, error
            )

    return run


def stage(name: str) -> Stage:
    """The runtime's view of stage ``name``: producer, dead-letter topic, metrics (its
    dead-letter series exported at 0 from the start, so the first one shows in ``rate()``)."""
    metrics.dead_letters.labels(name)
    return Stage(name, producer, topics.deadletter, _observe, _dead_lettered, _fault)


def _observe(name: str, records: int, seconds: float) -> None:
    metrics.stage_records.labels(name).inc(records)
    metrics.stage_duration.labels(name).observe(seconds)


def _dead_lettered(name: str) -> None:
    metrics.dead_letters.labels(name).inc()


def _fault(kind: str, detail: str | None) -> None:
    """A stage cannot go on (``detail``) or can again (``None``): readiness says so."""
    if detail is None:
        health.clear_fault(kind)
    else:
        health.report_fault(kind, detail)


@app.on_partitions_revoked.connect
async def _forget_rows(*_: Any, **__: Any) -> None:
    """Cached and deferred rows of partitions this worker may no longer own must go."""
    forget_all()


@app.on_before_shutdown.connect
async def _stop_producer(*_: Any, **__: Any) -> None:
    """Everything queued is sent before the worker goes."""
    await producer.stop()
