"""Slack: a Block Kit message, through an incoming webhook or a bot token.

With ``buttons`` (the default once ``ALERTFLOW_SLACK_SIGNING_SECRET`` is set, i.e. the Slack
app has interactivity pointed at ``/webhooks/slack/interactions``) the message carries
Acknowledge, Resolve and Silence 1h buttons (:mod:`app.web.slack`); without, Acknowledge and
Resolve are ``mrkdwn`` links to the confirmation page — a button click on a message of an app
without interactivity is flagged failed by Slack.

An incoming webhook (``url``) posts each notification as a new message: webhooks cannot reply
in a thread. A bot token with a ``channel`` posts with ``chat.postMessage``: the incident's
first message answers its ``ts``, which comes back on later notifications as ``thread``, so
updates, acknowledgements and the resolve are replies in that thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from app.sinks.base import SendError, post_json
from app.sinks.message import Summary, clip, summarize

HEADER_LIMIT = 150  # plain_text of a header block
TEXT_LIMIT = 3000  # text of a section or context element
FIELD_LIMIT = 2000  # each text of a section's fields


ACTION_PREFIX = "alertflow."  # action_id of the buttons: alertflow.acknowledge, …
RETRIED_ERRORS = ("ratelimited", "service_unavailable", "internal_error", "fatal_error")


@dataclass(frozen=True)
class SlackSink:
    """Posts a Block Kit message to an incoming webhook ``url``, or with a bot ``token`` to
    ``channel`` through the Web API at ``web_api_url``."""

    url: str | None = None
    token: str | None = None
    channel: str | None = None
    web_api_url: str = "https://slack.com/api"
    buttons: bool | None = None  # None: when ALERTFLOW_SLACK_SIGNING_SECRET is set
    name: str = "slack"

    def __post_init__(self) -> None:
        if self.token is None and self.url is None:
            raise ValueError("url: required for type slack (or token and channel, for a bot)")
        if self.token is not None and self.channel is None:
            raise ValueError("channel: required with token")

    async def send(
        self, session: aiohttp.ClientSession, notification: dict[str, Any]
    ) -> str | None:
        """Post the message; with a bot token, answer the ``ts`` of a new thread's parent."""
        body = message(notification, buttons=bool(self.buttons))
        if self.token is None:
            await post_json(session, str(self.url), body)
            return None
        thread = notification.get("thread")
        body = {**body, "channel": self.channel, **({"thread_ts": thread} if thread else {})}
        text = await post_json(
            session,
            f"{self.web_api_url.rstrip('/')}/chat.postMessage",
            body,
            {"Authorization": f"Bearer {self.token}"},
        )
        return started_thread(text, thread)


def started_thread(answer: str, thread: str | None) -> str | None:
    """The ``ts`` of a message that starts a thread, from ``chat.postMessage``'s answer.

    Slack answers HTTP 200 with ``ok: false`` for its errors; rate limits and outages are
    retried, the rest (``channel_not_found``, ``invalid_auth``…) are not.

    >>> started_thread('{"ok": true, "channel": "C1", "ts": "1503435956.000247"}', None)
    '1503435956.000247'
    >>> started_thread('{"ok": true, "ts": "1503435957.000100"}', "1503435956.000247") is None
    True
    >>> started_thread('{"ok": false, "error": "channel_not_found"}', None)
    Traceback (most recent call last):
    ...
    app.sinks.base.SendError: Slack chat.postMessage: channel_not_found
    """
    try:
        found = orjson.loads(answer)
    except orjson.JSONDecodeError:
        raise SendError(f"Slack chat.postMessage: not JSON: {answer[:200]}", retry=True) from None
    if not isinstance(found, dict) or not found.get("ok"):
        error = str(found.get("error") if isinstance(found, dict) else found)
        raise SendError(f"Slack chat.postMessage: {error}", retry=error in RETRIED_ERRORS)
    return None if thread else str(found.get("ts"))


def message(notification: dict[str, Any], buttons: bool = False) -> dict[str, Any]:
    """The webhook body: ``text`` (push notification and fallback) and ``blocks``.

    >>> m = message({"status": "firing", "severity": "critical", "title": "Disk <full>",
    ...              "alert_count": 2, "url": "https://af/api/v1/incidents/i1"})
    >>> m["text"]
    '🔴 FIRING · critical · Disk &lt;full&gt; (2 alerts)'
    >>> [b["type"] for b in m["blocks"]]
    ['header', 'section', 'context']
    >>> m["blocks"][2]["elements"][0]["text"].split(" · ")[1]
    '<https://af/api/v1/incidents/i1/acknowledge|Acknowledge>'
    >>> b = message({"incident_id": "i1", "status": "firing", "url": "https://af/i1"}, buttons=True)
    >>> [e["action_id"] for e in b["blocks"][-1]["elements"]]
    ['alertflow.acknowledge', 'alertflow.resolve', 'alertflow.silence_1h']
    >>> b["blocks"][-2]["elements"][0]["text"]
    '<https://af/i1|Open incident>'
    """
    summary = summarize(notification)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(clip(summary.headline, HEADER_LIMIT))},
        {"type": "section", "fields": [_mrkdwn(clip(f, FIELD_LIMIT)) for f in _facts(summary)]},
    ]
    if summary.body is not None:
        blocks.append({"type": "section", "text": _mrkdwn(clip(_escape(summary.body), TEXT_LIMIT))})
    elif summary.changes:
        text = "*Since the last notification*\n" + "\n".join(
            f"• {_escape(c)}" for c in summary.changes
        )
        blocks.append({"type": "section", "text": _mrkdwn(clip(text, TEXT_LIMIT))})
    if summary.reasons and summary.body is None:
        text = "*Why*\n" + "\n".join(f"• {_escape(r)}" for r in summary.reasons)
        blocks.append({"type": "section", "text": _mrkdwn(clip(text, TEXT_LIMIT))})
    links = summary.links
    choices = action_buttons(notification) if buttons else []
    if choices:  # the buttons act; only the page stays a link
        links = {label: url for label, url in links.items() if label == "Open incident"}
    if links:
        text = " · ".join(f"<{_escape(url)}|{label}>" for label, url in links.items())
        blocks.append({"type": "context", "elements": [_mrkdwn(text)]})
    if choices:
        blocks.append({"type": "actions", "elements": choices})
    return {"text": _escape(f"{summary.headline} ({summary.counts})"), "blocks": blocks}


def action_buttons(notification: dict[str, Any]) -> list[dict[str, Any]]:
    """Acknowledge (until acknowledged), Resolve and Silence 1h while the incident is open.

    >>> [b["text"]["text"] for b in action_buttons({"incident_id": "i1", "status": "firing",
    ...                                            "acknowledged": True})]
    ['Resolve', 'Silence 1h']
    >>> action_buttons({"incident_id": "i1", "status": "resolved"})
    []
    """
    incident_id = notification.get("incident_id")
    if not incident_id or notification.get("status") == "resolved":
        return []
    acked = notification.get("acknowledged") or notification.get("status") == "acknowledged"
    choices = [("resolve", "Resolve"), ("silence_1h", "Silence 1h")]
    if not acked:
        choices.insert(0, ("acknowledge", "Acknowledge"))
    return [
        {
            "type": "button",
            "action_id": ACTION_PREFIX + action,
            "text": _plain(label),
            "value": str(incident_id),
            **({"style": "primary"} if action == "acknowledge" else {}),
        }
        for action, label in choices
    ]


def _facts(summary: Summary) -> list[str]:
    return [
        f"*Status*\n{summary.status}",
        f"*Severity*\n{summary.severity}",
        f"*Alerts*\n{summary.counts}",
        f"*Tenant*\n{_escape(summary.tenant)}",
        f"*First seen*\n{summary.first_seen or '–'}",
        f"*Last seen*\n{summary.last_seen or '–'}",
    ]


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def _escape(text: str) -> str:
    """Slack's three control characters in mrkdwn text.

    >>> _escape("a < b & c")
    'a &lt; b &amp; c'
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
