"""Generic JSON webhook: the notification of CONTRACT.md, signed when a secret is set."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

SIGNATURE_HEADER = "X-Alertflow-Signature"


@dataclass(frozen=True)
class WebhookSink:
    """POSTs the notification as JSON to ``url``."""

    url: str
    secret: str | None = None
    name: str = "webhook"
    timeout: float = 10.0

    async def send(self, session: aiohttp.ClientSession, notification: dict[str, Any]) -> None:
        """Post the notification; any non-2xx answer is an error."""
        body = orjson.dumps(notification)
        headers = {"Content-Type": "application/json", "User-Agent": "alertflow"}
        if self.secret:
            digest = hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
            headers[SIGNATURE_HEADER] = f"sha256={digest}"
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with session.post(self.url, data=body, headers=headers, timeout=timeout) as answer:
            answer.raise_for_status()
