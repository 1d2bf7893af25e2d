"""Generic JSON webhook: the notification of CONTRACT.md, signed when a secret is set."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from app.sinks.base import post_bytes

SIGNATURE_HEADER = "X-Alertflow-Signature"


@dataclass(frozen=True)
class WebhookSink:
    """POSTs the notification as JSON to ``url``."""

    url: str
    secret: str | None = None
    name: str = "webhook"

    async def send(self, session: aiohttp.ClientSession, notification: dict[str, Any]) -> None:
        """Post the notification; any non-2xx answer is an error."""
        body = orjson.dumps(notification)
        headers = {SIGNATURE_HEADER: signature(body, self.secret)} if self.secret else {}
        await post_bytes(session, self.url, body, headers)


def signature(body: bytes, secret: str) -> str:
    """The signature header value: ``sha256=`` and the hex HMAC-SHA256 of the body.

    >>> signature(b'{"a":1}', "s3cret")
    'sha256=5910e62016ef5034272c926c27071992a465c2335cecf41851bda071577f4f6d'
    """
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
