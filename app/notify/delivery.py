"""Delivery: each notification sent by a task of its own, its result reported as an event.

The notify agent starts a task per send once the send's log entry is durable
(``Context.after_sent``). The task waits for a slot of its receiver (``max_in_flight`` at a time
per receiver and worker), delivers with the receiver's retries, rate limit and breaker
(:func:`app.sinks.base.deliver`), and writes the result to ``notify.events`` keyed by the
incident, where the stage records it in the log and publishes it; results that finish together
are reported together (:class:`~app.runtime.coalescer.Coalescer`). A slow or failing receiver
holds up only its own sends, never the partition.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import aiohttp

from app.config import Config
from app.records import utc_now
from app.runtime.batches import Message, Place, item, packed
from app.runtime.coalescer import Coalescer
from app.runtime.outbox import Producer, batchable
from app.runtime.partitions import partition_of
from app.runtime.stage import Topic
from app.sinks.base import Delivery, deliver

log = logging.getLogger(__name__)

REPORT_ATTEMPTS = 5
# Results that finish within this many seconds of each other are reported together (a batch
# message per partition: fewer produce requests, fewer and larger calls of the stage).
REPORT_LINGER = 0.02
REPORT_ROUND = 1000  # results at most in one round


def result_event(key: str, message: dict[str, Any], delivery: Delivery) -> dict[str, Any]:
    """The ``notify.events`` record of one delivery's result.

    >>> r = result_event("i1|ops|firing", {"receiver": "ops", "state": "firing",
    ...     "notification_id": "n1"}, Delivery(False, 4, "HTTP 503", "retries_exhausted"))
    >>> r["kind"], r["ok"], r["outcome"], r["attempts"]
    ('delivered', False, 'retries_exhausted', 4)
    """
    return {
        "kind": "delivered",
        "key": key,
        "receiver": message["receiver"],
        "state": message["state"],
        "notification_id": message["notification_id"],
        "ok": delivery.ok,
        "attempts": delivery.attempts,
        "outcome": delivery.outcome,
        "error": delivery.error,
        "reference": delivery.reference,  # the service's id of the message (a Slack thread)
        "at": utc_now(),
    }


class Deliveries:
    """The sends this worker is running, a slot limit per receiver, and how results go back.

    ``lost(key, incident_id)`` is called for a send whose result cannot be reported (the send
    then stays in flight, and is resumed as an orphan).
    """

    def __init__(
        self,
        producer: Producer,
        events: Topic,
        session: Callable[[], aiohttp.ClientSession],
        lost: Callable[[str, str], None],
    ) -> None:
        self.running: set[str] = set()  # log keys this process is delivering right now
        self._events = events
        self._reports: Coalescer[tuple[int, bytes]] = Coalescer(
            producer, self._messages, REPORT_LINGER, REPORT_ROUND
        )
        self._session = session
        self._lost = lost
        self._limits: dict[str, asyncio.Semaphore] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, incident_id: str, key: str, message: dict[str, Any], config: Config) -> None:
        """Deliver ``message`` in a task."""
        if key in self.running:
            return
        self.running.add(key)
        task = asyncio.get_running_loop().create_task(
            self._deliver(incident_id, key, message, config)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def finished(self, keys: list[str]) -> None:
        """The stage recorded these sends' results."""
        self.running.difference_update(keys)

    async def _deliver(
        self, incident_id: str, key: str, message: dict[str, Any], config: Config
    ) -> None:
        receiver = message["receiver"]
        try:
            sink = config.receivers.get(receiver)
            limit = self._limits.setdefault(
                receiver, asyncio.Semaphore(config.options.max_in_flight)
            )
            async with limit:
                if sink is None:
                    delivery = Delivery(False, 0, f"no receiver named {receiver!r}", "rejected")
                else:
                    delivery = await deliver(sink, self._session(), message)
            await self._report(incident_id, result_event(key, message, delivery))
        except Exception:
            log.exception("delivery of %s did not report back; it stays in flight", key)
            self.running.discard(key)
            self._lost(key, incident_id)

    async def _report(self, incident_id: str, event: dict[str, Any]) -> None:
        encoded = batchable(self._events.name, item(incident_id, event))  # alone, not its round
        report = (partition_of(incident_id, self._events.partitions), encoded)
        for attempt in range(1, REPORT_ATTEMPTS + 1):
            try:
                await self._reports.send(report)
                return
            except Exception:
                if attempt == REPORT_ATTEMPTS:
                    raise
                await asyncio.sleep(0.2 * 2**attempt)

    def _messages(self, reports: list[tuple[int, bytes]]) -> dict[Place, list[Message]]:
        """The batch messages of ``notify.events`` that carry a round's (partition, result)."""
        items: dict[int, list[bytes]] = defaultdict(list)
        for partition, encoded in reports:
            items[partition].append(encoded)
        return {(self._events.name, partition): packed(batch) for partition, batch in items.items()}
