"""Slack buttons end to end: a bot-token receiver, a click, the thread and the silence.

The session worker is restarted with a Slack receiver that posts with ``chat.postMessage`` to
a local stand-in of Slack's Web API, and with a signing secret; the clicks are
``block_actions`` payloads shaped as Slack's documentation shows them, signed as Slack signs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import yaml

from tests.harness import (
    TopicReader,
    Worker,
    accepted,
    await_view,
    eventually,
    http,
    reading,
    unique,
)

pytestmark = pytest.mark.integration

SECRET = "test-slack-signing-secret"


class FakeSlack:
    """Slack's ``chat.postMessage`` and the ``response_url`` of clicks, on a local port."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.responses: list[dict[str, Any]] = []
        slack = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path == "/api/chat.postMessage":
                    ts = f"{int(time.time())}.{len(slack.posts):06d}"
                    slack.posts.append({"auth": self.headers["Authorization"], **body, "ts": ts})
                    answer = {"ok": True, "channel": body["channel"], "ts": ts, "message": body}
                else:
                    slack.responses.append({"path": self.path, **body})
                    answer = {"ok": True}
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack()
    yield fake
    fake.server.shutdown()


@pytest.fixture(scope="module")
def with_slack(
    worker: Worker, slack: FakeSlack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Worker]:
    """The session worker with a bot-token Slack receiver and the signing secret."""
    path: Path = tmp_path_factory.mktemp("slack") / "alertflow.yaml"
    receiver = {
        "name": "ops-slack",
        "type": "slack",
        "token": "xoxb-test",
        "channel": "C0123ONCALL",
        "web_api_url": f"{slack.url}/api",
    }
    path.write_text(yaml.safe_dump({"receivers": [receiver]}))
    worker.stop()
    worker.env.update({"ALERTFLOW_CONFIG": str(path), "ALERTFLOW_SLACK_SIGNING_SECRET": SECRET})
    worker.start()
    yield worker
    worker.stop()
    del worker.env["ALERTFLOW_CONFIG"], worker.env["ALERTFLOW_SLACK_SIGNING_SECRET"]
    worker.start()


@pytest.fixture(scope="module")
def feedback(bootstrap: str, with_slack: Worker) -> Iterator[TopicReader]:
    yield from reading(bootstrap, "alerts.feedback")


def block_actions(
    message: dict[str, Any], action: str, incident_id: str, slack: FakeSlack
) -> bytes:
    """A click as Slack sends it: ``payload=<JSON>``, form-encoded (Slack's example, ours)."""
    payload = {
        "type": "block_actions",
        "team": {"id": "T9TK3CUKW", "domain": "example"},
        "user": {"id": "UA8RXUSPL", "username": "jtorrance", "team_id": "T9TK3CUKW"},
        "api_app_id": "AABA1ABCD",
        "token": "9s8d9as89d8as9d8as989",
        "container": {
            "type": "message",
            "message_ts": message["ts"],
            "channel_id": message["channel"],
            "is_ephemeral": False,
        },
        "trigger_id": "12321423423.333649436676.d8c1bb837935619ccad0f624c448ffb3",
        "channel": {"id": message["channel"], "name": "oncall"},
        "message": {
            "type": "message",
            "text": message["text"],
            "ts": message["ts"],
            "bot_id": "BAH5CA16Z",
            "blocks": message["blocks"],
        },
        "response_url": f"{slack.url}/actions/AABA1ABCD/1232321423432/D09sSasdasdAS9091209",
        "actions": [
            {
                "action_id": f"alertflow.{action}",
                "block_id": "=qXel",
                "text": {"type": "plain_text", "text": action, "emoji": True},
                "value": incident_id,
                "type": "button",
                "action_ts": "1548426417.840180",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def click(worker: Worker, body: bytes, *, secret: str = SECRET, age: float = 0) -> Any:
    timestamp = str(int(time.time() - age))
    base = b"v0:" + timestamp.encode() + b":" + body
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature,
    }
    return http(
        "POST", f"{worker.url}/webhooks/slack/interactions", raw=body, headers=headers, token=None
    )


def _page(worker: Worker, tenant: str, title: str) -> tuple[str, str]:
    alert = {"title": title, "severity": "critical", "tenant": tenant, "labels": {"team": "db"}}
    (alert_id,) = accepted(worker, "/api/v1/alerts", alert)
    view = await_view(worker, f"/api/v1/alerts/{alert_id}", lambda a: a.get("incident_id"))
    return alert_id, view["incident_id"]


def test_acknowledge_button_feeds_back_updates_the_message_and_replies_in_the_thread(
    with_slack: Worker, slack: FakeSlack, feedback: TopicReader
) -> None:
    tenant = unique("slack")
    alert_id, incident_id = _page(with_slack, tenant, "Primary database down")
    first = eventually(
        lambda: [p for p in slack.posts if incident_id in json.dumps(p["blocks"])],
        what="the page in Slack",
    )[0]
    assert first["auth"] == "Bearer xoxb-test" and first["channel"] == "C0123ONCALL"
    assert "thread_ts" not in first
    (buttons,) = [b for b in first["blocks"] if b["type"] == "actions"]
    assert [e["action_id"] for e in buttons["elements"]] == [
        "alertflow.acknowledge",
        "alertflow.resolve",
        "alertflow.silence_1h",
    ]
    assert {e["value"] for e in buttons["elements"]} == {incident_id}

    body = block_actions(first, "acknowledge", incident_id, slack)
    assert click(with_slack, body, secret="not-the-secret").status == 401
    assert click(with_slack, body, age=400).body["error"] == "stale_request"
    assert click(with_slack, body).status == 200

    (record,) = feedback.wait(lambda k, v: k == alert_id)
    _, value, _ = record
    assert value["kind"] == "ack" and value["by"] == "slack:jtorrance"
    assert value["incident_id"] == incident_id and value["actionable"] is True
    update = eventually(lambda: slack.responses, what="the response_url update")[-1]
    assert update["replace_original"] is True
    assert "Acknowledged by <@UA8RXUSPL>" in update["blocks"][-1]["elements"][0]["text"]
    kept = next(b for b in update["blocks"] if b["type"] == "actions")["elements"]
    assert [e["action_id"] for e in kept] == ["alertflow.resolve", "alertflow.silence_1h"]
    reply = eventually(
        lambda: [p for p in slack.posts if p.get("thread_ts") == first["ts"]],
        what="the acknowledgement in the incident's thread",
    )[0]
    assert "ACKNOWLEDGED" in reply["text"]


def test_silence_button_mutes_the_next_matching_alert(with_slack: Worker, slack: FakeSlack) -> None:
    tenant = unique("slack")
    alert_id, incident_id = _page(with_slack, tenant, "Replica lag high")
    first = eventually(
        lambda: [p for p in slack.posts if incident_id in json.dumps(p["blocks"])],
        what="the page in Slack",
    )[0]
    before = len(slack.responses)
    assert click(with_slack, block_actions(first, "silence_1h", incident_id, slack)).status == 200
    tenant_matcher = {"name": "tenant", "value": tenant, "isRegex": False, "isEqual": True}
    silence = eventually(
        lambda: [
            s
            for s in http("GET", f"{with_slack.url}/api/v1/silences?state=active").body["silences"]
            if tenant_matcher in s["matchers"]
        ],
        what="the silence",
    )[0]
    assert silence["created_by"] == "slack:jtorrance"
    note = eventually(lambda: slack.responses[before:], what="the update")[0]["blocks"][-1]
    assert note["elements"][0]["text"].startswith("🔕 Silenced for 1 h")
    # The same alert resolves, then fires again: a new episode, which the silence mutes.
    alert = {"title": "Replica lag high", "severity": "critical", "tenant": tenant}
    alert["labels"] = {"team": "db"}
    accepted(with_slack, "/api/v1/alerts", {**alert, "status": "resolved"})
    await_view(with_slack, f"/api/v1/alerts/{alert_id}", lambda a: a["status"] == "resolved")
    (again,) = accepted(with_slack, "/api/v1/alerts", alert)
    assert again != alert_id
    muted = await_view(with_slack, f"/api/v1/alerts/{again}")
    assert muted["decision"] == "suppress"
    assert any(r.startswith(f"silenced by {silence['id']}") for r in muted["reasons"])


def test_interactions_need_the_signing_secret_and_a_block_actions_payload(
    with_slack: Worker,
) -> None:
    assert click(with_slack, b"payload=%7B%22type%22%3A%22view_submission%22%7D").status == 400
    assert click(with_slack, b"not a form").body["error"] == "invalid_payload"
    unsigned = http(
        "POST",
        f"{with_slack.url}/webhooks/slack/interactions",
        raw=b"payload=%7B%7D",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        token=None,
    )
    assert unsigned.status == 401
