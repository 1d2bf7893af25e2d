"""Fingerprint statistics: what people did with the alerts of each fingerprint.

Reads ``fingerprints.feedback`` (key ``tenant|fingerprint``, one record per piece of feedback
the notify stage applied: rare, off the hot path) into the ``fingerprint_stats`` table, which
with the dedup table answers ``GET /api/v1/fingerprints/{fingerprint}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import faust

from app import topics
from app.faust_app import app
from app.runtime import Context, Record, run_stage
from app.stages import stage
from tables.fingerprint_stats import fingerprint_stats

RECENT = 16  # pieces of feedback remembered per fingerprint, so a replay is not counted twice

EMPTY: dict[str, Any] = {
    "template_id": None,
    "template": None,
    "acks": 0,
    "resolves": 0,
    "actionable": 0,
    "noise": 0,
    "last_feedback_at": None,
    "recent": [],
}


def fold(stats: dict[str, Any] | None, fact: dict[str, Any]) -> dict[str, Any]:
    """The statistics after one piece of feedback (a replayed one changes nothing).

    >>> fact = {"alert_id": "a1", "kind": "ack", "actionable": True, "at": "T",
    ...         "template_id": "t1", "template": "Disk <*>"}
    >>> s = fold(None, fact)
    >>> s["template"], s["acks"], s["actionable"], s["noise"]
    ('Disk <*>', 1, 1, 0)
    >>> fold(s, fact) is s
    True
    """
    stats = stats or EMPTY
    seen = [fact["alert_id"], fact["kind"], fact["at"]]
    if seen in stats["recent"]:
        return stats
    return {
        **stats,
        "template_id": fact.get("template_id") or stats["template_id"],
        "template": fact.get("template") or stats["template"],
        "acks": stats["acks"] + (fact["kind"] == "ack"),
        "resolves": stats["resolves"] + (fact["kind"] != "ack"),
        "actionable": stats["actionable"] + bool(fact["actionable"]),
        "noise": stats["noise"] + (not fact["actionable"]),
        "last_feedback_at": fact["at"],
        "recent": [*stats["recent"], seen][-RECENT:],
    }


def handle(ctx: Context, records: Sequence[Record]) -> None:
    """Fold each piece of feedback into its fingerprint's row."""
    rows = ctx.rows(fingerprint_stats)
    for record in records:
        before = rows.get(record.key)
        after = fold(before, record.value)
        if after is not before:
            rows.put(record.key, after)


@app.agent(topics.source(topics.fingerprint_feedback), concurrency=1)
async def fingerprint_stats_stage(stream: faust.StreamT[Any]) -> None:
    """Keep per-fingerprint feedback statistics."""
    await run_stage(stage("fingerprint_stats"), stream, handle, [fingerprint_stats])
