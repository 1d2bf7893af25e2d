"""Correlation stage: each alert's incident, in its correlation group's session window.

Reads ``alerts.triaged`` (keyed by correlation group) and hands each message's records to
:func:`app.correlation.handler.correlate` over the rows of the ``correlation`` table in the
message's partition; sends the alerts to ``alerts.correlated`` (keyed by incident) and the
summaries of incidents that open or close to ``incidents.opened`` (keyed by tenant).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import faust

from app import metrics, topics
from app.correlation.handler import correlate
from app.faust_app import app
from app.runtime import Context, Record, run_stage
from app.stages import snapshot, stage
from tables.correlation import correlation
from tables.expiry import ExpiringRows, Expiry

EXPIRY = Expiry("\x00correlation")
TOPICS = {topic.name: topic for topic in topics.ALL}


def handle(ctx: Context, records: Sequence[Record]) -> None:
    """Place the alerts of one message in incidents."""
    rows = ExpiringRows(ctx.rows(correlation), EXPIRY, ctx.partition)
    outputs, joined = correlate(rows, records, snapshot)
    for topic, key, value in outputs:
        ctx.emit(TOPICS[topic], key, value)
    metrics.correlations_processed.inc(joined)


@app.agent(topics.source(topics.triaged), concurrency=1)
async def correlate_stage(stream: faust.StreamT[Any]) -> None:
    """Put each alert in an incident of its correlation group."""
    await run_stage(stage("correlate"), stream, handle, [correlation])
