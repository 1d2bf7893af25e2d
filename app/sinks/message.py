"""What a notification says to a person, whatever the service: one summary for every sink.

Written for a phone at 3 a.m.: status and severity first, the title, how many alerts, what
changed since the last notification about the incident, why, and where to act. A receiver's
``title`` and ``body`` templates (:mod:`app.sinks.templates`) replace the title, and the
changes and reasons, with their rendered text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ICONS = {"critical": "🔴", "error": "🔴", "warning": "🟠", "info": "🔵"}
STATUS_ICONS = {"resolved": "✅", "acknowledged": "👀"}
COLORS = {"critical": 0xD32F2F, "error": 0xD32F2F, "warning": 0xF57C00, "info": 0x1976D2}
RESOLVED_COLOR = 0x388E3C
MAX_IDS = 5
MAX_REASONS = 3


@dataclass(frozen=True)
class Summary:
    """The parts every sink lays out in its own format."""

    icon: str
    status: str  # upper case: FIRING, RESOLVED, …
    severity: str
    title: str
    headline: str  # icon, status, severity and title on one line
    counts: str  # "3 alerts (2 firing)"
    changes: list[str]  # "2 new: …", "1 resolved: …"; empty when not known
    reasons: list[str]
    links: dict[str, str]  # label → URL, the incident first
    tenant: str
    first_seen: str
    last_seen: str
    color: int
    body: str | None = None  # a receiver's body template, rendered: replaces changes and reasons


def summarize(notification: dict[str, Any]) -> Summary:
    """The summary of a notification (CONTRACT.md's generic one, extra fields optional).

    >>> s = summarize({"incident_id": "i1", "tenant": "ops", "status": "firing",
    ...     "title": "Disk full on db-1", "severity": "critical", "alert_count": 3,
    ...     "alert_ids": ["a1", "a2", "a3"], "added_alert_ids": ["a3"],
    ...     "resolved_alert_ids": [], "reasons": ["new fingerprint"],
    ...     "url": "https://af/api/v1/incidents/i1"})
    >>> s.headline
    '🔴 FIRING · critical · Disk full on db-1'
    >>> s.counts, s.changes
    ('3 alerts', ['1 new: a3'])
    >>> list(s.links)
    ['Open incident', 'Acknowledge', 'Resolve']
    >>> summarize({"status": "resolved", "title": "x", "url": "u"}).links
    {'Open incident': 'u'}
    """
    status = str(notification.get("status") or "firing")
    severity = str(notification.get("severity") or "warning")
    title = str(notification.get("title") or "(no title)")
    icon = STATUS_ICONS.get(status, ICONS.get(severity, "🟠"))
    count = int(notification.get("alert_count") or len(notification.get("alert_ids") or []))
    return Summary(
        icon=icon,
        status=status.upper(),
        severity=severity,
        title=title,
        headline=f"{icon} {status.upper()} · {severity} · {title}",
        counts=f"{count} alert{'' if count == 1 else 's'}",
        changes=changes(notification),
        reasons=[str(r) for r in (notification.get("reasons") or [])[:MAX_REASONS]],
        links=links(notification),
        tenant=str(notification.get("tenant") or "default"),
        first_seen=str(notification.get("first_seen") or ""),
        last_seen=str(notification.get("last_seen") or ""),
        color=RESOLVED_COLOR if status == "resolved" else COLORS.get(severity, COLORS["warning"]),
        body=str(notification["body"]) if notification.get("body") is not None else None,
    )


def changes(notification: dict[str, Any]) -> list[str]:
    """What changed since the last notification, from ``added_alert_ids``/``resolved_alert_ids``.

    >>> changes({"added_alert_ids": ["a", "b", "c", "d", "e", "f", "g"]})
    ['7 new: a, b, c, d, e and 2 more']
    >>> changes({"resolved_alert_ids": ["a"]}), changes({})
    (['1 resolved: a'], [])
    """
    lines = []
    for key, word in (("added_alert_ids", "new"), ("resolved_alert_ids", "resolved")):
        ids = [str(i) for i in notification.get(key) or []]
        if ids:
            shown = ", ".join(ids[:MAX_IDS])
            more = f" and {len(ids) - MAX_IDS} more" if len(ids) > MAX_IDS else ""
            lines.append(f"{len(ids)} {word}: {shown}{more}")
    return lines


def links(notification: dict[str, Any]) -> dict[str, str]:
    """The incident's page and, while it is open, where to acknowledge or resolve it.

    The action links are the signed ones of ``actions`` when the receiver added them
    (:class:`app.sinks.base.Receiver`), else the plain endpoints.

    >>> links({"url": "u", "actions": {"resolve": "u/resolve?sig=ab&exp=9"}})["Resolve"]
    'u/resolve?sig=ab&exp=9'
    """
    url = notification.get("url")
    if not url:
        return {}
    if notification.get("status") == "resolved":
        return {"Open incident": url}
    actions = notification.get("actions") or {}
    return {
        "Open incident": url,
        "Acknowledge": actions.get("acknowledge") or f"{url}/acknowledge",
        "Resolve": actions.get("resolve") or f"{url}/resolve",
    }


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, with an ellipsis when cut.

    >>> clip("abcdef", 4), clip("abc", 4)
    ('abc…', 'abc')
    """
    return text if len(text) <= limit else text[: limit - 1] + "…"
