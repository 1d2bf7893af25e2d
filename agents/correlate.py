"""Stage 4: related alerts become one incident, in event-time session windows.

An incident opens with the first firing alert of a correlation key and absorbs the alerts of
that key while they keep coming (a gap of at most ``GAP_MS`` between them), for at most
``MAX_DURATION_MS``; it is resolved when all its alerts are, and a resolved incident never
absorbs a new alert. The key is Alertmanager's ``groupKey`` where the source grouped the
alerts itself, else tenant + service + alertname (or the content template).
"""

from __future__ import annotations

import hashlib
from typing import Any, TypedDict

import faust

from agents.stage import run_stage
from app import metrics, topics
from app.faust_app import app
from app.records import Alert, epoch_ms
from tables.correlation import correlation as correlation_table

GAP_MS = 5 * 60 * 1000
MAX_DURATION_MS = 4 * 60 * 60 * 1000


class OpenIncident(TypedDict):
    """What the correlation table keeps per correlation key."""

    id: str
    opened_ms: int
    last_ms: int
    alerts: dict[str, str]  # alert id → status


def correlation_key(alert: Alert) -> str:
    """The key alerts are grouped by.

    >>> correlation_key({"group_key": None, "tenant": "t", "service": "db",
    ...                  "labels": {"alertname": "DiskFull"}, "template_id": "x"})
    't|db|DiskFull'
    """
    if alert["group_key"]:
        return f"{alert['tenant']}|group|{alert['group_key']}"
    name = alert["labels"].get("alertname") or alert["template_id"] or alert["title"]
    return f"{alert['tenant']}|{alert['service']}|{name}"


def incident_id(key: str, opened_ms: int) -> str:
    """A stable id for the incident that ``key`` opened at ``opened_ms``."""
    return hashlib.blake2b(f"{key}@{opened_ms}".encode(), digest_size=10).hexdigest()


def decide(current: OpenIncident | None, alert: Alert, key: str) -> tuple[OpenIncident, bool]:
    """The incident ``alert`` belongs to, and whether it joined one already open.

    >>> a = {"id": "a1", "status": "firing", "starts_at": "2026-01-01T00:00:00Z"}
    >>> first, joined = decide(None, a, "k")
    >>> joined, first["alerts"]
    (False, {'a1': 'firing'})
    >>> b = {**a, "id": "a2", "starts_at": "2026-01-01T00:04:00Z"}
    >>> second, joined = decide(first, b, "k")
    >>> joined, second["id"] == first["id"], len(second["alerts"])
    (True, True, 2)
    >>> late = {**a, "id": "a3", "starts_at": "2026-01-01T00:30:00Z"}
    >>> decide(second, late, "k")[0]["id"] == first["id"]
    False
    """
    at = epoch_ms(alert["starts_at"])
    if current is not None and _absorbs(current, alert, at):
        alerts = {**current["alerts"], alert["id"]: alert["status"]}
        return {**current, "last_ms": max(current["last_ms"], at), "alerts": alerts}, True
    opened: OpenIncident = {
        "id": incident_id(key, at),
        "opened_ms": at,
        "last_ms": at,
        "alerts": {alert["id"]: alert["status"]},
    }
    return opened, False


def _absorbs(incident: OpenIncident, alert: Alert, at: int) -> bool:
    if alert["id"] in incident["alerts"]:
        return True  # a state change of an alert the incident already holds
    if "firing" not in incident["alerts"].values():
        return False  # resolved incidents never absorb new alerts
    within_gap = at - incident["last_ms"] <= GAP_MS
    return within_gap and at - incident["opened_ms"] <= MAX_DURATION_MS


async def _correlate(tenant: str, alert: Alert) -> None:
    key = correlation_key(alert)
    state = _prune(correlation_table.get(tenant) or {}, epoch_ms(alert["starts_at"]))
    incident, joined = decide(state.get(key), alert, key)
    state[key] = incident
    correlation_table[tenant] = state
    if joined:
        metrics.correlations_processed.inc()
    reasons = [*alert["reasons"], _reason(key, joined, len(incident["alerts"]))]
    await topics.correlated.send(
        key=tenant,
        value={**alert, "incident_id": incident["id"], "reasons": reasons},
        timestamp=epoch_ms(alert["starts_at"]) / 1000,
    )


def _prune(state: dict[str, OpenIncident], now_ms: int) -> dict[str, OpenIncident]:
    """Forget incidents that can absorb nothing any more, so the table stays bounded."""
    horizon = now_ms - MAX_DURATION_MS - GAP_MS
    return {key: incident for key, incident in state.items() if incident["last_ms"] >= horizon}


def _reason(key: str, joined: bool, size: int) -> str:
    grouped_by = key.split("|", 1)[1]
    if joined:
        return f"joined an open incident of {size} alerts grouped by {grouped_by}"
    return f"opened a new incident grouped by {grouped_by}"


@app.agent(topics.fingerprinted, concurrency=1)
async def correlate(stream: faust.StreamT[Any]) -> None:
    """Group related alerts into incidents."""
    await run_stage("correlate", stream, _correlate)
