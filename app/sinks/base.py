"""The one interface every receiver implements, and delivery with retries."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp


class Sink(Protocol):
    """A receiver of notifications: builds the service's payload and posts it."""

    name: str

    async def send(self, session: aiohttp.ClientSession, notification: dict[str, Any]) -> None:
        """Deliver one notification or raise."""


@dataclass(frozen=True)
class Delivery:
    """How one notification ended after its retries."""

    ok: bool
    attempts: int
    error: str | None = None


async def deliver(
    sink: Sink,
    session: aiohttp.ClientSession,
    notification: dict[str, Any],
    *,
    attempts: int = 4,
    base_delay: float = 0.5,
) -> Delivery:
    """Send with exponential backoff and full jitter; never raise."""
    error = ""
    for attempt in range(1, attempts + 1):
        try:
            await sink.send(session, notification)
            return Delivery(ok=True, attempts=attempt)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        if attempt < attempts:
            await asyncio.sleep(random.uniform(0, base_delay * 2 ** (attempt - 1)))
    return Delivery(ok=False, attempts=attempts, error=error)
