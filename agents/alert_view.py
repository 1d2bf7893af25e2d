"""The alert view: latest enriched alert by id, with what people did with it.

Reads ``alerts.enriched`` and ``alerts.feedback`` (both keyed by alert id) into the ``alerts``
table behind ``GET /api/v1/alerts/{id}``, and forwards each piece of feedback to the
fingerprint statistics, keyed by fingerprint.
"""

from __future__ import annotations

from typing import Any

import faust

from agents.stage import decode_json, emit, run_stage
from app import topics
from app.faust_app import app
from app.records import Alert, Feedback
from tables.alerts import alerts as _alerts_table
from tables.write_behind import WriteBehind

alerts_table = WriteBehind(_alerts_table)

FEEDBACK_KINDS = ("ack", "resolve")

_view_input = app.topic(
    topics.enriched.get_topic_name(),
    topics.feedback.get_topic_name(),
    key_type=str,
    value_serializer="raw",
)


def validate_feedback(value: Any) -> Feedback:
    """Check a feedback record from the topic; raise ``ValueError`` naming the bad field.

    >>> validate_feedback({"alert_id": "a", "kind": "ack", "actionable": True,
    ...                    "by": "ann", "at": "2026-01-01T00:00:00Z"})["kind"]
    'ack'
    >>> validate_feedback({"alert_id": "a", "kind": "snooze"})
    Traceback (most recent call last):
    ...
    ValueError: feedback.kind: expected one of ('ack', 'resolve'), got 'snooze'
    """
    if not isinstance(value, dict) or not isinstance(value.get("alert_id"), str):
        raise ValueError("feedback.alert_id: expected a string")
    if value.get("kind") not in FEEDBACK_KINDS:
        raise ValueError(
            f"feedback.kind: expected one of {FEEDBACK_KINDS}, got {value.get('kind')!r}"
        )
    for field, kind in (("actionable", bool), ("by", str), ("at", str)):
        if not isinstance(value.get(field), kind):
            raise ValueError(f"feedback.{field}: expected {kind.__name__}")
    return value  # type: ignore[return-value]


def fold(entry: dict[str, Any] | None, record: dict[str, Any]) -> dict[str, Any]:
    """The view entry after one enriched alert or one piece of feedback.

    >>> e = fold(None, {"id": "a1", "fingerprint": "f", "status": "firing"})
    >>> e = fold(e, {"alert_id": "a1", "kind": "ack", "actionable": True, "by": "ann", "at": "t"})
    >>> e["alert"]["id"], e["feedback"][0]["by"], e["acknowledged"]
    ('a1', 'ann', True)
    """
    entry = entry or {"alert": None, "feedback": [], "acknowledged": False}
    if "kind" in record:
        return {
            **entry,
            "feedback": [*entry["feedback"], record],
            "acknowledged": entry["acknowledged"] or record["kind"] == "ack",
        }
    return {**entry, "alert": record}


async def _view(alert_id: str, value: bytes) -> None:
    record = decode_json(value)
    is_feedback = isinstance(record, dict) and "kind" in record
    if is_feedback:
        validate_feedback(record)
    before = alerts_table.get(alert_id)
    entry = fold(before, record)
    alerts_table[alert_id] = entry
    alert: Alert | None = entry["alert"]
    if alert is None:
        return  # feedback ahead of its alert: forwarded when the alert arrives
    if is_feedback:
        await _forward(alert, record)
    elif before is not None and before["alert"] is None:
        for feedback in before["feedback"]:
            await _forward(alert, feedback)


async def _forward(alert: Alert, feedback: Feedback) -> None:
    """Tell the fingerprint statistics what a person did with an alert of this fingerprint."""
    await emit(
        topics.fingerprint_facts,
        alert["fingerprint"],
        {
            "kind": "feedback",
            "tenant": alert["tenant"],
            "fingerprint": alert["fingerprint"],
            "actionable": feedback["actionable"],
            "feedback": feedback["kind"],
            "at": feedback["at"],
        },
    )


@app.agent(_view_input, concurrency=1)
async def alert_view(stream: faust.StreamT[Any]) -> None:
    """Keep the latest state of every alert."""
    await run_stage("alert_view", stream, _view)
