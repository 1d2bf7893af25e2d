"""How much a stage may have fetched and not handled yet: bounded in bytes, not messages.

Faust bounds a stage's buffer by messages (``stream_buffer_maxsize``, 4,096) and stops fetching a
partition once the buffer is 80% full. alertflow's messages differ in size by a thousandfold: the
bridge writes full batches of up to 512 kB, a stage that keeps up writes a few records a message.
So 4,096 messages let the stages lagging behind an ingest flood hold hundreds of megabytes, and
64 messages held the fetching back so often that a backlog drained a quarter slower
(docs/benchmark.md, 2026-12-04). :class:`BytesAhead` stops a stage's partitions by the bytes of
its waiting messages instead; what was fetched already still comes in, and Faust's count stays
the backstop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import faust
from mode.utils.queues import ThrowableQueue

HIGH_BYTES = 4 * 1024 * 1024  # waiting bytes at which a stage stops fetching its partitions
DROP_RATIO = 0.4  # ... and below this share of them it fetches again (Faust's ratio)


def _size(event: Any) -> int:
    value = event.message.value
    return len(value) if value else 0


class BytesAhead(ThrowableQueue):  # type: ignore[type-arg]
    """A stage's buffer of fetched events that is under pressure above ``high_bytes``."""

    def __init__(self, high_bytes: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bytes = 0
        self.high_bytes = high_bytes
        self.drop_bytes = int(high_bytes * DROP_RATIO)

    def _put(self, item: Any) -> None:
        super()._put(item)
        self.bytes += _size(item)

    def _get(self) -> Any:
        item = super()._get()
        self.bytes -= _size(item)
        return item

    def clear(self) -> None:
        super().clear()
        self.bytes = 0

    def in_pressure_high_state(self, callback: Callable[[], None]) -> bool:
        """Whether the partition of ``callback`` must stop fetching (Faust calls it per put)."""
        pending = self._pending_pressure_drop_callbacks
        if callback in pending or self.bytes < self.high_bytes:
            return False
        pending.add(callback)
        return True

    def maybe_endorse_pressure_drop(self) -> None:
        """Let every stopped partition fetch again once the waiting bytes fell below the drop
        mark (Faust calls it before each get)."""
        pending = self._pending_pressure_drop_callbacks
        if pending and self.bytes <= self.drop_bytes:
            for resume in pending:
                resume()
            pending.clear()


class Source(faust.Topic):
    """A topic whose subscribers buffer at most ``HIGH_BYTES`` (plus one fetch) ahead."""

    @property
    def queue(self) -> ThrowableQueue:  # type: ignore[type-arg]
        """The buffer of this subscriber: :class:`BytesAhead`."""
        if self._queue is None:
            self._queue = BytesAhead(
                HIGH_BYTES,
                maxsize=self.maxsize or self.app.conf.stream_buffer_maxsize,
                flow_control=self.app.flow_control,
                clear_on_resume=True,
            )
        return self._queue
