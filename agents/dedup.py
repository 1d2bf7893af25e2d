"""Stage 2: one alert per firing episode; re-sends only count (Alertmanager semantics).

The same fingerprint while firing is one alert: a re-send bumps ``duplicate_count`` and
``last_seen``; a change of state (firing → resolved, resolved → firing) always passes, and a
resolved alert that fires again is a new episode with a new id.
"""

from __future__ import annotations

from typing import Any, TypedDict

import faust

from agents.stage import run_stage
from app import metrics, topics
from app.faust_app import app
from app.records import Alert, epoch_ms
from tables.dedup import dedup as dedup_table


class Episode(TypedDict):
    """What the dedup table keeps per fingerprint."""

    alert_id: str
    status: str
    since: str  # first sighting of the fingerprint, any episode
    first_seen: str
    last_seen: str
    count: int  # sightings of this episode
    total: int  # sightings of the fingerprint, all episodes
    episodes: int
    offset: int  # offset of the last input message applied to this state


def decide(state: Episode | None, alert: Alert, offset: int) -> tuple[Episode, Alert | None]:
    """Return the new state and the alert to pass on, or ``None`` for a duplicate.

    A message at or before ``state["offset"]`` is a replay after a crash (its offset was not
    committed): the state already holds it, but its output may never have reached Kafka, so it
    passes again unchanged — a duplicate downstream, never a loss.

    >>> a = {"id": "a1", "status": "firing", "received_at": "t1", "duplicate_count": 1}
    >>> state, out = decide(None, a, offset=10)
    >>> out["id"], out["duplicate_count"], state["count"]
    ('a1', 1, 1)
    >>> state, out = decide(state, {**a, "received_at": "t2"}, offset=11)
    >>> out, state["count"], state["last_seen"]
    (None, 2, 't2')
    >>> decide(state, a, offset=10)[1]["id"]  # replay of offset 10 after a crash
    'a1'
    >>> state, out = decide(state, {**a, "status": "resolved", "received_at": "t3"}, offset=12)
    >>> out["duplicate_count"], state["status"]
    (3, 'resolved')
    """
    if state is not None and offset <= state["offset"]:
        return state, {**alert, "duplicate_count": state["count"]}
    seen_at = alert["received_at"]
    if state is None or state["alert_id"] != alert["id"]:
        episode: Episode = {
            "alert_id": alert["id"],
            "status": alert["status"],
            "since": state["since"] if state else seen_at,
            "first_seen": seen_at,
            "last_seen": seen_at,
            "count": 1,
            "total": (state["total"] if state else 0) + 1,
            "episodes": (state["episodes"] if state else 0) + 1,
            "offset": offset,
        }
        return episode, {**alert, "duplicate_count": 1}
    episode = {
        **state,
        "status": alert["status"],
        "last_seen": seen_at,
        "count": state["count"] + 1,
        "total": state["total"] + 1,
        "offset": offset,
    }
    if state["status"] == alert["status"]:
        return episode, None
    return episode, {**alert, "duplicate_count": episode["count"]}


def table_key(tenant: str, fingerprint: str) -> str:
    """Fingerprints are per tenant; the stream (and so the partition) is keyed by fingerprint."""
    return f"{tenant}|{fingerprint}"


async def _dedup(fingerprint: str, alert: Alert) -> None:
    key = table_key(alert["tenant"], fingerprint)
    offset = faust.current_event().message.offset
    state, passed = decide(dedup_table.get(key), alert, offset)
    dedup_table[key] = state
    if passed is None:
        metrics.suppressions_processed.labels("duplicate").inc()
        return
    await topics.deduped.send(
        key=passed["tenant"], value=passed, timestamp=epoch_ms(passed["starts_at"]) / 1000
    )


@app.agent(topics.normalized, concurrency=1)
async def dedup(stream: faust.StreamT[Any]) -> None:
    """Drop re-sends of an alert that did not change state."""
    await run_stage("dedup", stream, _dedup)
