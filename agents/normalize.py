"""Stage 1: the source payload from ``alerts.raw`` becomes the canonical alert."""

from __future__ import annotations

from typing import Any

import faust

from agents.stage import decode_json, emit, run_stage
from app import topics
from app.faust_app import app
from app.records import epoch_ms
from app.sources import normalize as normalize_source


async def _normalize(_key: Any, value: bytes) -> None:
    alert = normalize_source(decode_json(value))
    await emit(topics.normalized, alert["fingerprint"], alert, epoch_ms(alert["starts_at"]) / 1000)


@app.agent(topics.raw)
async def normalize(stream: faust.StreamT) -> None:
    """Parse each raw source alert into an :class:`~app.records.Alert`."""
    await run_stage("normalize", stream, _normalize)
