"""PagerDuty Events API v2: trigger, acknowledge and resolve with ``dedup_key`` = incident id.

PagerDuty keeps one alert per ``dedup_key``, so a re-sent trigger only updates it and the
resolve of the incident closes the alert the trigger opened.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp

from app.sinks.base import post_json
from app.sinks.message import clip, summarize

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
SUMMARY_LIMIT = 1024
DEDUP_KEY_LIMIT = 255
SEVERITIES = ("critical", "error", "warning", "info")
ACTIONS = {"firing": "trigger", "acknowledged": "acknowledge", "resolved": "resolve"}


@dataclass(frozen=True)
class PagerDutySink:
    """Sends one event per notification to an Events API v2 integration (``routing_key``)."""

    routing_key: str
    name: str = "pagerduty"
    url: str = EVENTS_URL

    async def send(self, session: aiohttp.ClientSession, notification: dict[str, Any]) -> None:
        """Send the event; PagerDuty answers 202 with ``{"status": "success", …}``."""
        await post_json(session, self.url, event(notification, self.routing_key))


def event(notification: dict[str, Any], routing_key: str) -> dict[str, Any]:
    """The event for the incident's state: a full ``trigger``, or a bare ack/resolve.

    >>> e = event({"incident_id": "i1", "status": "firing", "severity": "fatal",
    ...            "title": "Disk full", "tenant": "ops", "url": "https://af/i/1"}, "K")
    >>> e["event_action"], e["dedup_key"], e["payload"]["severity"], e["payload"]["source"]
    ('trigger', 'i1', 'error', 'ops')
    >>> event({"incident_id": "i1", "status": "resolved"}, "K")
    {'routing_key': 'K', 'event_action': 'resolve', 'dedup_key': 'i1'}
    """
    status = str(notification.get("status") or "firing")
    base = {
        "routing_key": routing_key,
        "event_action": ACTIONS.get(status, "trigger"),
        "dedup_key": str(notification["incident_id"])[:DEDUP_KEY_LIMIT],
    }
    if base["event_action"] != "trigger":
        return base
    summary = summarize(notification)
    severity = summary.severity if summary.severity in SEVERITIES else "error"
    payload: dict[str, Any] = {
        "summary": clip(f"{summary.title} ({summary.counts})", SUMMARY_LIMIT),
        "source": summary.tenant,
        "severity": severity,
        "group": summary.tenant,
        "class": "alertflow incident",
        "custom_details": {
            "alert_count": notification.get("alert_count"),
            "alert_ids": notification.get("alert_ids", []),
            "changes": summary.changes,
            "reasons": summary.reasons,
            **({"body": summary.body} if summary.body is not None else {}),
            "score": notification.get("score"),
            "first_seen": summary.first_seen,
            "last_seen": summary.last_seen,
        },
    }
    if summary.last_seen:
        payload["timestamp"] = summary.last_seen
    links = [{"href": url, "text": label} for label, url in summary.links.items()]
    result: dict[str, Any] = {**base, "payload": payload, "client": "alertflow"}
    if links:
        result |= {"client_url": links[0]["href"], "links": links}
    return result
