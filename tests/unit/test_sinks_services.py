"""Each chat/paging sink against a local HTTP server standing in for its service.

The server records what it receives; the checks below are the services' documented payload
shapes and limits (Slack Block Kit, Teams Adaptive Card via a workflow, Discord execute-webhook
embeds, PagerDuty Events API v2, the generic webhook of CONTRACT.md).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from urllib.parse import unquote

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from app.links import LinkSigner, signature
from app.sinks.base import Receiver, deliver
from app.sinks.discord import DiscordSink
from app.sinks.pagerduty import PagerDutySink
from app.sinks.slack import SlackSink
from app.sinks.teams import TeamsSink
from app.sinks.webhook import NOTIFICATION_ID_HEADER, SIGNATURE_HEADER, WebhookSink

ROUTING_KEY = "R0123456789abcdef0123456789abcde"  # 32 characters, like an integration key


class Service:
    """A local stand-in: records each POST, answers with the configured status and body."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        self.body = "ok"

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        self.requests.append({"path": request.path, "headers": request.headers, "raw": raw})
        return web.Response(status=self.status, text=self.body)

    def json(self, index: int = -1) -> Any:
        return orjson.loads(self.requests[index]["raw"])


@pytest.fixture
async def service() -> AsyncIterator[tuple[Service, str]]:
    fake = Service()
    app = web.Application()
    app.router.add_post("/{tail:.*}", fake.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield fake, str(server.make_url("/hook"))
    await server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def notification(**extra: Any) -> dict[str, Any]:
    """A notification as the notify agent builds it, with the optional change fields."""
    return {
        "incident_id": "inc-7f3a",
        "tenant": "payments",
        "status": "firing",
        "title": "Disk full on db-1 <primary> & replica",
        "severity": "critical",
        "score": 0.91,
        "alert_ids": ["a1", "a2", "a3"],
        "alert_count": 3,
        "first_seen": "2024-05-01T02:13:00+00:00",
        "last_seen": "2024-05-01T02:16:30+00:00",
        "reasons": ["severity critical always pages", "new fingerprint"],
        "url": "https://alertflow.example.org/api/v1/incidents/inc-7f3a",
        "added_alert_ids": ["a3"],
        "resolved_alert_ids": ["a1"],
        **extra,
    }


HUGE = notification(title="T" * 5000, reasons=["R" * 9000] * 3, added_alert_ids=["x" * 3000] * 40)


def is_url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://"))


# --- Slack -------------------------------------------------------------------------------


def check_slack(body: dict[str, Any]) -> None:
    """Block Kit as documented for incoming webhooks."""
    assert isinstance(body["text"], str) and body["text"]
    blocks = body["blocks"]
    assert 1 <= len(blocks) <= 50
    for block in blocks:
        kind = block["type"]
        if kind == "header":
            assert block["text"]["type"] == "plain_text"
            assert 1 <= len(block["text"]["text"]) <= 150
        elif kind == "section":
            assert "text" in block or "fields" in block
            if "text" in block:
                assert block["text"]["type"] in ("mrkdwn", "plain_text")
                assert 1 <= len(block["text"]["text"]) <= 3000
            for item in block.get("fields", []):
                assert item["type"] in ("mrkdwn", "plain_text")
                assert 1 <= len(item["text"]) <= 2000
            assert len(block.get("fields", [])) <= 10
        elif kind == "context":
            assert 1 <= len(block["elements"]) <= 10
            for element in block["elements"]:
                assert element["type"] in ("mrkdwn", "plain_text", "image")
                assert len(element["text"]) <= 3000
        else:
            raise AssertionError(f"unexpected block type {kind}")


async def test_slack_block_kit_message(service: tuple[Service, str], session: Any) -> None:
    fake, url = service
    delivery = await deliver(SlackSink(url, name="ops"), session, notification())
    assert delivery.ok and delivery.attempts == 1
    body = fake.json()
    check_slack(body)
    assert fake.requests[0]["headers"]["Content-Type"] == "application/json"
    text = str(body)
    assert "&lt;primary&gt; &amp; replica" in text  # mrkdwn control characters escaped
    assert "1 new: a3" in text and "1 resolved: a1" in text
    context = body["blocks"][-1]["elements"][0]["text"]
    assert "<https://alertflow.example.org/api/v1/incidents/inc-7f3a/acknowledge|Acknowledge>" in (
        context
    )
    assert "/resolve|Resolve>" in context


async def test_slack_limits_hold_for_huge_incidents(
    service: tuple[Service, str], session: Any
) -> None:
    fake, url = service
    assert (await deliver(SlackSink(url), session, HUGE)).ok
    check_slack(fake.json())


# --- Microsoft Teams ---------------------------------------------------------------------


def check_teams(body: dict[str, Any], raw: bytes) -> dict[str, Any]:
    """A workflow webhook message carrying one Adaptive Card."""
    assert body["type"] == "message"
    assert len(raw) <= 28 * 1024  # Teams' message size limit
    [attachment] = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert card["version"] in ("1.0", "1.1", "1.2", "1.3", "1.4", "1.5")
    for element in card["body"]:
        assert element["type"] in ("TextBlock", "FactSet")
        if element["type"] == "TextBlock":
            assert isinstance(element["text"], str) and element["text"]
        else:
            for fact in element["facts"]:
                assert isinstance(fact["title"], str) and isinstance(fact["value"], str)
    for action in card["actions"]:
        assert action["type"] == "Action.OpenUrl"
        assert action["title"] and is_url(action["url"])
    return card


async def test_teams_adaptive_card(service: tuple[Service, str], session: Any) -> None:
    fake, url = service
    fake.status, fake.body = 202, ""
    assert (await deliver(TeamsSink(url), session, notification())).ok
    card = check_teams(fake.json(), fake.requests[0]["raw"])
    assert card["body"][0]["text"] == "🔴 FIRING · critical · Disk full on db-1 <primary> & replica"
    facts = {f["title"]: f["value"] for f in card["body"][1]["facts"]}
    assert facts["Alerts"] == "3 alerts" and facts["Severity"] == "critical"
    assert [a["title"] for a in card["actions"]] == ["Open incident", "Acknowledge", "Resolve"]

    assert (await deliver(TeamsSink(url), session, notification(status="resolved"))).ok
    card = check_teams(fake.json(), fake.requests[1]["raw"])
    assert card["body"][0]["color"] == "Good"
    assert [a["title"] for a in card["actions"]] == ["Open incident"]


# --- Discord -----------------------------------------------------------------------------


def check_discord(body: dict[str, Any]) -> None:
    """Execute-webhook body: embeds within Discord's documented limits."""
    assert 1 <= len(body.get("username", "x")) <= 80
    assert "discord" not in body.get("username", "").lower()
    assert len(body.get("content", "")) <= 2000
    embeds = body["embeds"]
    assert 1 <= len(embeds) <= 10
    total = 0
    for embed in embeds:
        assert len(embed["title"]) <= 256
        assert len(embed.get("description", "")) <= 4096
        assert 0 <= embed["color"] <= 0xFFFFFF
        assert len(embed["fields"]) <= 25
        for item in embed["fields"]:
            assert 1 <= len(item["name"]) <= 256 and 1 <= len(item["value"]) <= 1024
            total += len(item["name"]) + len(item["value"])
        assert len(embed["footer"]["text"]) <= 2048
        if "timestamp" in embed:
            datetime.fromisoformat(embed["timestamp"])
        if "url" in embed:
            assert is_url(embed["url"])
        total += len(embed["title"]) + len(embed.get("description", ""))
        total += len(embed["footer"]["text"])
    assert total <= 6000


async def test_discord_embeds(service: tuple[Service, str], session: Any) -> None:
    fake, url = service
    fake.status, fake.body = 204, ""
    assert (await deliver(DiscordSink(url), session, notification())).ok
    body = fake.json()
    check_discord(body)
    assert body["allowed_mentions"] == {"parse": []}  # an alert text never pings @everyone
    embed = body["embeds"][0]
    assert embed["color"] == 0xD32F2F
    assert "**Since the last notification**\n• 1 new: a3\n• 1 resolved: a1" in embed["description"]
    assert (
        "[Acknowledge](https://alertflow.example.org/api/v1/incidents/inc-7f3a/acknowledge)"
        in (embed["fields"][-1]["value"])
    )

    assert (await deliver(DiscordSink(url), session, HUGE)).ok
    check_discord(fake.json())


# --- PagerDuty ---------------------------------------------------------------------------


def check_pagerduty(event: dict[str, Any]) -> None:
    """Events API v2 as documented: common fields, and the payload of a trigger."""
    assert isinstance(event["routing_key"], str) and len(event["routing_key"]) == 32
    assert event["event_action"] in ("trigger", "acknowledge", "resolve")
    assert 1 <= len(event["dedup_key"]) <= 255
    if event["event_action"] != "trigger":
        assert "payload" not in event
        return
    payload = event["payload"]
    assert 1 <= len(payload["summary"]) <= 1024
    assert isinstance(payload["source"], str) and payload["source"]
    assert payload["severity"] in ("critical", "error", "warning", "info")
    if "timestamp" in payload:
        datetime.fromisoformat(payload["timestamp"])
    assert isinstance(payload.get("custom_details", {}), dict)
    for link in event.get("links", []):
        assert is_url(link["href"]) and isinstance(link["text"], str)


async def test_pagerduty_trigger_acknowledge_resolve(
    service: tuple[Service, str], session: Any
) -> None:
    fake, url = service
    fake.status, fake.body = 202, '{"status":"success","message":"Event processed"}'
    sink = PagerDutySink(ROUTING_KEY, url=url)
    for status in ("firing", "acknowledged", "resolved"):
        assert (await deliver(sink, session, notification(status=status))).ok
    events = [fake.json(i) for i in range(3)]
    for event in events:
        check_pagerduty(event)
    assert [e["event_action"] for e in events] == ["trigger", "acknowledge", "resolve"]
    assert {e["dedup_key"] for e in events} == {"inc-7f3a"}  # the incident id
    trigger = events[0]["payload"]
    assert trigger["summary"] == "Disk full on db-1 <primary> & replica (3 alerts)"
    assert trigger["severity"] == "critical" and trigger["source"] == "payments"
    assert trigger["custom_details"]["changes"] == ["1 new: a3", "1 resolved: a1"]
    assert events[0]["links"][0]["href"].endswith("/incidents/inc-7f3a")

    assert (await deliver(sink, session, {**HUGE, "severity": "disaster"})).ok
    check_pagerduty(fake.json())
    assert fake.json()["payload"]["severity"] == "error"  # outside the enum: mapped


async def test_pagerduty_invalid_event_is_not_retried(
    service: tuple[Service, str], session: Any
) -> None:
    fake, url = service
    fake.status, fake.body = 400, '{"status":"invalid event","errors":["..."]}'
    delivery = await deliver(PagerDutySink(ROUTING_KEY, url=url), session, notification())
    assert not delivery.ok and delivery.outcome == "rejected" and delivery.attempts == 1
    assert "invalid event" in (delivery.error or "")
    assert len(fake.requests) == 1


# --- generic webhook ---------------------------------------------------------------------


async def test_webhook_json_of_the_contract_signed(
    service: tuple[Service, str], session: Any
) -> None:
    fake, url = service
    message = notification()
    receiver = Receiver(WebhookSink(url, secret="s3cret"))
    assert (await deliver(receiver, session, message)).ok
    request = fake.requests[0]
    assert fake.json() == message
    expected = hmac.new(b"s3cret", request["raw"], hashlib.sha256).hexdigest()
    assert request["headers"][SIGNATURE_HEADER] == f"sha256={expected}"

    assert (await deliver(WebhookSink(url), session, message)).ok
    assert SIGNATURE_HEADER not in fake.requests[1]["headers"]


async def test_webhook_sends_the_notification_id_as_idempotency_key(
    service: tuple[Service, str], session: Any
) -> None:
    fake, url = service
    message = notification(notification_id="3f2a9c0e4b1d4e6f8a7b6c5d4e3f2a1b")
    for _ in range(2):  # a re-send after a crash carries the same id
        assert (await deliver(WebhookSink(url), session, message)).ok
    assert [r["headers"][NOTIFICATION_ID_HEADER] for r in fake.requests] == [
        message["notification_id"]
    ] * 2
    assert fake.json()["notification_id"] == message["notification_id"]
    assert (await deliver(WebhookSink(url), session, notification())).ok
    assert NOTIFICATION_ID_HEADER not in fake.requests[-1]["headers"]


async def test_receivers_with_a_token_send_signed_action_links(
    service: tuple[Service, str], session: Any
) -> None:
    fake, url = service
    signed = Receiver(SlackSink(url), links=LinkSigner("tok", 3600))
    assert (await deliver(signed, session, notification())).ok
    context = fake.json()["blocks"][-1]["elements"][0]["text"]
    ack = context.split(" · ")[1]
    assert ack.startswith(f"<{notification()['url']}/acknowledge?sig=")
    assert "&amp;exp=" in ack  # Slack's escaping; it shows the link with a plain &
    exp = int(ack.split("&amp;exp=")[1].split("&amp;")[0].split("|")[0])
    sig = ack.split("sig=")[1].split("&amp;")[0]
    by = unquote(ack.split("&amp;by=")[1].split("|")[0].split(">")[0])
    assert by == "link:slack"  # the receiver the link went to: the feedback's "by"
    assert sig == signature("tok", "inc-7f3a", "acknowledge", exp, by)

    webhook = Receiver(WebhookSink(url), links=LinkSigner("tok", 3600))
    assert (await deliver(webhook, session, notification())).ok
    assert set(fake.json()["actions"]) == {"acknowledge", "resolve"}  # additive field
    assert (await deliver(WebhookSink(url), session, notification())).ok
    assert "actions" not in fake.json()  # no token: plain links, the contract's JSON as is
