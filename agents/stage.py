"""The thin loop every stage shares: one record at a time, a bad record goes to the dead letters."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import faust
import orjson

from app import metrics, topics
from app.records import DeadLetter, utc_now

log = logging.getLogger(__name__)

Handler = Callable[[Any, Any], Awaitable[None]]


async def run_stage(stage: str, stream: faust.StreamT, handle: Handler) -> None:
    """Feed each (key, value) of ``stream`` to ``handle``; never die on one record."""
    async for event in stream.events():
        started = time.perf_counter()
        try:
            await handle(event.key, event.value)
        except Exception as exc:
            log.exception("%s: record at %s sent to alerts.deadletter", stage, event.message.tp)
            await dead_letter(stage, event.message.topic, event.key, event.value, exc)
        metrics.stage_duration.labels(stage).observe(time.perf_counter() - started)


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
