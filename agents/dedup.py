"""Dedup stage: one alert per firing episode, re-sends counted, flapping alerts held back.

Reads ``alerts.normalized`` (key ``tenant|fingerprint``) and hands the records of each call to
:func:`app.dedup.handler.deduplicate` over the ``dedup`` rows of that partition; passes what
changed state to ``alerts.deduped`` (key tenant). Each worker sends a ``{"kind": "tick",
"at_ms"}`` record to its partitions every ``notify.tick_interval``, which moves a partition's
clock when no alert comes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import faust

from app import metrics, topics
from app.config import load_config
from app.dedup.handler import Policies, deduplicate
from app.faust_app import app, every
from app.runtime import Context, Record, run_stage
from app.stages import periodic, send_ticks, stage
from tables.dedup import dedup

CONFIG = load_config()
POLICY_BY_SOURCE = Policies(CONFIG.dedup)


def handle(ctx: Context, records: Sequence[Record]) -> None:
    """Decide every record of one call; pass on what changed state."""
    out = deduplicate(ctx.rows(dedup), ctx.partition, records, POLICY_BY_SOURCE)
    for alert in out.outputs:
        ctx.emit(topics.deduped, alert["tenant"], alert)
    metrics.suppressions_processed.labels("duplicate").inc(out.dropped)
    metrics.suppressions_processed.labels("flapping").inc(out.held)


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
