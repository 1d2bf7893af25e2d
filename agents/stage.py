"""The loop every stage shares: records in batches, outputs in batches, a bad record to the
dead letters.

Between the stages a Kafka record is a *batch*: the records bound for one partition of the next
topic, written as one message (see :mod:`agents.batches`). A stage takes the events that are
ready (up to ``TAKE_EVENTS``, waiting at most ``TAKE_WITHIN``), hands every record in them to
its handler — each inside the Faust event that carried it, so table writes land in that
event's partition — then writes the tables the batch changed (:mod:`tables.write_behind`) and
sends what the handlers emitted, all before the events are acknowledged: nothing is committed
before its state and outputs are with the producer (at-least-once).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import faust
import orjson

from agents.batches import Outbox, unpack
from app import metrics, topics
from app.records import DeadLetter, utc_now
from tables import write_behind
from tables.write_behind import in_event

log = logging.getLogger(__name__)

Handler = Callable[[Any, Any], Awaitable[None]]

TAKE_EVENTS = 256  # events handled before their outputs are sent
TAKE_WITHIN = 0.005  # seconds a stage waits for more events before it handles what it has
POSITIONS_PER_OFFSET = 1 << 16  # positions of the records of one batch message


@dataclass(frozen=True)
class Origin:
    """Where the record being handled came from; ``position`` orders records like offsets do
    (a batch's records share the message offset and differ by their index in the batch)."""

    topic: str
    partition: int
    position: int


_origin: ContextVar[Origin] = ContextVar("origin")
_outbox: ContextVar[Outbox] = ContextVar("outbox")


def origin() -> Origin:
    """The topic, partition and position of the record being handled."""
    return _origin.get()


async def emit(topic: faust.TopicT, key: str, value: Any, timestamp: float | None = None) -> None:
    """Send ``value`` to an inter-stage ``topic``, batched with the stage's other outputs.

    Outside a stage (the web, a timer) the record is sent at once.
    """
    outbox = _outbox.get(None)
    if outbox is None:
        await topic.send(key=key, value=value, timestamp=timestamp)
    else:
        outbox.add(topic, key, value, timestamp)


async def run_stage(stage: str, stream: faust.StreamT, handle: Handler) -> None:
    """Feed each (key, value) of ``stream`` to ``handle``; never die on one record."""
    duration = metrics.stage_duration.labels(stage)
    async for events in stream.take_events(TAKE_EVENTS, TAKE_WITHIN):
        outbox = Outbox()
        token = _outbox.set(outbox)
        try:
            with write_behind.batch():
                for event in events:
                    with in_event(event):
                        for where, key, value in _records(event):
                            started = time.perf_counter()
                            await _handle_one(stage, handle, where, key, value)
                            duration.observe(time.perf_counter() - started)
        finally:
            _outbox.reset(token)
        await outbox.flush()


async def _handle_one(stage: str, handle: Handler, where: Origin, key: Any, value: Any) -> None:
    _origin.set(where)
    try:
        await handle(key, value)
    except Exception as exc:
        log.exception("%s: record at %s sent to alerts.deadletter", stage, where)
        await dead_letter(stage, where.topic, key, value, exc)


def _records(event: faust.EventT) -> Iterator[tuple[Origin, Any, Any]]:
    message = event.message
    first = message.offset * POSITIONS_PER_OFFSET
    for index, (key, value) in enumerate(unpack(event.key, event.value)):
        yield Origin(message.topic, message.partition, first + index), key, value


async def dead_letter(stage: str, topic: str, key: Any, value: Any, error: Exception) -> None:
    """Write the record that failed, and why, to ``alerts.deadletter``."""
    metrics.dead_letters.labels(stage).inc()
    record: DeadLetter = {
        "stage": stage,
        "error": f"{type(error).__name__}: {error}",
        "topic": topic,
        "key": _text(key),
        "value": _jsonable(value),
        "at": utc_now(),
    }
    await topics.deadletter.send(key=_text(key) or "", value=record)


def decode_json(value: bytes) -> Any:
    """Decode a value of a topic that outside producers may write to."""
    return orjson.loads(value)


def _text(key: Any) -> str | None:
    if isinstance(key, bytes):
        return key.decode("utf-8", "replace")
    return None if key is None else str(key)


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    try:
        orjson.dumps(value)
    except TypeError:
        return repr(value)
    return value
