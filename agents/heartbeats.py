"""Heartbeats: pings in, pages out (:mod:`app.heartbeats` decides).

The ``heartbeats`` topic (one partition) carries pings, keyed by heartbeat name — written by
``POST /api/v1/heartbeats/{name}`` and by the bridge, which diverts the alerts of a configured
heartbeat (``Watchdog``) there — and clock ticks. The agent keeps one row per heartbeat in the
``heartbeats`` table and publishes a page, or its resolve, through the bridge like any alert.

The clock is wall time: a timer on the worker that owns the partition reads the table every
second and sends a tick only when a heartbeat is due (or a removed one is still listed), so a
quiet system writes nothing. After this worker starts watching, each heartbeat gets a full
``interval + grace`` before it may page.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import faust
from faust.types import TP

from app import heartbeats as beats
from app import topics
from app.bridge import publish
from app.current_config import current
from app.faust_app import app, every
from app.records import epoch_ms
from app.runtime import Context, Record, run_stage
from app.runtime.state import Rows
from app.stages import periodic, send, stage
from tables.heartbeats import heartbeats as heartbeats_table

log = logging.getLogger(__name__)

CLOCK_SECONDS = 1.0
_PARTITION = TP(topics.heartbeats.name, 0)
_watching: dict[str, int] = {}  # "since" → wall time this worker started watching (ms)


def watching_since() -> int:
    """When this worker started watching the heartbeats (its first look after an assignment)."""
    return _watching.setdefault("since", _wall_ms())


def state_of(name: str) -> beats.State | None:
    """The stored state of heartbeat ``name``."""
    state: beats.State | None = heartbeats_table.read(0, name)
    return state


async def handle(ctx: Context, records: Sequence[Record]) -> None:
    """Count the pings; on a tick, page for the silent heartbeats."""
    rows = ctx.rows(heartbeats_table)
    for record in records:
        await _handle(rows, record.key, record.value)


async def _handle(rows: Rows, name: Any, value: dict[str, Any]) -> None:
    kind = value.get("kind")
    if kind == "tick":
        await _on_tick(rows, int(value["at_ms"]))
    elif kind in ("ping", "stopped"):
        await _on_ping(rows, str(name), kind, epoch_ms(value["at"]))
    else:
        raise ValueError(f"heartbeats: unknown kind {kind!r}")


async def _on_ping(rows: Rows, name: str, kind: str, at_ms: int) -> None:
    if name not in current().heartbeats:
        log.warning("ping of heartbeat %r, which is not configured (any more): ignored", name)
        return
    if kind == "stopped":  # a resolved Watchdog: the pings stopped, the clock will tell
        return
    state, alerts = beats.on_ping(rows.get(name) or beats.new_state(), at_ms)
    if alerts:
        await publish(alerts)
    rows.put(name, state)


async def _on_tick(rows: Rows, now_ms: int) -> None:
    configured = current().heartbeats
    since = watching_since()
    for name, heartbeat in configured.items():
        before = rows.get(name) or beats.new_state()
        state, alerts = beats.on_clock(heartbeat, before, now_ms, since)
        if alerts:
            await publish(alerts)
            rows.put(name, state)
    for name in [key for key in _names() if key not in configured]:
        gone = rows.get(name)
        if gone is not None and (alerts := beats.on_removed(gone, now_ms)):
            await publish(alerts)
        rows.delete(name)


def _names() -> list[str]:
    return [key for key, _ in heartbeats_table.items(0)]


def _due(now_ms: int) -> bool:
    """Whether a tick has something to do: a heartbeat due and not paging, or a removed one."""
    configured = current().heartbeats
    since = watching_since()
    for name, heartbeat in configured.items():
        state = state_of(name) or beats.new_state()
        if state["page"] is None and now_ms >= beats.due_ms(heartbeat, state, since):
            return True
    return any(name not in configured for name in _names())


@app.agent(topics.source(topics.heartbeats), concurrency=1)
async def heartbeats(stream: faust.StreamT[Any]) -> None:
    """Count pings, page for silent heartbeats."""
    await run_stage(stage("heartbeats"), stream, handle, [heartbeats_table])


@every(CLOCK_SECONDS)
@periodic
async def heartbeat_clock() -> None:
    """On the worker that owns the heartbeats: a tick when one is due."""
    if _PARTITION not in app.assignor.assigned_actives():
        return
    now = _wall_ms()
    if _due(now):
        await send(topics.heartbeats, None, {"kind": "tick", "at_ms": now})


@app.on_partitions_assigned.connect
async def _start_watching(*_: Any, **__: Any) -> None:
    """A worker that (re)gains the heartbeats watches them afresh."""
    _watching.clear()


def _wall_ms() -> int:
    return int(time.time() * 1000)
