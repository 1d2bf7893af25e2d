"""Run requests, approvals, rollbacks and kill-switch changes onto ``actions.events``."""

from __future__ import annotations

from typing import Any

from app import topics
from app.records import utc_now
from app.stages import send


async def submit(receiver: str, notification: dict[str, Any]) -> None:
    """Request the run of ``receiver`` for one notification; returns once Kafka has it."""
    run_id = str(notification["notification_id"])
    await send_event(
        run_id,
        {"kind": "request", "run_id": run_id, "receiver": receiver, "notification": notification},
    )


async def send_event(key: str, event: dict[str, Any]) -> None:
    """Write one record to ``actions.events`` (with ``at``) and wait for the broker's ack."""
    await send(topics.actions_events, key, {**event, "at": utc_now()})
