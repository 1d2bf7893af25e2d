"""Discord webhook: one embed per notification, coloured by severity, mentions disabled."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp

from app.sinks.base import post_json
from app.sinks.message import clip, summarize

TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FOOTER_LIMIT = 2048


@dataclass(frozen=True)
class DiscordSink:
    """POSTs an embed to a Discord webhook URL (``https://discord.com/api/webhooks/…``)."""

    url: str
    name: str = "discord"
    username: str = "alertflow"

    async def send(self, session: aiohttp.ClientSession, notification: dict[str, Any]) -> None:
        """Post the message; Discord answers 204 No Content."""
        await post_json(session, self.url, message(notification, self.username))


def message(notification: dict[str, Any], username: str = "alertflow") -> dict[str, Any]:
    """The execute-webhook body: ``username``, ``allowed_mentions`` and one embed.

    >>> m = message({"status": "firing", "severity": "warning", "title": "Slow API",
    ...              "url": "https://af/i/1", "reasons": ["@everyone look"]})
    >>> e = m["embeds"][0]; e["title"], e["url"], hex(e["color"])
    ('🟠 FIRING · warning · Slow API', 'https://af/i/1', '0xf57c00')
    >>> m["allowed_mentions"]
    {'parse': []}
    """
    summary = summarize(notification)
    description = [f"**{summary.counts}** · tenant `{summary.tenant}`"]
    if summary.body is not None:
        description += ["", summary.body]
    elif summary.changes:
        description += ["", "**Since the last notification**"]
        description += [f"• {line}" for line in summary.changes]
    if summary.reasons and summary.body is None:
        description += ["", "**Why**", *(f"• {reason}" for reason in summary.reasons)]
    fields = [
        {"name": "Severity", "value": summary.severity, "inline": True},
        {"name": "Status", "value": summary.status, "inline": True},
    ]
    if summary.links:
        value = " · ".join(f"[{label}]({url})" for label, url in summary.links.items())
        fields.append({"name": "Act", "value": clip(value, FIELD_VALUE_LIMIT), "inline": False})
    embed: dict[str, Any] = {
        "title": clip(summary.headline, TITLE_LIMIT),
        "description": clip("\n".join(description), DESCRIPTION_LIMIT),
        "color": summary.color,
        "fields": fields,
        "footer": {"text": clip(f"alertflow · first seen {summary.first_seen or '–'}", 200)},
    }
    if url := summary.links.get("Open incident"):
        embed["url"] = url
    if summary.last_seen:
        embed["timestamp"] = summary.last_seen
    return {"username": username, "allowed_mentions": {"parse": []}, "embeds": [embed]}
