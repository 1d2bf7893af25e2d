"""Dedup stage: one alert per firing episode, re-sends counted, flapping alerts held back.

Reads ``alerts.normalized`` (key ``tenant|fingerprint``), decides each record with the pure
rules of :mod:`app.dedup.episode` against the fingerprint's row, and passes what changed state
to ``alerts.deduped`` (key tenant). Per call, in the partition being handled: the episodes it
touched, the partition's bookkeeping row (held rows settle in event time: any later record of
the partition releases them), aliases for ids that joined an open episode, expiry buckets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import faust

from app import metrics, topics
from app.config import POLICIES, DedupPolicy, load_config
from app.dedup.episode import Episode, Ticks, decide, only_counted, tick, track
from app.faust_app import app
from app.records import Alert, epoch_ms
from app.runtime import Context, Record, run_stage
from app.runtime.state import Rows
from app.stages import stage
from tables.dedup import alias_key, dedup, ticks_key
from tables.expiry import Expiry

EXPIRY = Expiry("\x00dedup")
POLICY_BY_SOURCE = load_config().dedup


def policy_of(row: Episode | Alert | dict[str, Any]) -> DedupPolicy:
    """The policy of the source a row or an alert came from."""
    return POLICY_BY_SOURCE.get(str(row.get("source", "")), POLICIES["api"])


def handle(ctx: Context, records: Sequence[Record]) -> None:
    """Decide every record of one message; pass on what changed state."""
    rows = ctx.rows(dedup)
    bookkeeping = ticks_key(ctx.partition)
    ticks: Ticks = rows.get(bookkeeping) or {"due": {}, "released": []}
    before_ticks = ticks
    now_ms = 0
    dropped = held = 0
    for record in records:
        alert: Alert = record.value
        policy = policy_of(alert)
        before: Episode | None = rows.get(record.key)
        state, passed = decide(before, alert, record.position, policy)
        if passed is None and only_counted(before, state):
            rows.defer(record.key, state)  # a re-send: its count may wait
        else:
            rows.put(record.key, state)
        _schedule(rows, ctx.partition, record.key, state, before, policy)
        if state["alert_id"] != alert["id"]:  # it joined an episode of another id
            _alias(rows, ctx.partition, alert, state, policy)
        now_ms = max(now_ms, epoch_ms(alert["received_at"]))
        ticks = track(ticks, record.key, state, policy)
        ticks, released, outputs = tick(ticks, rows.get, now_ms, record.position, POLICY_BY_SOURCE)
        for other, row in released.items():
            rows.put(other, row)
        if passed is None and state["held"]:
            held += 1
        elif passed is None:
            dropped += 1
        for out in ([passed] if passed else []) + outputs:
            ctx.emit(topics.deduped, out["tenant"], out)
    EXPIRY.sweep(rows, ctx.partition, now_ms, _due)
    if ticks != before_ticks:
        rows.put(bookkeeping, ticks)
    metrics.suppressions_processed.labels("duplicate").inc(dropped)
    metrics.suppressions_processed.labels("flapping").inc(held)


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
