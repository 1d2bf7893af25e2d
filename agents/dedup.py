"""Dedup stage: one alert per firing episode, re-sends counted, flapping alerts held back.

Reads ``alerts.normalized`` (key ``tenant|fingerprint``), decides each record with the pure
rules of :mod:`app.dedup.episode` against the fingerprint's row, and passes what changed state
to ``alerts.deduped`` (key tenant). Per call, in the partition being handled: the episodes it
touched, the partition's bookkeeping row (held rows settle in event time: any later record of
the partition releases them), aliases for ids that joined an open episode, expiry buckets, and
the episodes of sources with a ``resolve_timeout`` that timed out (:mod:`app.dedup.timeout`).
A ``{"kind": "tick", "at_ms"}`` record, which each worker sends to its partitions every
``notify.tick_interval``, moves the partition's clock when no alert comes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import faust

from app import metrics, topics
from app.config import POLICIES, DedupPolicy, load_config
from app.dedup import timeout
from app.dedup.episode import Episode, Ticks, decide, only_counted, tick, track
from app.faust_app import app, every
from app.identity import episode_key
from app.records import Alert, epoch_ms
from app.runtime import Context, Record, run_stage
from app.runtime.state import Rows
from app.stages import periodic, send_ticks, stage
from tables.dedup import alias_key, dedup, ticks_key
from tables.expiry import Expiry

EXPIRY = Expiry("\x00dedup")
CONFIG = load_config()
POLICY_BY_SOURCE = CONFIG.dedup


def policy_of(row: Episode | Alert | dict[str, Any]) -> DedupPolicy:
    """The policy of the source a row or an alert came from."""
    return POLICY_BY_SOURCE.get(str(row.get("source", "")), POLICIES["api"])


def handle(ctx: Context, records: Sequence[Record]) -> None:
    """Decide every record of one call; pass on what changed state."""
    rows = ctx.rows(dedup)
    bookkeeping = ticks_key(ctx.partition)
    ticks: Ticks = rows.get(bookkeeping) or Ticks(due={}, released=[])
    before_ticks = ticks
    now_ms = 0
    dropped = held = 0
    for record in records:
        if record.value.get("kind") == "tick":
            now_ms = max(now_ms, int(record.value["at_ms"]))
            ticks, released, outputs = tick(
                ticks, rows.get, now_ms, record.position, POLICY_BY_SOURCE
            )
            _release(ctx, rows, released, outputs)
            continue
        alert: Alert = record.value
        policy = policy_of(alert)
        at = epoch_ms(alert["received_at"])
        before: Episode | None = rows.get(record.key)
        before, ended = timeout.timed_out(before, at, policy)
        state, passed = decide(before, alert, record.position, policy)
        if passed is None and ended is None and only_counted(before, state):
            rows.defer(record.key, state)  # a re-send: its count may wait
        else:
            rows.put(record.key, state)
        _schedule(rows, ctx.partition, record.key, state, before, policy)
        if state["alert_id"] != alert["id"]:  # it joined an episode of another id
            _alias(rows, ctx.partition, alert, state, policy)
        now_ms = max(now_ms, at)
        ticks = track(ticks, record.key, state, policy)
        ticks, released, outputs = tick(ticks, rows.get, now_ms, record.position, POLICY_BY_SOURCE)
        if passed is None and state["held"]:
            held += 1
        elif passed is None:
            dropped += 1
        _release(ctx, rows, released, [o for o in (ended, passed) if o] + outputs)
    for key, row, resolve in timeout.sweep(rows, ctx.partition, now_ms, policy_of):
        rows.put(key, row)
        ctx.emit(topics.deduped, resolve["tenant"], resolve)
    EXPIRY.sweep(rows, ctx.partition, now_ms, _due)
    if ticks != before_ticks:
        rows.put(bookkeeping, ticks)
    metrics.suppressions_processed.labels("duplicate").inc(dropped)
    metrics.suppressions_processed.labels("flapping").inc(held)


def _release(ctx: Context, rows: Rows, released: dict[str, Episode], outputs: list[Alert]) -> None:
    """Write the rows a tick released; pass the alerts on, listing each firing one of a source
    with a ``resolve_timeout`` to be looked at when it would time out."""
    for other, row in released.items():
        rows.put(other, row)
    for out in outputs:
        policy = policy_of(out)
        if out["status"] == "firing" and policy.resolve_timeout_ms:
            key = episode_key(out["tenant"], out["fingerprint"])
            due = epoch_ms(out["received_at"]) + policy.resolve_timeout_ms
            timeout.schedule(rows, ctx.partition, key, due)
        ctx.emit(topics.deduped, out["tenant"], out)


def _schedule(
    rows: Rows,
    partition: int,
    key: str,
    state: Episode,
    before: Episode | None,
    policy: DedupPolicy,
) -> None:
    due = epoch_ms(state["last_seen"]) + policy.expire_after_ms
    was = None if before is None else epoch_ms(before["last_seen"]) + policy.expire_after_ms
    EXPIRY.schedule(rows, partition, key, due, was)


def _alias(rows: Rows, partition: int, alert: Alert, state: Episode, policy: DedupPolicy) -> None:
    """Remember that the id the bridge handed out for ``alert`` names ``state``'s episode."""
    key = alias_key(alert["id"])
    if rows.get(key) is None:
        due = epoch_ms(alert["received_at"]) + policy.expire_after_ms
        rows.put(key, {"alert_id": state["alert_id"], "due": due})
        EXPIRY.schedule(rows, partition, key, due, None)


def _due(key: str, row: Any) -> int | None:
    """When a listed row expires: an alias at its due time, an episode when unseen for long."""
    if key.startswith("\x00alias|"):
        return int(row["due"])
    if isinstance(row, dict) and "last_seen" in row:
        return epoch_ms(row["last_seen"]) + policy_of(row).expire_after_ms
    return None


@app.agent(topics.source(topics.normalized), concurrency=1)
async def dedup_stage(stream: faust.StreamT[Any]) -> None:
    """Drop re-sends of an alert that did not change state; hold flapping alerts back."""
    await run_stage(stage("dedup"), stream, handle, [dedup])


@every(max(CONFIG.options.tick_interval_ms, 1000) / 1000)
@periodic
async def tick_partitions() -> None:
    """Move the clock of this worker's dedup partitions, so held alerts settle and timed-out
    episodes resolve when no alert comes."""
    if CONFIG.options.tick_interval_ms:
        await send_ticks(topics.normalized)
