"""Generic JSON webhook: the notification of CONTRACT.md, signed when a secret is set.

Each post carries ``X-Alertflow-Notification-Id``: the notification's stable id, the same on a
re-send after a crash, so a receiver can use it as an idempotency key.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from app.sinks.base import post_bytes

SIGNATURE_HEADER = "X-Alertflow-Signature"
NOTIFICATION_ID_HEADER = "X-Alertflow-Notification-Id"


@dataclass(frozen=True)
class WebhookSink:
    """POSTs the notification as JSON to ``url``."""

    url: str
    secret: str | None = None
    name: str = "webhook"

    async def send(self, session: aiohttp.ClientSession, notification: dict[str, Any]) -> None:
        """Post the notification; any non-2xx answer is an error."""
        body = orjson.dumps(notification)
        await post_bytes(session, self.url, body, headers(notification, body, self.secret))


def headers(notification: dict[str, Any], body: bytes, secret: str | None) -> dict[str, str]:
    """The notification id (the idempotency key) and, with a secret, the body's signature.

    >>> headers({"notification_id": "n1"}, b"{}", None)
    {'X-Alertflow-Notification-Id': 'n1'}
    >>> sorted(headers({}, b"{}", "s"))
    ['X-Alertflow-Signature']
    """
    found: dict[str, str] = {}
    if notification.get("notification_id"):
        found[NOTIFICATION_ID_HEADER] = str(notification["notification_id"])
    if secret:
        found[SIGNATURE_HEADER] = signature(body, secret)
    return found


def signature(body: bytes, secret: str) -> str:
    """The signature header value: ``sha256=`` and the hex HMAC-SHA256 of the body.

    >>> signature(b'{"a":1}', "s3cret")
    'sha256=5910e62016ef5034272c926c27071992a465c2335cecf41851bda071577f4f6d'
    """
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
