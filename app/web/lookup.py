"""Finding an alert: its member row is on whichever worker owns its incident's partition.

An alert's id does not say where its member row lives (the partition of its incident), so
each worker looks in its own partitions (:func:`here`) and the one asked first asks the others
(:func:`find`). An id the bridge handed out for a message that joined an already open episode
(dedup's alias rows) resolves to that episode's alert, and the answer says so:
``requested_id`` is the id asked for, ``joined`` the alert whose episode it joined.
"""

from __future__ import annotations

from typing import Any

from faust.web import Request

from app.dedup.handler import alias_key
from app.notify.member import view
from app.notify.notification import alert_count, alert_ids
from app.notify.parts import whole
from app.records import ms_time
from app.web.http import ApiError
from app.web.routing import ask_all, workers
from tables.dedup import dedup
from tables.incidents import incidents
from tables.members import members

LOCAL = {"local": "1"}


def here(alert_id: str) -> tuple[dict[str, Any] | None, str | None]:
    """What this worker knows of an alert: ``({"alert": view, "home": incident}, None)``, or
    ``(None, joined)`` when the id joined the episode of alert ``joined`` held elsewhere."""
    found = _member(alert_id)
    if found is not None:
        return found, None
    alias = dedup.find(alias_key(alert_id))
    if alias is None:
        return None, None
    joined = str(alias["alert_id"])
    found = _member(joined)
    if found is None:
        return None, joined
    found["alert"] = {**found["alert"], "requested_id": alert_id, "joined": joined}
    return found, None


async def find(request: Request, alert_id: str) -> dict[str, Any] | None:
    """``{"alert": view, "home": incident}`` from whichever worker holds the alert."""
    found, joined = here(alert_id)
    if found is not None:
        return found
    others = workers(members)
    unavailable = False
    for status, body in await ask_all(others, request, f"/api/v1/alerts/{alert_id}", LOCAL):
        if status == 200:
            return body  # type: ignore[no-any-return]
        unavailable = unavailable or status != 404
        joined = joined or (body or {}).get("joined")
    if joined is None:
        if unavailable:  # it may be on the worker that did not answer
            detail = f"alert {alert_id} is not here and a worker did not answer; try again"
            raise ApiError(503, "worker_unavailable", detail)
        return None
    found, _ = here(joined)
    if found is None:
        for status, body in await ask_all(others, request, f"/api/v1/alerts/{joined}", LOCAL):
            if status == 200:
                found = body
    if found is not None:
        found["alert"] = {**found["alert"], "requested_id": alert_id, "joined": joined}
    return found


def _member(alert_id: str) -> dict[str, Any] | None:
    member = members.find(alert_id)
    if member is None:
        return None
    shown = view(member)
    placed = whole(member["home"])  # the incident it joined (a part's: app.notify.parts)
    head = incidents.find(placed)
    if head is not None and head["merged_into"] is not None:  # its incident joined another
        shown |= {"incident_id": head["merged_into"], "merged_from": placed}
    return {"alert": shown, "home": member["home"]}


def incident_view(head: dict[str, Any]) -> dict[str, Any]:
    """An incident as the API shows it: counts, samples of alert ids, who acted and when.

    ``alert_ids`` is a sample (the first alerts), ``alert_count`` the exact number.
    """
    acknowledged = head["acknowledged"] or {}
    closed = head["closed"] or {}
    resolved = head["status"] == "resolved" and head["resolved_ms"] is not None
    return {
        "id": head["id"],
        "tenant": head["tenant"],
        "status": head["status"],
        "title": head["title"],
        "severity": head["severity"],
        "score": head["score"],
        "alert_ids": alert_ids(head),  # type: ignore[arg-type]
        "alert_count": alert_count(head),  # type: ignore[arg-type]
        "firing_count": head["firing"],
        "muted_count": head["muted"],
        "services": head["services"],
        "templates": head["templates"],
        "first_seen": head["first_seen"],
        "last_seen": head["last_seen"],
        "reasons": head["reasons"],
        "notified": head["notified"],
        "acknowledged_by": acknowledged.get("by"),
        "acknowledged_at": acknowledged.get("at"),
        "resolved_by": closed.get("by"),
        "resolved_at": closed.get("at") or (ms_time(head["resolved_ms"]) if resolved else None),
        "timeline": head["timeline"],
        "merged_into": head["merged_into"],
        "merged_from": head["merged_from"],
        "merged_count": head["merged_count"],
    }
