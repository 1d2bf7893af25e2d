"""Triage stage: template, route, score and storm hint per alert; tenant-wide merges per new
incident; learning from labels.

Reads ``alerts.deduped``, ``incidents.opened`` and ``learning.examples`` (all keyed by tenant)
and hands the records of each call (a run of messages of one partition) to
:class:`app.triage.handler.Triage` over the rows of the ``triage`` table in that partition;
sends triaged alerts to ``alerts.triaged`` (keyed by correlation group) and merges to
``notify.events`` (keyed by the absorbed incident).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import faust

from app import metrics, topics
from app.faust_app import app, settings
from app.runtime import Context, Record, run_stage
from app.stages import snapshot, stage
from app.triage.handler import TRIAGE_EXPIRY, TRIAGED, Triage
from tables.expiry import ExpiringRows
from tables.triage import triage

TOPICS = {topic.name: topic for topic in topics.ALL}
TRIAGE = Triage(snapshot, settings.notify_threshold)


def handle(ctx: Context, records: Sequence[Record]) -> None:
    """Triage the alerts, summaries or examples of one call."""
    rows = ExpiringRows(ctx.rows(triage), TRIAGE_EXPIRY, ctx.partition)
    handled = TRIAGE.handle(rows, ctx.topic, records)
    decisions: dict[str, int] = {}
    for topic, key, value in handled.outputs:
        ctx.emit(TOPICS[topic], key, value)
        if topic == TRIAGED:
            decisions[value["decision"]] = decisions.get(value["decision"], 0) + 1
    for decision, count in decisions.items():
        metrics.model_decisions.labels(decision).inc(count)
    metrics.suppressions_processed.labels("model").inc(decisions.get("suppress", 0))
    for tenant, report in handled.reports.items():
        metrics.export_model(tenant, report)


@app.agent(topics.source(topics.deduped, topics.opened, topics.examples), concurrency=1)
async def triage_stage(stream: faust.StreamT[Any]) -> None:
    """Template, route and score each alert; merge new incidents tenant-wide; learn."""
    await run_stage(stage("triage"), stream, handle, [triage])


@app.on_partitions_assigned.connect
async def _forget_warm_state(*_: Any, **__: Any) -> None:
    """After a rebalance the table is the truth: drop the warm miners and models."""
    TRIAGE.forget()
