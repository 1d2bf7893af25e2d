"""The loop every stage shares: the records of waiting messages to the handler, outputs out, then
the ack.

The stage's handler gets the records of a *run* — consecutive messages of one topic partition
that were waiting together (up to ``RUN_MESSAGES``; a batch message holds the records of one
partition) — with a :class:`Context`: where they came from, the rows of the stage's tables in
that partition, and where outputs go. A handler is plain code over a list
(``handle(ctx, records)``), so a run pays one call, not one per record or message; a stage that
keeps up gets runs of one message, so waiting for a run never delays a record. While a bulk
request is being accepted, a long run is handled in slices of about ``SLICE_SECONDS`` each, the
event loop serving the request between them.

When a handler raises, its writes and outputs are dropped and the records are handled one by
one, so only the record at fault goes to ``alerts.deadletter`` (with the stage, the error, the
topic and the original key and value, truncated if it is too large for Kafka).

Outputs of several messages are sent together: when ``TAKE_EVENTS`` messages were handled or
the batch window closed (``FLUSH_AFTER`` while the stage keeps up, doubling up to ``FLUSH_MAX``
while it is busy), the outbox is flushed — outputs and changelog rows acknowledged by the
broker — and only then are the messages acknowledged: at-least-once. A quiet stage costs
nothing: no timer runs without an open window.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import faust
import orjson
from aiokafka.errors import KafkaError

from app.logs import record_fields
from app.runtime.batches import MAX_RECORD_BYTES, item, unpack
from app.runtime.bulk import accepting_now, held_back
from app.runtime.outbox import Outbox, Producer
from app.runtime.partitions import partition_of
from app.runtime.state import Rows, StateTable
from app.runtime.store import StorageError

log = logging.getLogger(__name__)

TAKE_EVENTS = 256  # messages handled at most before their outputs are sent
RUN_MESSAGES = 32  # waiting messages of one partition handled in one run at most
# while a bulk request is being accepted, a call of a long run takes about this long, then
# the event loop serves others
SLICE_SECONDS = 0.01
SLICE_RECORDS = (8, 64, 4096)  # records of one call: at least, before the cost is known, at most
FLUSH_AFTER = 0.004  # seconds a window stays open while the stage keeps up
FLUSH_MAX = 0.128  # seconds a window stays open at most while messages wait
POSITIONS_PER_OFFSET = 1 << 16  # positions of the records of one batch message
DEAD_VALUE_BYTES = 64 * 1024  # a dead letter keeps at most this much of the value


class Record(NamedTuple):
    """One record of a message: its key, decoded value and position.

    ``position`` orders records like offsets do: a batch's records share the message offset
    and differ by their index (``offset * 65536 + index``), so a replayed record has the same
    position as the first time and state can tell it was applied already.
    """

    key: str
    value: Any
    position: int


@dataclass(frozen=True)
class Topic:
    """A topic the stages produce to: inter-stage (batch messages) or public (one per record)."""

    name: str
    partitions: int
    batched: bool


class Stage:
    """What a stage is made of: its name, the metrics it reports, where dead letters go."""

    def __init__(
        self,
        name: str,
        producer: Producer,
        deadletter: Topic,
        observe: Callable[[str, int, float], None],
        dead_lettered: Callable[[str], None],
        fault: Callable[[str, str | None], None],
    ) -> None:
        self.name = name
        self.producer = producer
        self.deadletter = deadletter
        self.observe = observe
        self.dead_lettered = dead_lettered
        self.fault = fault  # (kind, detail) while a fault lasts, (kind, None) once it is over


class Context:
    """Where a handler's records came from and where its writes and outputs go."""

    def __init__(self, stage: Stage, topic: str, partition: int, outbox: Outbox) -> None:
        self.stage = stage
        self.topic = topic
        self.partition = partition
        self._outbox = outbox
        self._rows: dict[str, Rows] = {}

    def rows(self, table: StateTable) -> Rows:
        """The rows of ``table`` in this partition, as this call sees them."""
        if table.name not in self._rows:
            self._rows[table.name] = Rows(table, self.partition)
        return self._rows[table.name]

    def emit(
        self,
        topic: Topic,
        key: str,
        value: Any,
        timestamp_ms: int | None = None,
        partition: int | None = None,
    ) -> None:
        """Send ``value`` keyed ``key`` to ``topic`` with the stage's other outputs.

        An inter-stage topic gets it in a batch message of the key's partition (or of
        ``partition``, to reach one whatever the key); a public topic gets a message of its own
        at ``timestamp_ms`` (the record's event time), a tombstone when ``value`` is ``None``.
        """
        if partition is None:
            partition = partition_of(key, topic.partitions)
        if topic.batched:
            self._outbox.item(topic.name, partition, item(key, value))
        else:
            raw = None if value is None else orjson.dumps(value)
            self._outbox.record(topic.name, partition, key.encode(), raw, timestamp_ms)

    def after_sent(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once this call's rows and outputs are acknowledged by the broker
        (e.g. start what must not begin before its record is durable); never if it fails."""
        self._outbox.after_sent(callback)

    def commit(self) -> None:
        """Queue this call's rows: changelog messages, and for the store once acknowledged."""
        for rows in self._rows.values():
            rows.commit(self._outbox)
        self._rows.clear()


Handler = Callable[[Context, Sequence[Record]], Awaitable[None] | None]


async def run_stage(
    stage: Stage,
    stream: faust.StreamT[Any],
    handle: Handler,
    tables: Sequence[StateTable] = (),
) -> None:
    """Feed the records of ``stream``'s messages to ``handle``, a run of waiting messages of one
    partition at a time; never die on one record."""
    if not isinstance(stream, faust.Stream):  # noack(): the window acknowledges messages itself
        raise TypeError(f"{stage.name}: expected a Faust stream, got {type(stream).__name__}")
    source = stream.noack()
    channel = source.channel
    if not isinstance(channel, faust.ChannelT):  # a run ends where the channel's queue does
        raise TypeError(f"{stage.name}: expected a stream over a channel")
    window = _Window(stage, source, tables)
    run: list[faust.EventT[Any]] = []  # consecutive messages of one topic partition
    try:
        async for event in source.events():
            if run and run[0].message.tp != event.message.tp:
                await _handle_run(stage, run, handle, window)
                run = []
            run.append(event)
            if len(run) >= RUN_MESSAGES or channel.empty():
                await _handle_run(stage, run, handle, window)
                run = []
    finally:
        if len(window.outbox):
            log.warning(
                "%s: stopped with %d records unsent; their messages are read again",
                stage.name,
                len(window.outbox),
            )
        window.outbox.clear()


async def _handle_run(
    stage: Stage, run: list[faust.EventT[Any]], handle: Handler, window: _Window
) -> None:
    """Handle the records of consecutive messages of one topic partition: in one call, or in
    slices while a bulk request is being accepted. The time observed is the unpacking and the
    calls', not the waits between slices."""
    async with window.lock:
        started = time.perf_counter()
        records: list[Record] = []
        for event in run:
            try:
                records += _records(event)
            except (ValueError, TypeError) as error:  # not JSON, not a batch: an outsider's
                message = event.message
                raw = Record(_text(event.key), event.value, message.offset * POSITIONS_PER_OFFSET)
                _dead_letter(stage, message.topic, raw, error, window.outbox)
        elapsed = time.perf_counter() - started
        if records:
            elapsed += await _sliced(stage, run[0], records, handle, window)
        stage.observe(stage.name, len(records), elapsed)
        window.busy += elapsed
        for event in run:
            await window.taken(event)


async def _sliced(
    stage: Stage, event: faust.EventT[Any], records: list[Record], handle: Handler, window: _Window
) -> float:
    """Handle ``records`` in one call; while a bulk request is being accepted
    (:mod:`app.runtime.bulk`), in calls of about ``SLICE_SECONDS`` each, by the stage's cost per
    record so far, holding back before each and letting the event loop serve the rest between
    them, so the rest of a storm's long run waits for the request. The seconds the calls took."""
    start = 0
    worked = 0.0
    while start < len(records):
        await held_back()
        size = window.slice_records() if accepting_now() else len(records) - start
        began = time.perf_counter()
        chunk = records[start : start + size]
        await _applied(stage, event, chunk, handle, window.outbox, window.tables.values())
        took = time.perf_counter() - began
        window.cost(min(size, len(records) - start), took)
        worked += took
        start += size
        if start < len(records):
            await asyncio.sleep(0)  # the loop's other tasks run before the next slice
    return worked


def _text(key: Any) -> str:
    """A message key as text (undecodable bytes replaced).

    >>> _text(b"k\\xff"), _text(None)
    ('k�', '')
    """
    if isinstance(key, bytes):
        return key.decode("utf-8", "replace")
    return "" if key is None else str(key)


def _records(event: faust.EventT[Any]) -> list[Record]:
    message = event.message
    first = message.offset * POSITIONS_PER_OFFSET
    return [
        Record(key, value, first + index)
        for index, (key, value) in enumerate(unpack(event.key, event.value))
    ]


async def _applied(
    stage: Stage,
    event: faust.EventT[Any],
    records: list[Record],
    handle: Handler,
    outbox: Outbox,
    tables: Iterable[StateTable] = (),
) -> None:
    """Handle the records of a run of messages, waiting out storage failures: while RocksDB cannot
    write (a full disk) — the rows of an earlier send it refused, or a read — the stage reports
    the fault, holds the run and tries again, so processing resumes by itself once the disk is
    back and nothing is lost or dead-lettered."""
    delay = 0.5
    while True:
        try:
            for table in tables:
                table.store_unstored()
            await _apply(stage, event, records, handle, outbox)
        except StorageError as error:
            stage.fault("storage", str(error))
            log.warning("%s: %s; trying again in %.1f s", stage.name, error, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
            continue
        if delay > 0.5:
            stage.fault("storage", None)
        return


async def _apply(
    stage: Stage, event: faust.EventT[Any], records: list[Record], handle: Handler, outbox: Outbox
) -> None:
    """Handle the records of a run; on failure one by one, the faulty to dead letters."""
    message = event.message
    scope = Outbox(outbox.producer)
    try:
        await _call(handle, Context(stage, message.topic, message.partition, scope), records)
    except StorageError:
        raise
    except Exception as error:
        scope.clear()
        if len(records) > 1:
            for record in records:
                await _apply(stage, event, [record], handle, outbox)
        else:
            _dead_letter(stage, message.topic, records[0], error, outbox)
        return
    outbox.merge(scope)


async def _call(handle: Handler, ctx: Context, records: Sequence[Record]) -> None:
    result = handle(ctx, records)
    if inspect.isawaitable(result):
        await result
    ctx.commit()


def _dead_letter(
    stage: Stage, topic: str, record: Record, error: Exception, outbox: Outbox
) -> None:
    log.error(
        "%s: record at %s/%s sent to alerts.deadletter",
        stage.name,
        topic,
        record.position,
        exc_info=error,
        extra={"stage": stage.name, **record_fields(record.value)},
    )
    stage.dead_lettered(stage.name)
    letter = dead_letter(stage.name, topic, record.key, record.value, error)
    outbox.record(
        stage.deadletter.name,
        partition_of(record.key or "", stage.deadletter.partitions),
        (record.key or "").encode(),
        orjson.dumps(letter),
        None,
    )


def dead_letter(
    stage: str, topic: str, key: str | None, value: Any, error: BaseException
) -> dict[str, Any]:
    """The ``alerts.deadletter`` record for a record that failed, truncated to fit Kafka.

    >>> letter = dead_letter("dedup", "alerts.normalized", "k", {"t": "x" * 2_000_000},
    ...                      ValueError("too big"))
    >>> letter["error"], letter["truncated"], len(letter["value"]) <= 64 * 1024
    ('ValueError: too big', True, True)
    >>> dead_letter("notify", "alerts.feedback", "k", b'{"a": ', ValueError("no JSON"))["value"]
    '{"a": '
    """
    from app.records import utc_now

    encoded = value.decode("utf-8", "replace") if isinstance(value, bytes) else _json_text(value)
    truncated = len(encoded) > DEAD_VALUE_BYTES
    letter: dict[str, Any] = {
        "stage": stage,
        "error": f"{type(error).__name__}: {error}"[:4096],
        "topic": topic,
        "key": key,
        "value": encoded[:DEAD_VALUE_BYTES] if truncated or isinstance(value, bytes) else value,
        "at": utc_now(),
    }
    if truncated:
        letter["truncated"] = True
        letter["size"] = len(encoded)
    assert len(orjson.dumps(letter)) < MAX_RECORD_BYTES
    return letter


def _json_text(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return repr(value)


class _Window:
    """The messages a stage handled whose outputs are not sent yet.

    Sent when ``TAKE_EVENTS`` were taken or the window closes. The window adapts: it doubles
    (up to ``FLUSH_MAX``) while the stage spent most of the last window handling messages —
    under load batches grow, so each row and message is written less often — and falls back to
    ``FLUSH_AFTER`` when it did not.
    """

    def __init__(self, stage: Stage, source: faust.StreamT[Any], tables: Sequence[StateTable]):
        self.source = source
        self.tables = {table.changelog: table for table in tables}
        self.outbox = Outbox(stage.producer)
        self.lock = asyncio.Lock()  # handling a message and sending a window never interleave
        self._events: list[faust.EventT[Any]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._due = False
        self._length = FLUSH_AFTER
        self.busy = 0.0
        self._per_record = 0.0  # seconds a record of this stage took, a moving average

    def slice_records(self) -> int:
        """Records for the next call: about ``SLICE_SECONDS``' worth."""
        fewest, first, most = SLICE_RECORDS
        if not self._per_record:
            return first
        return max(fewest, min(most, int(SLICE_SECONDS / self._per_record)))

    def cost(self, records: int, seconds: float) -> None:
        """Note that a call of ``records`` records took ``seconds``."""
        per_record = seconds / max(records, 1)
        self._per_record = (
            per_record if not self._per_record else (0.7 * self._per_record + 0.3 * per_record)
        )

    async def taken(self, event: faust.EventT[Any]) -> None:
        """Note a handled message (under ``lock``); send the window when it is time."""
        self._events.append(event)
        if len(self._events) >= TAKE_EVENTS or self._due:
            await self._send()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._length, self._on_time)

    def _on_time(self) -> None:
        self._timer = None
        self._due = True
        if not self.lock.locked():  # the loop waits for messages: send from here
            task = asyncio.get_running_loop().create_task(self._send_locked())
            _sending.add(task)
            task.add_done_callback(_sending.discard)

    async def _send_locked(self) -> None:
        async with self.lock:
            if self._due:
                await self._send()

    async def _send(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._due = False
        loaded = self.busy > self._length / 2
        self._length = min(self._length * 2, FLUSH_MAX) if loaded else FLUSH_AFTER
        self.busy = 0.0
        events, self._events = self._events, []
        for table in self.tables.values():
            table.write_due(self.outbox)
        ends = await _flushed(self.outbox)
        for (topic, partition), offset in ends.items():
            if topic in self.tables:
                try:
                    self.tables[topic].written(partition, offset)
                except StorageError as error:  # an older offset only means a longer recovery
                    log.warning("changelog offset of %s not noted: %s", topic, error)
        for event in events:
            await self.source.ack(event)


_sending: set[asyncio.Task[None]] = set()  # timer-started sends in flight


async def _flushed(outbox: Outbox) -> dict[tuple[str, int], int]:
    """Flush ``outbox``, retrying while the broker cannot take it: nothing is dropped, and
    the messages stay unacknowledged (so the stage stops consuming) until it is sent."""
    delay = 0.1
    while True:
        try:
            return await outbox.flush()
        except (TimeoutError, KafkaError, OSError) as error:
            log.warning("sending %d queued records failed (%s); retrying", len(outbox), error)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
