"""Acknowledge and resolve, for one alert or every alert of an incident → ``alerts.feedback``."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from faust.web import Request, Response, View

from app import topics
from app.faust_app import app
from app.records import Feedback, utc_now
from app.web.http import ApiError, answer, guarded, read_json
from tables.alerts import alerts as alerts_table
from tables.incidents import incidents as incidents_table

ACTIONS = {"acknowledge": "ack", "resolve": "resolve"}


def feedback_of(body: Any, alert_id: str, incident_id: str | None, action: str) -> Feedback:
    """Validate the request body into a feedback record.

    >>> feedback_of({"by": "ann"}, "a1", None, "acknowledge")["actionable"]
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
    return {
        "alert_id": alert_id,
        "incident_id": incident_id,
        "kind": ACTIONS[action],
        "actionable": actionable,
        "by": by,
        "at": utc_now(),
        "note": note,
    }


async def _publish(records: list[Feedback]) -> None:
    pending = [
        await topics.feedback.send(key=record["alert_id"], value=orjson.dumps(record))
        for record in records
    ]
    await asyncio.gather(*pending)


@app.page("/api/v1/alerts/{alert_id}/{action}")
class AlertFeedback(View):
    """``POST /api/v1/alerts/{id}/acknowledge|resolve``."""

    @app.table_route(table=alerts_table, match_info="alert_id")
    @guarded()
    async def post(self, request: Request, alert_id: str, action: str) -> Response:
        """202 once the feedback is in Kafka; 404 for an alert never seen."""
        entry = alerts_table.get(alert_id)
        if entry is None or entry["alert"] is None:
            raise ApiError(404, "not_found", f"no alert {alert_id}")
        body = await read_json(request, optional=True)
        record = feedback_of(body, alert_id, entry["alert"]["incident_id"], action)
        await _publish([record])
        return answer(self, {"ids": [alert_id]}, 202)


@app.page("/api/v1/incidents/{incident_id}/{action}")
class IncidentFeedback(View):
    """``POST /api/v1/incidents/{id}/acknowledge|resolve``: for every alert of the incident."""

    @app.table_route(table=incidents_table, match_info="incident_id")
    @guarded()
    async def post(self, request: Request, incident_id: str, action: str) -> Response:
        """202 once one feedback record per alert is in Kafka; 404 for an unknown incident."""
        incident = incidents_table.get(incident_id)
        if incident is None:
            raise ApiError(404, "not_found", f"no incident {incident_id}")
        body = await read_json(request, optional=True)
        records = [
            feedback_of(body, alert_id, incident_id, action) for alert_id in incident["alerts"]
        ]
        await _publish(records)
        return answer(self, {"ids": list(incident["alerts"])}, 202)
