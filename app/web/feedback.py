"""Acknowledge and resolve, for one alert or every alert of an incident → ``alerts.feedback``.

The incident endpoints also take the signed links of notifications (:mod:`app.links`): ``GET``
answers a confirmation page and never acts (chat apps fetch links to preview them); its form
``POST``s to the same URL, where a valid ``sig``/``exp`` stands in for the bearer token. A link
acts once (a replay is 409 ``link_used``; used links are kept in :mod:`tables.links_used`, and
the incident's requests all reach its owner worker, which checks and marks under one lock);
``by`` is the receiver the link was sent to, and ``actionable`` only what the action allows.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass
from html import escape
from typing import Any, Literal
from urllib.parse import urlencode

import orjson
from faust.web import Request, Response, View

from app import links, topics
from app.access import Principal
from app.faust_app import app, every, settings
from app.records import Feedback, utc_now
from app.runtime.batches import Message
from app.runtime.partitions import partition_of
from app.stages import periodic, producer, send
from app.web.http import (
    ApiError,
    acknowledged,
    act_as,
    answer,
    authenticate,
    guarded,
    read_json,
    require_tenant,
)
from app.web.lookup import find
from app.web.pages import CAPABILITY_HEADERS, page
from app.web.routing import routed
from tables.incidents import incidents as incidents_table
from tables.links_used import links_used as links_used_table

ACTIONS: dict[str, Literal["ack", "resolve"]] = {"acknowledge": "ack", "resolve": "resolve"}
LINK_ACTIONABLE = {"acknowledge": (True,), "resolve": (True, False)}  # what a link may say
_link_lock = asyncio.Lock()
_marking: dict[str, int] = {}  # signature → exp: used here, not yet back from links.used


def feedback_of(
    body: Any,
    alert_id: str,
    incident_id: str | None,
    action: str,
    tenant: str | None = None,
    scope: Literal["alert", "incident"] = "alert",
) -> Feedback:
    """Validate the request body into a feedback record (``tenant`` for the live stream).

    >>> feedback_of({"by": "ann"}, "a1", None, "acknowledge", "t")["actionable"]
    True
    >>> feedback_of({}, "a1", "i1", "resolve", "t", "incident")["scope"]
    'incident'
    >>> feedback_of({"actionable": "no"}, "a1", None, "resolve")
    Traceback (most recent call last):
    ...
    app.web.http.ApiError: actionable: expected true or false
    """
    if action not in ACTIONS:
        raise ApiError(404, "not_found", f"unknown action {action!r}: acknowledge or resolve")
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", "expected a JSON object {by?, actionable?, note?}")
    by, actionable, note = body.get("by", "api"), body.get("actionable", True), body.get("note")
    if not isinstance(by, str) or not by:
        raise ApiError(400, "invalid_field", "by: expected a non-empty string")
    if not isinstance(actionable, bool):
        raise ApiError(400, "invalid_field", "actionable: expected true or false")
    if note is not None and not isinstance(note, str):
        raise ApiError(400, "invalid_field", "note: expected a string")
    record: Feedback = {
        "alert_id": alert_id,
        "incident_id": incident_id,
        "kind": ACTIONS[action],
        "actionable": actionable,
        "by": by,
        "at": utc_now(),
        "note": note,
        "scope": scope,
    }
    if tenant is not None:
        record["tenant"] = tenant
    return record


async def publish_feedback(records: list[Feedback]) -> None:
    """Write the records to ``alerts.feedback`` (key: alert id); return once acknowledged."""
    messages: dict[tuple[str, int], list[Message]] = defaultdict(list)
    topic = topics.feedback
    for record in records:
        key = record["alert_id"]
        place = (topic.name, partition_of(key, topic.partitions))
        messages[place].append((key.encode(), orjson.dumps(record), None))
    await producer.send(messages)


@app.page("/api/v1/alerts/{alert_id}/{action}")
class AlertFeedback(View):
    """``POST /api/v1/alerts/{id}/acknowledge|resolve``."""

    @guarded("operate")
    async def post(self, request: Request, alert_id: str, action: str) -> Response:
        """202 once the feedback is in Kafka; 404 for an alert never seen.

        An id that joined another alert's episode acts on that alert (``ids`` says which).
        """
        found = await find(request, alert_id)
        if found is None:
            raise ApiError(404, "not_found", f"no alert {alert_id}")
        alert = found["alert"]
        require_tenant(alert["tenant"])
        body = await read_json(request, optional=True)
        record = feedback_of(body, alert["id"], found["home"], action, alert["tenant"])
        await acknowledged(publish_feedback([record]))
        return answer(self, {"ids": [alert["id"]]}, 202)


@app.page("/api/v1/incidents/{incident_id}/{action}")
class IncidentFeedback(View):
    """``POST /api/v1/incidents/{id}/acknowledge|resolve``: for every alert of the incident.

    ``GET`` with the same path answers the confirmation page of a signed link.
    """

    @routed(incidents_table, "incident_id")
    @guarded("operate", link=True)
    async def get(self, request: Request, incident_id: str, action: str) -> Response:
        """The confirmation page: what the link would do, and a button that does it."""
        link = _grant(request, incident_id, action)
        incident = _incident(incident_id)
        if link is not None:
            _refuse_used(link)
        query = {k: request.query[k] for k in ("sig", "exp", "by") if link and k in request.query}
        shown = confirmation_page(incident, action, query)
        return self.html(shown, headers=dict(CAPABILITY_HEADERS))

    @routed(incidents_table, "incident_id")
    @guarded("operate", link=True)
    async def post(self, request: Request, incident_id: str, action: str) -> Response:
        """202 once one feedback record per alert of the incident's sample is in Kafka; 404 for
        an unknown incident; 409 for a link used before, or an incident merged away before it
        held any alert (act on the one it joined)."""
        link = _grant(request, incident_id, action)
        incident = _incident(incident_id)
        body = await read_json(request, optional=True)
        if link is not None and isinstance(body, dict):
            body = _as_the_link_says(body, request, link)
        ids = [alert_id for alert_id, _ in incident["sample"]]
        if not ids:
            detail = f"incident {incident_id} holds no alert"
            if incident["merged_into"]:
                detail += f": it was merged into {incident['merged_into']}, act on that one"
            raise ApiError(409, "no_alerts", detail)
        tenant = incident["tenant"]
        records = [feedback_of(body, a, incident_id, action, tenant, "incident") for a in ids]
        if link is None:
            await acknowledged(publish_feedback(records))
        else:
            async with _link_lock:  # one use: check, act and mark as one step on this worker
                _refuse_used(link)
                await acknowledged(publish_feedback(records))
                await acknowledged(_mark_used(link))
        if "text/html" in request.headers.get("Accept", ""):  # the confirmation page's form
            done = done_page(incident, action, len(records))
            return self.html(done, status=202, headers=dict(CAPABILITY_HEADERS))
        return answer(self, {"ids": ids}, 202)


@dataclass(frozen=True)
class Link:
    """The signed link a request came with."""

    sig: str
    exp: int
    by: str
    action: str
    incident_id: str


def _refuse_used(link: Link) -> None:
    used = links_used_table.get(link.sig)
    if used is not None or link.sig in _marking:
        when = f" at {used['at']} by {used['by']}" if used else ""
        raise ApiError(409, "link_used", f"this link was used already{when}; it acts once")


async def _mark_used(link: Link) -> None:
    now = time.time()
    for sig in [sig for sig, exp in _marking.items() if exp < now]:
        del _marking[sig]
    _marking[link.sig] = link.exp
    record: dict[str, Any] = {"incident_id": link.incident_id, "action": link.action, "by": link.by}
    record |= {"exp": link.exp, "at": utc_now()}
    await send(topics.links_used, link.sig, record, json_key=True)


@every(600.0)
@periodic
async def forget_expired_links() -> None:
    """Tombstone the used links that have expired: nobody can present them any more."""
    now = time.time()
    for sig, row in list(links_used_table.items()):
        if row["exp"] < now:
            await send(topics.links_used, sig, None, json_key=True)


def _as_the_link_says(body: dict[str, Any], request: Request, link: Link) -> dict[str, Any]:
    """The body with ``by`` from the link, and an ``actionable`` the link's action allows."""
    actionable = body.get("actionable", True)
    if (value := request.query.get("actionable")) in ("true", "false"):
        actionable = value == "true"
    if actionable not in LINK_ACTIONABLE[link.action]:
        detail = f"actionable: a link to {link.action} records only {LINK_ACTIONABLE[link.action]}"
        raise ApiError(400, "invalid_field", detail)
    return {**body, "by": link.by, "actionable": actionable}


_WORDS = {"acknowledge": "Acknowledge", "resolve": "Resolve"}


def _grant(request: Request, incident_id: str, action: str) -> Link | None:
    """Allow a valid signed link, or a token that may operate on the incident's tenant;
    the link, when a link did it."""
    if action not in ACTIONS:
        raise ApiError(404, "not_found", f"unknown action {action!r}: acknowledge or resolve")
    token, query = settings.api_token, request.query
    if token is None and ("sig" in query or "exp" in query):
        act_as(authenticate(request, "operate"))  # links are not signed here: a token decides
    elif "sig" in query or "exp" in query:
        by = query.get("by")
        try:
            links.verify(
                token, incident_id, action, query.get("sig"), query.get("exp"), time.time(), by
            )
        except links.LinkError as exc:
            raise ApiError(401, exc.code, exc.detail) from None
        link = Link(
            str(query["sig"]).lower(), int(query["exp"]), by or "signed link", action, incident_id
        )
        tenant = _incident(incident_id)["tenant"]
        act_as(Principal(f"link:{link.by}", "operate", frozenset({tenant}), "link"))
        return link
    require_tenant(_incident(incident_id)["tenant"])  # the token: checked by @guarded
    return None


def _incident(incident_id: str) -> dict[str, Any]:
    incident = incidents_table.find(incident_id)
    if incident is None:
        raise ApiError(404, "not_found", f"no incident {incident_id}")
    return dict(incident)


def confirmation_page(incident: dict[str, Any], action: str, query: dict[str, str]) -> str:
    """The page a link opens: the incident, and one button per choice (no script).

    >>> incident = {"id": "i1", "title": "Disk <full>", "status": "firing",
    ...             "severity": "critical", "alerts": 1, "merged_into": None}
    >>> page = confirmation_page(incident, "resolve", {"sig": "ab", "exp": "9"})
    >>> "Disk &lt;full&gt;" in page, page.count('<form method="post"')
    (True, 2)
    >>> 'action="?sig=ab&amp;exp=9&amp;actionable=false"' in page
    True
    """
    word = _WORDS[action]
    into = incident.get("merged_into")
    merged = f" (merged into {escape(str(into))})" if into else ""
    choices = (
        [("true", "Resolve: it needed action"), ("false", "Resolve: it was noise")]
        if action == "resolve"
        else [("true", "Acknowledge: I am on it")]
    )
    forms = "".join(
        f'<form method="post" action="?{escape(urlencode({**query, "actionable": value}))}">'
        f'<button type="submit">{escape(label)}</button></form>'
        for value, label in choices
    )
    return page(
        f"{word} incident?",
        f"<p><b>{escape(str(incident['title']))}</b></p>"
        f"<p>{escape(str(incident['status']))} · {escape(str(incident['severity']))} · "
        f"{incident['alerts']} alert(s) · incident {escape(str(incident['id']))}{merged}</p>"
        f"<p>Nothing happens until you press a button; it applies to the incident and its "
        f"alerts.</p>{forms}",
    )


def done_page(incident: dict[str, Any], action: str, count: int) -> str:
    """The page after the button: what was recorded.

    >>> "2 alert(s)" in done_page({"id": "i1", "title": "t"}, "acknowledge", 2)
    True
    """
    done = {"acknowledge": "Acknowledged", "resolve": "Resolved"}[action]
    return page(
        done,
        f"<p>{done}: <b>{escape(str(incident['title']))}</b> — {count} alert(s) of incident "
        f"{escape(str(incident['id']))}. You can close this page.</p>",
    )
