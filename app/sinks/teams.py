"""Microsoft Teams workflow webhook: a message with one Adaptive Card attachment.

The URL is the one a Teams *Workflows* flow ("Post to a channel when a webhook request is
received") shows; the flow posts the card of ``attachments[0].content`` to its channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp

from app.sinks.base import post_json
from app.sinks.message import summarize

CARD_VERSION = "1.4"  # what Teams renders on desktop and mobile
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"


@dataclass(frozen=True)
class TeamsSink:
    """POSTs an Adaptive Card message to a Teams workflow webhook URL."""

    url: str
    name: str = "teams"

    async def send(self, session: aiohttp.ClientSession, notification: dict[str, Any]) -> None:
        """Post the card; the workflow answers 202 Accepted."""
        await post_json(session, self.url, message(notification))


def message(notification: dict[str, Any]) -> dict[str, Any]:
    """The webhook body: ``{"type": "message", "attachments": [<adaptive card>]}``.

    >>> m = message({"status": "resolved", "title": "Disk full", "url": "https://af/i/1"})
    >>> m["attachments"][0]["contentType"], m["attachments"][0]["content"]["type"]
    ('application/vnd.microsoft.card.adaptive', 'AdaptiveCard')
    >>> [a["title"] for a in m["attachments"][0]["content"]["actions"]]
    ['Open incident']
    """
    return {
        "type": "message",
        "attachments": [
            {"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": card(notification)}
        ],
    }


def card(notification: dict[str, Any]) -> dict[str, Any]:
    """The Adaptive Card: headline, facts, changes, reasons, and Action.OpenUrl links."""
    summary = summarize(notification)
    color = "Good" if summary.status == "RESOLVED" else "Attention"
    body: list[dict[str, Any]] = [
        _text(summary.headline, size="Large", weight="Bolder", color=color),
        {
            "type": "FactSet",
            "facts": [
                {"title": "Status", "value": summary.status},
                {"title": "Severity", "value": summary.severity},
                {"title": "Alerts", "value": summary.counts},
                {"title": "Tenant", "value": summary.tenant},
                {"title": "First seen", "value": summary.first_seen or "–"},
                {"title": "Last seen", "value": summary.last_seen or "–"},
            ],
        },
    ]
    if summary.body is not None:
        body.append(_text(summary.body))
    elif summary.changes:
        body.append(_text("Since the last notification", weight="Bolder"))
        body.extend(_text(f"• {line}") for line in summary.changes)
    if summary.reasons and summary.body is None:
        body.append(_text("Why", weight="Bolder"))
        body.extend(_text(f"• {reason}") for reason in summary.reasons)
    return {
        "$schema": CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "msteams": {"width": "Full"},
        "body": body,
        "actions": [
            {"type": "Action.OpenUrl", "title": label, "url": url}
            for label, url in summary.links.items()
        ],
    }


def _text(text: str, **style: str) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}
