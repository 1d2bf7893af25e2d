"""aiokafka 0.14 spins when the broker is gone: back off after a failed metadata update.

Its producer's sender loop, while a partition's leader is unknown, forces a metadata update
and waits for it — with no backoff (``aiokafka/producer/sender.py``, "try to update cluster
metadata and wait backoff time"). With the broker gone every update fails at once (connection
refused), so the loop runs as fast as connects fail: a full core and two log lines per turn.
Here a failed update returns only after ``retry_backoff_ms`` (at least ``MIN_BACKOFF_S``), which
bounds every caller of the metadata synchroniser. Importing this module applies it, once.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka.client import AIOKafkaClient

MIN_BACKOFF_S = 0.5

_unpatched = AIOKafkaClient._metadata_update


async def _metadata_update_with_backoff(self: Any, cluster_metadata: Any, topics: Any) -> Any:
    updated = await _unpatched(self, cluster_metadata, topics)
    if not updated:
        await asyncio.sleep(max(self._retry_backoff, MIN_BACKOFF_S))
    return updated


if not getattr(_unpatched, "backs_off", False):
    _metadata_update_with_backoff.backs_off = True  # type: ignore[attr-defined]
    AIOKafkaClient._metadata_update = _metadata_update_with_backoff
