"""Slack incoming webhook: a Block Kit message with links back to the incident.

Acknowledge and Resolve are plain ``mrkdwn`` links, not buttons: in Slack a button (even one
with a ``url``) sends an interaction payload to a Slack app with interactivity configured, and
an incoming webhook has none, so Slack would flag each click as failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp

from app.sinks.base import post_json
from app.sinks.message import Summary, clip, summarize

HEADER_LIMIT = 150  # plain_text of a header block
TEXT_LIMIT = 3000  # text of a section or context element
FIELD_LIMIT = 2000  # each text of a section's fields


@dataclass(frozen=True)
class SlackSink:
    """POSTs a Block Kit message to a Slack incoming webhook URL."""

    url: str
    name: str = "slack"

    async def send(self, session: aiohttp.ClientSession, notification: dict[str, Any]) -> None:
        """Post the message; Slack answers ``ok`` or an error status."""
        await post_json(session, self.url, message(notification))


def message(notification: dict[str, Any]) -> dict[str, Any]:
    """The webhook body: ``text`` (push notification and fallback) and ``blocks``.

    >>> m = message({"status": "firing", "severity": "critical", "title": "Disk <full>",
    ...              "alert_count": 2, "url": "https://af/api/v1/incidents/i1"})
    >>> m["text"]
    '🔴 FIRING · critical · Disk &lt;full&gt; (2 alerts)'
    >>> [b["type"] for b in m["blocks"]]
    ['header', 'section', 'context']
    >>> m["blocks"][2]["elements"][0]["text"].split(" · ")[1]
    '<https://af/api/v1/incidents/i1/acknowledge|Acknowledge>'
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
    if summary.links:
        text = " · ".join(f"<{_escape(url)}|{label}>" for label, url in summary.links.items())
        blocks.append({"type": "context", "elements": [_mrkdwn(text)]})
    return {"text": _escape(f"{summary.headline} ({summary.counts})"), "blocks": blocks}


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
