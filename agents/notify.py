"""Stage 6: fan-out — the incident is updated, the alert published, people notified.

Per incident, a notification goes out when it starts to page (its first alert decided
``notify``) and when a paged incident resolves; the notification log inside the incident
(receiver and state) makes sure each change is sent once per receiver.
"""

from __future__ import annotations

import time
from typing import Any, TypedDict

import faust

from agents.stage import run_stage
from app import metrics, topics
from app.faust_app import app, settings
from app.records import Alert, epoch_ms, parse_time, utc_now
from app.sinks.base import Sink, deliver
from app.sinks.config import load_receivers
from tables.incidents import incidents as incidents_table

SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2, "critical": 3}


class Incident(TypedDict):
    """What the incidents table keeps per incident."""

    id: str
    tenant: str
    status: str
    title: str
    severity: str
    score: float
    alerts: dict[str, str]  # alert id → status
    services: list[str]
    templates: list[str]
    first_seen: str
    last_seen: str
    paging: bool  # at least one alert decided notify
    reasons: list[str]
    notified: dict[str, str]  # "<receiver>:<status>" → when it was sent


def update_incident(incident: Incident | None, alert: Alert) -> Incident:
    """Fold one alert into its incident.

    >>> a = {"id": "a1", "incident_id": "i1", "tenant": "t", "status": "firing",
    ...      "title": "Disk full", "severity": "warning", "score": 0.5, "service": "db",
    ...      "template": "Disk full", "starts_at": "T1", "decision": "notify", "reasons": []}
    >>> i = update_incident(None, a)
    >>> i["status"], i["paging"], i["alerts"]
    ('firing', True, {'a1': 'firing'})
    >>> update_incident(i, {**a, "status": "resolved", "starts_at": "T2"})["status"]
    'resolved'
    """
    if incident is None:
        incident = {
            "id": alert["incident_id"],
            "tenant": alert["tenant"],
            "status": "firing",
            "title": alert["title"],
            "severity": alert["severity"],
            "score": 0.0,
            "alerts": {},
            "services": [],
            "templates": [],
            "first_seen": alert["starts_at"],
            "last_seen": alert["starts_at"],
            "paging": False,
            "reasons": [],
            "notified": {},
        }
    alerts = {**incident["alerts"], alert["id"]: alert["status"]}
    severity = max(incident["severity"], alert["severity"], key=lambda s: SEVERITY_RANK.get(s, 1))
    return {
        **incident,
        "alerts": alerts,
        "status": "firing" if "firing" in alerts.values() else "resolved",
        "severity": severity,
        "score": max(incident["score"], alert["score"] or 0.0),
        "services": _added(incident["services"], alert["service"]),
        "templates": _added(incident["templates"], alert["template"]),
        "last_seen": max(incident["last_seen"], alert["starts_at"]),
        "paging": incident["paging"] or alert["decision"] == "notify",
        "reasons": alert["reasons"],
    }


def due_notifications(incident: Incident, receivers: list[str]) -> list[str]:
    """Receivers that have not yet been told about the incident's current state.

    >>> i = {"status": "firing", "paging": True, "notified": {"webhook:firing": "t"}}
    >>> due_notifications(i, ["webhook"])
    []
    >>> due_notifications({**i, "status": "resolved"}, ["webhook"])
    ['webhook']
    >>> due_notifications({**i, "paging": False, "notified": {}}, ["webhook"])
    []
    """
    if not incident["paging"]:
        return []
    status = incident["status"]
    due = []
    for receiver in receivers:
        if f"{receiver}:{status}" in incident["notified"]:
            continue
        if status == "resolved" and f"{receiver}:firing" not in incident["notified"]:
            continue  # never paged about it: nothing to take back
        due.append(receiver)
    return due


def notification(incident: Incident) -> dict[str, Any]:
    """The generic notification of CONTRACT.md for an incident."""
    return {
        "incident_id": incident["id"],
        "tenant": incident["tenant"],
        "status": incident["status"],
        "title": incident["title"],
        "severity": incident["severity"],
        "score": incident["score"],
        "alert_ids": list(incident["alerts"]),
        "alert_count": len(incident["alerts"]),
        "first_seen": incident["first_seen"],
        "last_seen": incident["last_seen"],
        "reasons": incident["reasons"],
        "url": f"{settings.base_url}/api/v1/incidents/{incident['id']}",
    }


def _added(items: list[str], item: str | None) -> list[str]:
    return items if not item or item in items else [*items, item]


def _sinks() -> dict[str, Sink]:
    return load_receivers(settings)  # ALERTFLOW_WEBHOOK_URL's and the config's receivers:


SINKS = _sinks()


async def _publish(alert: Alert) -> None:
    await topics.enriched.send(
        key=alert["id"], value=alert, timestamp=epoch_ms(alert["starts_at"]) / 1000
    )
    metrics.alerts_processed.labels(alert["tenant"], alert["severity"], alert["status"]).inc()
    waited = time.time() - parse_time(alert["received_at"]).timestamp()
    metrics.alert_processing_duration.observe(max(waited, 0.0))


async def _notify(incident_id: str, alert: Alert) -> None:
    await _publish(alert)
    incident = update_incident(incidents_table.get(incident_id), alert)
    for receiver in due_notifications(incident, list(SINKS)):
        message = notification(incident)
        delivery = await deliver(SINKS[receiver], app.http_client, message)
        outcome = "success" if delivery.ok else "failure"
        metrics.notifications_sent.labels(receiver, outcome).inc()
        record = {
            "receiver": receiver,
            "notification": message,
            "attempts": delivery.attempts,
            "at": utc_now(),
            "error": delivery.error,
        }
        if delivery.ok:
            incident["notified"] = {
                **incident["notified"],
                f"{receiver}:{incident['status']}": record["at"],
            }
            await topics.notifications_sent.send(key=incident_id, value=record)
        else:
            await topics.notifications_failed.send(key=incident_id, value=record)
    incidents_table[incident_id] = incident


@app.agent(topics.scored, concurrency=1)
async def notify(stream: faust.StreamT[Any]) -> None:
    """Publish enriched alerts, keep incidents, send notifications."""
    await run_stage("notify", stream, _notify)
