"""Feedback reaches the notify stage: ``alerts.feedback`` re-keyed by incident id.

Feedback is keyed by alert id; the notify stage owns incidents and their members' rows, keyed
by incident id. Each record is checked (a bad one goes to ``alerts.deadletter``) and sent to
``notify.events`` keyed by the incident it names — the web handlers always name it. Feedback
that names none (written by others straight to the topic) goes to every partition with
``search``: the one that holds the alert's member row applies it (app.notify.events).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import faust

from app import topics
from app.faust_app import app
from app.notify.feedback import incident_event, validate_feedback
from app.runtime import Context, Record, run_stage
from app.stages import stage


def handle(ctx: Context, records: Sequence[Record]) -> None:
    """Forward each piece of feedback to its incident's partition (or to all of them)."""
    for record in records:
        event = incident_event(validate_feedback(record.value))
        if event["incident_id"]:
            ctx.emit(topics.notify_events, event["incident_id"], event)
            continue
        for partition in range(topics.notify_events.partitions):
            ctx.emit(topics.notify_events, "", {**event, "search": True}, partition=partition)


@app.agent(topics.source(topics.feedback), concurrency=1)
async def incident_feedback(stream: faust.StreamT[Any]) -> None:
    """Forward feedback to the incident's partition."""
    await run_stage(stage("incident_feedback"), stream, handle)
