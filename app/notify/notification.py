"""The notification a receiver gets: CONTRACT.md's generic webhook body, with what changed.

``alert_ids`` is a sample of the incident's alerts (its first ``SAMPLE``) and ``alert_count``
the exact number; ``added_alert_ids``, ``resolved_alert_ids`` and ``muted_alert_ids`` are
samples too, so a notification about a storm of 50,000 alerts stays a few kB.
"""

from __future__ import annotations

from typing import Any

from app.notify.incident import Incident
from app.notify.plan import Send


def notification(
    incident: Incident, send: Send, notification_id: str, base_url: str
) -> dict[str, Any]:
    """The body sent to ``send.receiver``.

    >>> from app.notify.incident import change, fold
    >>> i = fold(None, change("a1", None, ["firing", False], at_ms=0, incident_id="i1"))
    >>> n = notification(i, Send("ops", "firing", "firing", ("a1",)), "n1", "http://af")
    >>> n["status"], n["alert_ids"], n["alert_count"], n["firing_count"], n["url"]
    ('firing', ['a1'], 1, 1, 'http://af/api/v1/incidents/i1')
    """
    status = send.change if send.change in ("resolved", "acknowledged") else incident["status"]
    return {
        "incident_id": incident["id"],
        "tenant": incident["tenant"],
        "status": status,
        "title": incident["title"],
        "severity": incident["severity"],
        "score": incident["score"],
        "alert_ids": alert_ids(incident),
        "alert_count": alert_count(incident),
        "firing_count": incident["firing"],
        "first_seen": incident["first_seen"],
        "last_seen": incident["last_seen"],
        "reasons": incident["reasons"],
        "url": f"{base_url}/api/v1/incidents/{incident['id']}",
        "notification_id": notification_id,
        "receiver": send.receiver,
        "state": send.state,
        "change": send.change,
        "added_alert_ids": list(send.added),
        "resolved_alert_ids": list(send.resolved),
        "muted_alert_ids": sorted(incident["muted_ids"]),
        "escalation_level": send.level,
        "acknowledged": incident["acknowledged"] is not None,
        "merged_into": incident["merged_into"],
        **_thread(incident, send.receiver),
        "labels": incident["labels"],  # what routing saw; action receivers template from it
    }


def _thread(incident: Incident, receiver: str) -> dict[str, str]:
    """``thread``: the receiver's first message about the incident (a Slack bot replies in it).

    >>> _thread({"threads": {"ops": "17.1"}}, "ops"), _thread({}, "ops")
    ({'thread': '17.1'}, {})
    """
    thread = (incident.get("threads") or {}).get(receiver)
    return {"thread": thread} if thread else {}


def alert_ids(incident: Incident) -> list[str]:
    """The sample of alert ids an incident shows (none once merged into another one).

    >>> alert_ids({"sample": [["a1", "i1"]], "merged_into": None})
    ['a1']
    """
    if incident["merged_into"] is not None:
        return []
    return [alert_id for alert_id, _ in incident["sample"]]


def alert_count(incident: Incident) -> int:
    """How many alerts an incident holds (none once merged into another one)."""
    return 0 if incident["merged_into"] is not None else incident["alerts"]
