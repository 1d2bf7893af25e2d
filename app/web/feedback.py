"""Acknowledge and resolve, for one alert or every alert of an incident → ``alerts.feedback``.

The incident endpoints also take the signed links of notifications (:mod:`app.links`): ``GET``
answers a confirmation page and never acts (chat apps fetch links to preview them); its form
``POST``s to the same URL, where a valid ``sig``/``exp`` stands in for the bearer token.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from html import escape
from typing import Any
from urllib.parse import urlencode

import orjson
from faust.web import Request, Response, View

from app import links, topics
from app.faust_app import app, settings
from app.records import Feedback, utc_now
from app.web.http import ApiError, acknowledged, answer, bearer_token, guarded, read_json
from app.web.routing import routed
from tables.alerts import alerts as alerts_table
from tables.incidents import incidents as incidents_table

ACTIONS = {"acknowledge": "ack", "resolve": "resolve"}


def feedback_of(
    body: Any, alert_id: str, incident_id: str | None, action: str, tenant: str | None = None
) -> Feedback:
    """Validate the request body into a feedback record (``tenant`` for the live stream).

    >>> feedback_of({"by": "ann"}, "a1", None, "acknowledge", "t")["actionable"]
    True
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
    }
    if tenant is not None:
        record["tenant"] = tenant
    return record


async def publish_feedback(records: list[Feedback]) -> None:
    """Write the feedback records to alerts.feedback and wait for Kafka to acknowledge them."""
    pending = [
        await topics.feedback.send(key=record["alert_id"], value=orjson.dumps(record))
        for record in records
    ]
    await asyncio.gather(*pending)


@app.page("/api/v1/alerts/{alert_id}/{action}")
class AlertFeedback(View):
    """``POST /api/v1/alerts/{id}/acknowledge|resolve``."""

    @routed(alerts_table, "alert_id")
    @guarded()
    async def post(self, request: Request, alert_id: str, action: str) -> Response:
        """202 once the feedback is in Kafka; 404 for an alert never seen."""
        entry = alerts_table.get(alert_id)
        if entry is None or entry["alert"] is None:
            raise ApiError(404, "not_found", f"no alert {alert_id}")
        body = await read_json(request, optional=True)
        alert = entry["alert"]
        record = feedback_of(body, alert_id, alert["incident_id"], action, alert["tenant"])
        await acknowledged(publish_feedback([record]))
        return answer(self, {"ids": [alert_id]}, 202)


@app.page("/api/v1/incidents/{incident_id}/{action}")
class IncidentFeedback(View):
    """``POST /api/v1/incidents/{id}/acknowledge|resolve``: for every alert of the incident.

    ``GET`` with the same path answers the confirmation page of a signed link.
    """

    @routed(incidents_table, "incident_id")
    @guarded("none")
    async def get(self, request: Request, incident_id: str, action: str) -> Response:
        """The confirmation page: what the link would do, and a button that does it."""
        signed = _grant(request, incident_id, action)
        incident = _incident(incident_id)
        query = {k: request.query[k] for k in ("sig", "exp") if signed and k in request.query}
        page = confirmation_page(incident, action, query)
        return self.html(page, headers=dict(_PAGE_HEADERS))

    @routed(incidents_table, "incident_id")
    @guarded("none")
    async def post(self, request: Request, incident_id: str, action: str) -> Response:
        """202 once one feedback record per alert is in Kafka; 404 for an unknown incident."""
        signed = _grant(request, incident_id, action)
        incident = _incident(incident_id)
        body = await read_json(request, optional=True)
        if isinstance(body, dict):
            body = {**_link_fields(request, signed), **body}
        records = [
            feedback_of(body, alert_id, incident_id, action, incident["tenant"])
            for alert_id in incident["alerts"]
        ]
        await acknowledged(publish_feedback(records))
        if "text/html" in request.headers.get("Accept", ""):  # the confirmation page's form
            done = done_page(incident, action, len(records))
            return self.html(done, status=202, headers=dict(_PAGE_HEADERS))
        return answer(self, {"ids": list(incident["alerts"])}, 202)


_PAGE_HEADERS = {  # the page's URL carries a capability: keep it out of caches and referrers
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
}
_WORDS = {"acknowledge": "Acknowledge", "resolve": "Resolve"}


def _grant(request: Request, incident_id: str, action: str) -> bool:
    """Allow a valid signed link or the bearer token; whether the link's signature did it."""
    if action not in ACTIONS:
        raise ApiError(404, "not_found", f"unknown action {action!r}: acknowledge or resolve")
    token, query = settings.api_token, request.query
    if "sig" in query or "exp" in query:
        try:
            links.verify(
                token, incident_id, action, query.get("sig"), query.get("exp"), time.time()
            )
        except links.LinkError as exc:
            raise ApiError(401, exc.code, exc.detail) from None
        return token is not None
    offered = bearer_token(request)
    if token is not None and not hmac.compare_digest(offered.encode(), token.encode()):
        raise ApiError(
            401,
            "unauthorized",
            "a valid Authorization: Bearer <token> or a signed link is required",
        )
    return False


def _incident(incident_id: str) -> dict[str, Any]:
    incident = incidents_table.get(incident_id)
    if incident is None:
        raise ApiError(404, "not_found", f"no incident {incident_id}")
    return dict(incident)


def _link_fields(request: Request, signed: bool) -> dict[str, Any]:
    """What the page's buttons put in the query: ``actionable``; and who, for a signed link."""
    fields: dict[str, Any] = {"by": "signed link"} if signed else {}
    if (value := request.query.get("actionable")) in ("true", "false"):
        fields["actionable"] = value == "true"
    return fields


def confirmation_page(incident: dict[str, Any], action: str, query: dict[str, str]) -> str:
    """The page a link opens: the incident, and one button per choice (no script).

    >>> incident = {"id": "i1", "title": "Disk <full>", "status": "firing",
    ...             "severity": "critical", "alerts": {"a1": "firing"}}
    >>> page = confirmation_page(incident, "resolve", {"sig": "ab", "exp": "9"})
    >>> "Disk &lt;full&gt;" in page, page.count('<form method="post"')
    (True, 2)
    >>> 'action="?sig=ab&amp;exp=9&amp;actionable=false"' in page
    True
    """
    word = _WORDS[action]
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
    return _page(
        f"{word} incident?",
        f"<p><b>{escape(str(incident['title']))}</b></p>"
        f"<p>{escape(str(incident['status']))} · {escape(str(incident['severity']))} · "
        f"{len(incident['alerts'])} alert(s) · incident {escape(str(incident['id']))}</p>"
        f"<p>Nothing happens until you press a button; it applies to every alert of the "
        f"incident.</p>{forms}",
    )


def done_page(incident: dict[str, Any], action: str, count: int) -> str:
    """The page after the button: what was recorded.

    >>> "2 alert(s)" in done_page({"id": "i1", "title": "t"}, "acknowledge", 2)
    True
    """
    done = {"acknowledge": "Acknowledged", "resolve": "Resolved"}[action]
    return _page(
        done,
        f"<p>{done}: <b>{escape(str(incident['title']))}</b> — {count} alert(s) of incident "
        f"{escape(str(incident['id']))}. You can close this page.</p>",
    )


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · alertflow</title>"
        "<style>body{font-family:sans-serif;max-width:32em;margin:2em auto;padding:0 1em}"
        "button{font-size:1.1em;padding:.6em 1em;margin:.3em 0;width:100%}</style>"
        f"</head><body><h1>{escape(title)}</h1>{body}</body></html>"
    )
