"""``POST /webhooks/slack/interactions``: the Acknowledge, Resolve and Silence 1h buttons.

Slack posts here when someone clicks a button of a notification (the Slack app's
"Interactivity" request URL). The request is verified with ``ALERTFLOW_SLACK_SIGNING_SECRET``
(404 while it is unset), handled by the worker that owns the incident (forwarded as it came,
so the owner verifies it too), and answered 200 once the action is in Kafka; the original
message is then updated through the click's ``response_url``.

- Acknowledge / Resolve: one ``alerts.feedback`` record per alert of the incident, as
  ``POST /api/v1/incidents/{id}/acknowledge|resolve`` writes them (``by: slack:<user>``), so
  the model learns from the click and escalation stops.
- Silence 1h: a silence from now to an hour from now whose matchers are the incident's
  labels (what routing saw of the alert that opened it, ``tenant`` included).
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from faust.web import Request, Response, View

from app.faust_app import app, settings
from app.records import format_time, utc_now
from app.runtime.partitions import partition_of
from app.silences import parse_silence
from app.slack_interactions import Click, SlackRequestError, read_click, updated, verify
from app.web.feedback import feedback_of, publish_feedback
from app.web.http import ApiError, guarded
from app.web.routing import forward, owner_of
from app.web.silences import write_silence
from tables.incidents import incidents as incidents_table

log = logging.getLogger(__name__)

_updates: set[asyncio.Task[None]] = set()


@app.page("/webhooks/slack/interactions")
class SlackInteractions(View):
    """Button clicks from Slack."""

    @guarded("none")  # Slack cannot send the API token: its signature stands in for it
    async def post(self, request: Request) -> Response:
        """200 (empty) once done; 401 for a request Slack did not sign."""
        secret = settings.slack_signing_secret
        if not secret:
            raise ApiError(404, "not_configured", "set ALERTFLOW_SLACK_SIGNING_SECRET first")
        body = await request.read()
        try:
            verify(
                secret,
                request.headers.get("X-Slack-Request-Timestamp"),
                request.headers.get("X-Slack-Signature"),
                body,
                time.time(),
            )
            click = read_click(body)
        except SlackRequestError as exc:
            raise ApiError(exc.status, exc.code, exc.detail) from None
        try:
            owner = owner_of(incidents_table, click.incident_id)
        except KeyError:
            raise ApiError(503, "rebalancing", "partitions are being reassigned") from None
        if owner is not None:
            return await forward(self, request, owner)
        incident = incidents_table.read(
            partition_of(click.incident_id, incidents_table.partitions), click.incident_id
        )
        if incident is None:
            note = f"alertflow has no incident {click.incident_id} (any more)"
        else:
            note = await _act(click, dict(incident))
        _update_later(click, note)
        return self.bytes(b"", status=200)


async def _act(click: Click, incident: dict[str, Any]) -> str:
    """Do what the button says; the line that replaces the buttons says it was done."""
    who = f"<@{click.user_id}>" if click.user_id else click.user_name
    if click.action == "silence_1h":
        now = datetime.now(UTC)
        matchers = [{"name": k, "value": v} for k, v in sorted(incident["labels"].items()) if v]
        silence = parse_silence(
            {
                "matchers": matchers,
                "starts_at": format_time(now),
                "ends_at": format_time(now + timedelta(hours=1)),
                "created_by": f"slack:{click.user_name}",
                "comment": f"Silence 1h from Slack, incident {click.incident_id}",
            },
            now=utc_now(),
        )
        await write_silence(silence)
        return f"🔕 Silenced for 1 h by {who} (silence {silence['id']})"
    action = "acknowledge" if click.action == "acknowledge" else "resolve"
    body = {"by": f"slack:{click.user_name}", "actionable": True}
    records = [
        feedback_of(body, alert_id, click.incident_id, action, incident["tenant"], "incident")
        for alert_id, _ in incident["sample"]
    ]
    await publish_feedback(records)
    done = "👀 Acknowledged" if action == "acknowledge" else "✅ Resolved"
    return f"{done} by {who} ({len(records)} alert(s))"


def _update_later(click: Click, note: str) -> None:
    """Replace the original message through ``response_url``, after answering Slack."""
    if not click.response_url:
        return
    task = app.loop.create_task(_update(click.response_url, updated(click, note)))
    _updates.add(task)
    task.add_done_callback(_updates.discard)


async def _update(url: str, body: dict[str, Any]) -> None:
    try:
        async with app.http_client.post(url, json=body) as answer:
            if answer.status >= 300:
                text = await answer.text()
                log.warning("Slack response_url answered %s: %s", answer.status, text)
    except Exception:
        log.exception("could not update the Slack message through its response_url")
