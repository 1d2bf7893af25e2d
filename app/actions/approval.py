"""Approval of a run: signed approve/reject links, and the message that carries them.

A link is ``<base>/api/v1/actions/<run id>/<approve|reject>?sig=<hex>&exp=<epoch s>``, ``sig``
the HMAC-SHA256 of ``"action:<run id>:<decision>:<exp>"`` keyed with ``ALERTFLOW_API_TOKEN``
(:mod:`app.links`, as the acknowledge links): one decision on one run until the approval
expires. ``GET`` answers a page saying what would run, and never acts; its button ``POST``s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from app import links
from app.actions.plan import describe

DECISIONS = ("approve", "reject")


def subject(run_id: str) -> str:
    """What a link's signature names: the run (never an incident id, whose links differ)."""
    return f"action:{run_id}"


def decision_links(token: str | None, base_url: str, run_id: str, exp: int) -> dict[str, str]:
    """Decision → link, signed when a token is set (plain otherwise: the API is open then).

    >>> decision_links(None, "https://af", "r1", 9)["approve"]
    'https://af/api/v1/actions/r1/approve'
    >>> link = decision_links("t", "https://af", "r1", 9)["reject"]
    >>> link == "https://af/api/v1/actions/r1/reject?" + urlencode(
    ...     {"sig": links.signature("t", "action:r1", "reject", 9), "exp": 9})
    True
    """
    found = {}
    for decision in DECISIONS:
        url = f"{base_url}/api/v1/actions/{run_id}/{decision}"
        if token is not None:
            sig = links.signature(token, subject(run_id), decision, exp)
            url += "?" + urlencode({"sig": sig, "exp": exp})
        found[decision] = url
    return found


def verify(
    token: str | None, run_id: str, decision: str, sig: str | None, exp: str | None, now: float
) -> None:
    """Raise :class:`app.links.LinkError` unless the link grants ``decision`` on the run now."""
    links.verify(token, subject(run_id), decision, sig, exp, now)


def request_message(
    run: Mapping[str, Any],
    notification: Mapping[str, Any],
    approver: str,
    decisions: Mapping[str, str],
    expires_at: str,
) -> dict[str, Any]:
    """The notification an approver receives: the incident, what would run, the two links.

    Shaped like every notification (CONTRACT.md's generic one), so any receiver type shows it;
    ``approval`` (additive) holds the links and the plan for receivers that read JSON.

    >>> m = request_message({"id": "r1", "receiver": "fix", "plan": {"action": [{"kind": "http",
    ...     "method": "POST", "url": "https://x"}], "rollback": []}},
    ...     {"incident_id": "i1", "title": "Disk full", "url": "u"}, "ops",
    ...     {"approve": "A", "reject": "R"}, "2026-01-01T00:00:00.000Z")
    >>> m["title"], m["reasons"][0], m["approval"]["approve"]
    ('Approve fix? Disk full', 'fix would POST https://x', 'A')
    """
    steps = "; then ".join(describe(step) for step in run["plan"]["action"])
    rollback = "; ".join(describe(step) for step in run["plan"]["rollback"])
    return {
        **{k: notification.get(k) for k in ("incident_id", "tenant", "severity", "score", "url")},
        **{k: notification.get(k) for k in ("alert_ids", "alert_count", "first_seen", "last_seen")},
        "status": "firing",
        "title": f"Approve {run['receiver']}? {notification.get('title')}",
        "reasons": [
            f"{run['receiver']} would {steps}",
            f"approve: {decisions['approve']}",
            f"reject: {decisions['reject']} (expires {expires_at})",
        ],
        "notification_id": f"{run['id']}-approval-{approver}",
        "receiver": approver,
        "state": "approval",
        "change": "approval",
        "approval": {
            "run_id": run["id"],
            "action": run["receiver"],
            "plan": run["plan"],
            "rollback": rollback or None,
            "expires_at": expires_at,
            **decisions,
        },
    }
