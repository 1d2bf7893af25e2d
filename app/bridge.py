"""The bridge: validated source alerts onto ``alerts.raw``, acknowledged by the broker."""

from __future__ import annotations

import asyncio

import orjson

from app import metrics, topics
from app.records import RawAlert, epoch_ms
from app.sources import normalize


async def publish(raws: list[RawAlert]) -> list[str]:
    """Write each raw alert, keyed by its fingerprint at its event time; return the alert ids.

    Every alert is normalised first, so input that the pipeline would refuse is refused here,
    before anything is written. Returns only after the broker acknowledged every write
    (``acks=all``); a failure raises, and the caller answers with an error, never 202.
    """
    alerts = [normalize(raw) for raw in raws]
    pending = [
        await topics.raw.send(
            key=alert["fingerprint"],
            value=orjson.dumps(raw),
            timestamp=epoch_ms(alert["starts_at"]) / 1000,
        )
        for raw, alert in zip(raws, alerts, strict=True)
    ]
    await asyncio.gather(*pending)
    for raw in raws:
        metrics.alerts_received.labels(raw["source"]).inc()
    return [alert["id"] for alert in alerts]
