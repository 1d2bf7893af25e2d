"""The loop every stage shares: records in batches, outputs in batches, a bad record to the
dead letters.

Between the stages a Kafka record is a *batch*: the records bound for one partition of the next
topic, written as one message (see :mod:`agents.batches`). A stage hands every record of each
event to its handler — inside the Faust event that carried it, so table writes land in that
event's partition. When the batch's time window closes (``FLUSH_AFTER`` while the stage keeps
up, growing to ``FLUSH_MAX`` under load) or ``TAKE_EVENTS`` were taken, it writes the tables the
batch changed (:mod:`tables.write_behind`) and sends what the handlers emitted, all before the
batch's events are acknowledged: nothing is committed before its state and outputs are with
the producer (at-least-once). A quiet stage costs nothing: no timer runs without an open batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import faust
import orjson

from agents.batches import Outbox, partition_of, unpack
from app import logs, metrics, topics
from app.faust_app import app
from app.records import DeadLetter, utc_now
from tables import write_behind
from tables.write_behind import in_event

log = logging.getLogger(__name__)

Handler = Callable[[Any, Any], Awaitable[None]]
Stages = Mapping[str, tuple[str, Handler]]  # topic name → (stage, handler) run in one loop

TAKE_EVENTS = 256  # events handled at most before their writes and outputs are sent
FLUSH_AFTER = 0.004  # seconds a batch stays open when the stage keeps up (at most, if full)
FLUSH_MAX = 0.128  # seconds a batch stays open at most while events wait
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
_chained: ContextVar[Stages | None] = ContextVar("chained", default=None)


def origin() -> Origin:
    """The topic, partition and position of the record being handled."""
    return _origin.get()


async def emit(topic: faust.TopicT, key: str, value: Any, timestamp: float | None = None) -> None:
    """Send ``value`` to an inter-stage ``topic``, batched with the stage's other outputs.

    A topic whose stage is chained to this one (``run_stage(chain=...)``) is not sent to: its
    stage handles the record at once, in the same event. Outside a stage (the web, a timer)
    the record is sent at once.
    """
    chained = (_chained.get() or {}).get(topic.get_topic_name())
    if chained is not None:
        where = origin()
        if partition_of(key) != where.partition:
            raise ValueError(f"{topic.get_topic_name()}: key {key!r} is another partition's")
        handed = Origin(topic.get_topic_name(), where.partition, where.position)
        try:
            await _handle_one(*chained, handed, key, value)
        finally:
            _origin.set(where)  # back to the record that emitted it
        return
    outbox = _outbox.get(None)
    if outbox is None:
        await topic.send(key=key, value=value, timestamp=timestamp)
    else:
        outbox.add(topic, key, value, timestamp)


async def run_stage(
    stage: str, stream: faust.StreamT, handle: Handler, *, chain: Stages | None = None
) -> None:
    """Feed each (key, value) of ``stream`` to ``handle``; never die on one record.

    ``chain`` runs further stages in this loop: a record of one of its topics — read from
    ``stream`` or emitted by a handler — goes straight to that stage's handler. Stages keyed
    alike (by tenant, say) save a topic hop that way; the topics must share the stream's key.
    """
    logs.bind(stage=stage)  # this agent's task: every record it logs names the stage
    chained = dict(chain or {})
    for name in {stage, *(name for name, _ in chained.values())}:
        metrics.dead_letters.labels(name)  # exported at 0, so rate() sees the first one
    source = stream.noack()
    batch = _Batch(source)
    _outbox.set(batch.outbox)
    _chained.set(chained)
    try:
        async for event in source.events():
            async with batch.lock:
                started = time.perf_counter()
                with in_event(event):
                    for where, key, value in _records(event):
                        route = chained.get(where.topic, (stage, handle))
                        await _handle_one(*route, where, key, value)
                batch.busy += time.perf_counter() - started
                await batch.taken(event)
    except BaseException:
        batch.writes.discard()
        raise


class _Batch:
    """The events a stage handled whose writes and outputs are not sent yet.

    Sent when ``TAKE_EVENTS`` were taken or its time window closes. The window adapts: it
    doubles (up to ``FLUSH_MAX``) while the stage spent most of the last window handling
    events — under load batches grow, so each row and message is written less often — and
    falls back to ``FLUSH_AFTER`` when it did not. A quiet stage costs nothing: no timer runs
    without an open batch.
    """

    def __init__(self, source: faust.StreamT) -> None:
        self.source = source
        self.writes = write_behind.begin()
        self.outbox = Outbox()
        self.lock = asyncio.Lock()  # handling an event and sending a batch never interleave
        self._events: list[faust.EventT] = []
        self._timer: asyncio.TimerHandle | None = None
        self._due = False
        self._window = FLUSH_AFTER
        self.busy = 0.0  # seconds spent handling the events of this batch

    async def taken(self, event: faust.EventT) -> None:
        """Note a handled event (under ``lock``); send the batch when it is time."""
        self._events.append(event)
        if len(self._events) >= TAKE_EVENTS or self._due:
            await self._send()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._window, self._on_time)

    def _on_time(self) -> None:
        self._timer = None
        self._due = True
        if not self.lock.locked():  # the loop waits for events: send from here
            task = asyncio.get_running_loop().create_task(self._send_locked())
            _flushes.add(task)
            task.add_done_callback(_flushes.discard)

    async def _send_locked(self) -> None:
        async with self.lock:
            if self._due:
                await self._send()

    async def _send(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._due = False
        loaded = self.busy > self._window / 2
        self._window = min(self._window * 2, FLUSH_MAX) if loaded else FLUSH_AFTER
        self.busy = 0.0
        events, self._events = self._events, []
        self.writes.flush()
        await self.outbox.flush()
        for event in events:
            await self.source.ack(event)


_flushes: set[asyncio.Task[None]] = set()  # timer-started sends in flight


async def _handle_one(stage: str, handle: Handler, where: Origin, key: Any, value: Any) -> None:
    started = time.perf_counter()
    _origin.set(where)
    try:
        await handle(key, value)
    except Exception as exc:
        context = {"stage": stage, **logs.record_fields(value)}
        log.exception("%s: record at %s sent to alerts.deadletter", stage, where, extra=context)
        await dead_letter(stage, where.topic, key, value, exc)
    metrics.stage_duration.labels(stage).observe(time.perf_counter() - started)


@app.on_partitions_revoked.connect
async def _drop_deferred_writes(*_: Any, **__: Any) -> None:
    """Writes held for partitions this worker may no longer own must not be made."""
    write_behind.discard_all()


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
