"""Slack interactivity: verify a request from Slack, read a button click, say what was done.

Slack signs each request: ``X-Slack-Signature`` is ``v0=`` and the hex HMAC-SHA256, keyed with
the app's signing secret, of ``v0:<X-Slack-Request-Timestamp>:<raw body>``; a request older
than five minutes is refused (a replay). A click on a button of a message is a
``block_actions`` payload, form-encoded as ``payload=<JSON>``.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import orjson

from app.sinks.slack import ACTION_PREFIX

MAX_SKEW_SECONDS = 300
ACTIONS = ("acknowledge", "resolve", "silence_1h")


class SlackRequestError(Exception):
    """A request that is not a valid interaction from Slack: status, code, detail."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """What Slack sends in ``X-Slack-Signature`` for this body and time.

    The example of Slack's "Verifying requests from Slack":

    >>> body = (b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow"
    ...     b"&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner"
    ...     b"&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com"
    ...     b"%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    ...     b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")
    >>> signature("8f742231b10e8888abcd99yyyzzz85a5", "1531420618", body)
    'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503'
    """
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def verify(
    secret: str, timestamp: str | None, offered: str | None, body: bytes, now: float
) -> None:
    """Raise :class:`SlackRequestError` (401) unless Slack signed ``body`` within 5 minutes.

    >>> verify("s", "100", signature("s", "100", b"x"), b"x", now=150)
    >>> verify("s", "100", signature("s", "100", b"x"), b"x", now=401)
    Traceback (most recent call last):
    ...
    app.slack_interactions.SlackRequestError: X-Slack-Request-Timestamp: more than 5 minutes away
    >>> verify("s", "100", "v0=00", b"x", now=100)
    Traceback (most recent call last):
    ...
    app.slack_interactions.SlackRequestError: X-Slack-Signature: does not match the body
    """
    if not timestamp or not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise SlackRequestError(401, "invalid_signature", "X-Slack-Request-Timestamp: missing")
    if abs(now - int(timestamp)) > MAX_SKEW_SECONDS:
        raise SlackRequestError(
            401, "stale_request", "X-Slack-Request-Timestamp: more than 5 minutes away"
        )
    expected = signature(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), (offered or "").encode("utf-8", "replace")):
        detail = "X-Slack-Signature: does not match the body"
        raise SlackRequestError(401, "invalid_signature", detail)


@dataclass(frozen=True)
class Click:
    """One click on one of our buttons."""

    action: str  # acknowledge | resolve | silence_1h
    incident_id: str
    user_id: str
    user_name: str
    response_url: str | None
    message: dict[str, Any]  # the message the button was on (to update it)


def read_click(body: bytes) -> Click:
    """The click in a ``block_actions`` payload; 400 (:class:`SlackRequestError`) otherwise.

    >>> payload = {"type": "block_actions", "user": {"id": "U1", "username": "ann"},
    ...     "response_url": "https://hooks.slack.com/actions/T1/1/x", "message": {"blocks": []},
    ...     "actions": [{"action_id": "alertflow.acknowledge", "value": "i1", "type": "button"}]}
    >>> from urllib.parse import urlencode
    >>> click = read_click(urlencode({"payload": orjson.dumps(payload)}).encode())
    >>> click.action, click.incident_id, click.user_name
    ('acknowledge', 'i1', 'ann')
    """
    try:
        fields = parse_qs(body.decode(), strict_parsing=True)
        payload = orjson.loads(fields["payload"][0])
    except (UnicodeDecodeError, ValueError, KeyError):
        raise SlackRequestError(
            400, "invalid_payload", "expected a form field payload holding Slack's JSON"
        ) from None
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        raise SlackRequestError(400, "unsupported_payload", "only block_actions are handled")
    actions = payload.get("actions")
    ours = [
        a
        for a in (actions if isinstance(actions, list) else [])
        if isinstance(a, dict) and str(a.get("action_id", "")).startswith(ACTION_PREFIX)
    ]
    if not ours:
        raise SlackRequestError(400, "unknown_action", "no alertflow button in actions[]")
    action = str(ours[0]["action_id"]).removeprefix(ACTION_PREFIX)
    incident_id = ours[0].get("value")
    if action not in ACTIONS or not isinstance(incident_id, str) or not incident_id:
        raise SlackRequestError(400, "unknown_action", f"action {action!r} or its value")
    user = _mapping(payload.get("user"))
    message = _mapping(payload.get("message"))
    response_url = payload.get("response_url")
    return Click(
        action=action,
        incident_id=incident_id,
        user_id=str(user.get("id") or ""),
        user_name=str(user.get("username") or user.get("name") or user.get("id") or "someone"),
        response_url=response_url if isinstance(response_url, str) else None,
        message=message,
    )


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def updated(click: Click, note: str) -> dict[str, Any]:
    """The ``response_url`` body that replaces the original message: its blocks, the buttons
    that still make sense, and a line saying who did what.

    >>> message = {"text": "🔴 FIRING", "blocks": [{"type": "header"}, {"type": "actions",
    ...     "elements": [{"action_id": "alertflow.acknowledge"}, {"action_id": "alertflow.resolve"},
    ...                  {"action_id": "alertflow.silence_1h"}]}]}
    >>> click = Click("acknowledge", "i1", "U1", "ann", None, message)
    >>> body = updated(click, "acknowledged by ann")
    >>> body["replace_original"], [b["type"] for b in body["blocks"]]
    (True, ['header', 'actions', 'context'])
    >>> [e["action_id"] for e in body["blocks"][1]["elements"]]
    ['alertflow.resolve', 'alertflow.silence_1h']
    >>> resolved = updated(Click("resolve", "i1", "U1", "ann", None, message), "x")
    >>> [b["type"] for b in resolved["blocks"]]
    ['header', 'context']
    """
    gone = {
        "acknowledge": {"acknowledge"},
        "resolve": set(ACTIONS),
        "silence_1h": {"silence_1h"},
    }[click.action]
    blocks = []
    for block in click.message.get("blocks") or []:
        if isinstance(block, dict) and block.get("type") == "actions":
            kept = [
                e
                for e in block.get("elements") or []
                if str(e.get("action_id", "")).removeprefix(ACTION_PREFIX) not in gone
            ]
            if not kept:
                continue
            block = {**block, "elements": kept}
        blocks.append(block)
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": note}]})
    text = str(click.message.get("text") or note)
    return {"replace_original": True, "text": text, "blocks": blocks}
