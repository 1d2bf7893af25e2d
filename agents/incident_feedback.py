"""Acknowledgements reach the incident's owner: ``alerts.feedback`` re-keyed by incident id.

Feedback is keyed by alert id; the notify agent owns incidents, keyed by incident id. This
agent forwards each acknowledgement or resolution that names its incident to
``notify.events`` under the incident's key, so escalation stops on the worker that runs it.
"""

from __future__ import annotations

from typing import Any

import faust

from agents.alert_view import validate_feedback
from agents.stage import decode_json, run_stage
from app import topics
from app.faust_app import app


def incident_event(feedback: dict[str, Any]) -> dict[str, Any] | None:
    """The ``notify.events`` record for one piece of feedback, if it names an incident.

    >>> incident_event({"alert_id": "a1", "incident_id": "i1", "kind": "ack", "by": "ann",
    ...                 "at": "t", "actionable": True})
    {'kind': 'ack', 'incident_id': 'i1', 'alert_id': 'a1', 'by': 'ann', 'at': 't'}
    >>> incident_event({"alert_id": "a1", "kind": "ack", "by": "ann", "at": "t"}) is None
    True
    """
    if not feedback.get("incident_id"):
        return None
    return {
        "kind": feedback["kind"],
        "incident_id": feedback["incident_id"],
        "alert_id": feedback["alert_id"],
        "by": feedback["by"],
        "at": feedback["at"],
    }


async def _forward(alert_id: str, value: bytes) -> None:
    event = incident_event(validate_feedback(decode_json(value)))
    if event is not None:
        await topics.notify_events.send(key=event["incident_id"], value=event)


@app.agent(topics.feedback, concurrency=1)
async def incident_feedback(stream: faust.StreamT[Any]) -> None:
    """Forward acknowledgements to the incident's partition."""
    await run_stage("incident_feedback", stream, _forward)
