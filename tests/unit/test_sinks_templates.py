"""Receivers' title/body templates (Jinja2, sandboxed) and send_resolved, in every sink."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from app.config import from_document
from app.sinks import discord, mail, pagerduty, slack, teams
from app.sinks.base import Receiver
from app.sinks.templates import MessageTemplates

NOTIFICATION = {
    "incident_id": "i1",
    "tenant": "ops",
    "status": "firing",
    "title": "Disk full on db-1",
    "severity": "critical",
    "alert_ids": ["a1", "a2"],
    "alert_count": 2,
    "added_alert_ids": ["a2"],
    "reasons": ["new fingerprint"],
    "url": "https://af/api/v1/incidents/i1",
}
TEMPLATES = MessageTemplates(
    title="[{{ severity | upper }}] {{ title }} ×{{ alert_count }}",
    body="{% for r in reasons %}→ {{ r }}{% endfor %} ({{ tenant }})",
)
RENDERERS = {
    "slack": lambda n: slack.message(n),
    "teams": lambda n: teams.message(n),
    "discord": lambda n: discord.message(n),
    "pagerduty": lambda n: pagerduty.event(n, "K"),
    "email": lambda n: _email(n),
}


def _email(notification: dict[str, Any]) -> str:
    message = mail.compose(notification, "a@x", ("b@x",))
    parts = [message.get_body((kind,)) for kind in ("plain", "html")]
    return "\n".join([str(message["Subject"]), *(p.get_content() for p in parts if p)])


@pytest.mark.parametrize("kind", RENDERERS)
def test_without_templates_messages_are_unchanged(kind: str) -> None:
    render = RENDERERS[kind]
    before = render(NOTIFICATION)
    after = render(MessageTemplates().apply(NOTIFICATION))
    assert after == before


@pytest.mark.parametrize("kind", RENDERERS)
def test_title_and_body_templates_reach_every_sink(kind: str) -> None:
    text = str(RENDERERS[kind](TEMPLATES.apply(NOTIFICATION)))
    assert "[CRITICAL] Disk full on db-1 ×2" in text
    assert "→ new fingerprint (ops)" in text
    assert "Since the last notification" not in text


def test_a_template_that_fails_at_render_time_keeps_the_default() -> None:
    broken = MessageTemplates(title="{{ alert_count / 0 }}")
    assert broken.apply(NOTIFICATION)["title"] == "Disk full on db-1"


def test_templates_come_from_the_receivers_config() -> None:
    config = from_document(
        {
            "receivers": [
                {"name": "ops", "type": "slack", "url": "https://h/s", "title": "{{ title }}!"},
                {
                    "name": "am",
                    "slack_configs": [{"api_url": "https://h/a"}],
                    "body": "{{ reasons | join(', ') }}",
                },
            ]
        }
    )
    assert config.receivers["ops"].templates == MessageTemplates(title="{{ title }}!")
    assert config.receivers["am"].templates.body == "{{ reasons | join(', ') }}"


@dataclass
class Captured:
    """A sink that keeps what it is given."""

    name: str = "captured"
    sent: list[dict[str, Any]] = field(default_factory=list)

    async def send(self, session: aiohttp.ClientSession, notification: dict[str, Any]) -> None:
        self.sent.append(notification)


def test_a_receiver_renders_its_templates_and_honours_send_resolved() -> None:
    sink = Captured()
    receiver = Receiver(sink, send_resolved=False, templates=TEMPLATES)

    async def both() -> None:
        async with aiohttp.ClientSession() as session:
            await receiver.send(session, NOTIFICATION)
            await receiver.send(session, {**NOTIFICATION, "status": "resolved"})

    asyncio.run(both())
    assert [n["title"] for n in sink.sent] == ["[CRITICAL] Disk full on db-1 ×2"]
