"""The bridge: validated source alerts onto ``alerts.raw``, acknowledged by the broker."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import orjson

from app import metrics, topics
from app.config import group_labels
from app.current_config import current
from app.heartbeats import pinged_by
from app.records import Alert, RawAlert, epoch_ms
from app.sources import normalize


async def publish(raws: list[RawAlert]) -> list[str]:
    """Write each raw alert, keyed by its fingerprint at its event time; return the alert ids.

    Every alert is normalised first, so input that the pipeline would refuse is refused here,
    before anything is written. Returns only after the broker acknowledged every write
    (``acks=all``); a failure raises, and the caller answers with an error, never 202.
    An alert of a configured heartbeat (``Watchdog``) is its ping, on ``heartbeats``, not an
    alert of the chain: it never pages anyone (:mod:`app.heartbeats`).
    """
    alerts = [normalize(raw) for raw in raws]
    pending = [await _send(raw, alert) for raw, alert in zip(raws, alerts, strict=True)]
    await asyncio.gather(*pending)
    for raw in raws:
        metrics.alerts_received.labels(raw["source"]).inc()
    return [alert["id"] for alert in alerts]


async def _send(raw: RawAlert, alert: Alert) -> Awaitable[Any]:
    """Start the write of one alert: onto ``alerts.raw``, or a heartbeat's ping."""
    heartbeats = current().heartbeats
    page = raw["context"].get("via") == "heartbeat"  # a heartbeat's own page is never a ping
    if heartbeats and not page and (heartbeat := pinged_by(heartbeats, group_labels(alert))):
        # A firing alert pings when it is received; a resolved one says the pings stopped.
        kind = "ping" if alert["status"] == "firing" else "stopped"
        ping = {"kind": kind, "at": alert["received_at"], "alert_id": alert["id"]}
        return await topics.heartbeats.send(key=heartbeat, value=ping)
    return await topics.raw.send(
        key=alert["fingerprint"],
        value=orjson.dumps(raw),
        timestamp=epoch_ms(alert["starts_at"]) / 1000,
    )
