"""Fingerprint statistics: the template of each fingerprint and what people did with it.

Reads ``fingerprints.facts`` (keyed by fingerprint) into the ``fingerprint_stats`` table that,
with the dedup table, answers ``GET /api/v1/fingerprints/{fingerprint}``.
"""

from __future__ import annotations

from typing import Any

import faust

from agents.dedup import table_key
from agents.stage import run_stage
from app import topics
from app.faust_app import app
from tables.fingerprint_stats import fingerprint_stats as _stats_table
from tables.write_behind import WriteBehind

stats_table = WriteBehind(_stats_table)

EMPTY = {
    "template_id": None,
    "template": None,
    "acks": 0,
    "resolves": 0,
    "actionable": 0,
    "noise": 0,
    "last_feedback_at": None,
}


def fold(stats: dict[str, Any] | None, fact: dict[str, Any]) -> dict[str, Any]:
    """The statistics after one fact.

    >>> s = fold(None, {"kind": "template", "template_id": "t1", "template": "Disk <*>"})
    >>> s = fold(s, {"kind": "feedback", "feedback": "ack", "actionable": True, "at": "T"})
    >>> s["template"], s["acks"], s["actionable"], s["noise"]
    ('Disk <*>', 1, 1, 0)
    """
    stats = dict(stats or EMPTY)
    if fact["kind"] == "template":
        stats["template_id"], stats["template"] = fact["template_id"], fact["template"]
        return stats
    stats["acks" if fact["feedback"] == "ack" else "resolves"] += 1
    stats["actionable" if fact["actionable"] else "noise"] += 1
    stats["last_feedback_at"] = fact["at"]
    return stats


async def _collect(fingerprint: str, fact: dict[str, Any]) -> None:
    key = table_key(fact["tenant"], fingerprint)
    before = stats_table.get(key)
    after = fold(before, fact)
    if after != before:  # most facts repeat what the row says: the template of a re-send
        stats_table[key] = after


@app.agent(topics.fingerprint_facts, concurrency=1)
async def fingerprint_stats(stream: faust.StreamT[Any]) -> None:
    """Keep per-fingerprint template and feedback statistics."""
    await run_stage("fingerprint_stats", stream, _collect)
