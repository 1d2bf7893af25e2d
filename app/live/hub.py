"""Fan-out of feed events to subscribers, each with a bounded buffer.

A subscriber keeps at most ``capacity`` events for its client. When the client reads slower
than events come, the events that do not fit are dropped and counted, and the client gets a
:class:`Dropped` marker, ``{"type": "dropped", "count": N}``, exactly where the gap is — so a
slow client costs at most ``capacity`` events of memory, never more.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from app.live.cursor import Position
from app.live.sources import Event

Keep = Callable[[Event], bool]


@dataclass(frozen=True, slots=True)
class Dropped:
    """How many events a subscriber lost here because its client was too slow."""

    count: int


class Closed(Exception):
    """The feed stopped (the worker is shutting down)."""


class Subscriber:
    """One client's view of the feed: its filter, its bounded buffer, its position.

    >>> s = Subscriber(lambda e: e.tenant == "t", capacity=2, position={})
    >>> for offset in range(5):
    ...     s.offer(Event("alert", "t", None, {}, "alerts.enriched", 0, offset))
    >>> s.offer(Event("alert", "other", None, {}, "alerts.enriched", 0, 5))  # filtered out
    >>> [s.take_nowait(), s.take_nowait(), s.take_nowait()]  # doctest: +ELLIPSIS
    [Event(...offset=0), Event(...offset=1), Dropped(count=3)]
    >>> s.buffered, s.dropped_total
    (0, 3)
    """

    def __init__(self, keep: Keep, capacity: int, position: Position) -> None:
        self.keep = keep
        self.capacity = capacity
        self.position = dict(position)  # next offset per partition this client has had
        self.dropped_total = 0
        self._items: deque[Event | Dropped] = deque()
        self._dropped = 0  # dropped since the last marker was queued
        self._wake = asyncio.Event()
        self._closed = False

    @property
    def buffered(self) -> int:
        """Events (and markers) waiting for the client."""
        return len(self._items)

    def offer(self, event: Event) -> None:
        """Queue the event if the client wants it and there is room; else count it dropped."""
        if not self.keep(event):
            return
        if len(self._items) >= self.capacity:
            self._dropped += 1
            self.dropped_total += 1
            return
        if self._dropped:
            self._items.append(Dropped(self._dropped))
            self._dropped = 0
        self._items.append(event)
        self._wake.set()

    def take_nowait(self) -> Event | Dropped | None:
        """The next item, the pending drop count, or ``None`` when there is nothing."""
        if self._items:
            return self._items.popleft()
        if self._dropped:
            marker, self._dropped = Dropped(self._dropped), 0
            return marker
        return None

    async def take(self, timeout: float) -> Event | Dropped | None:
        """The next item, waiting up to ``timeout`` seconds (``None``: nothing came)."""
        item = self.take_nowait()
        if item is not None:
            return item
        if self._closed:
            raise Closed
        self._wake.clear()
        try:
            async with asyncio.timeout(timeout):
                await self._wake.wait()
        except TimeoutError:
            return None
        if self._closed and not self._items:
            raise Closed
        return self.take_nowait()

    def caught_up(self) -> bool:
        """Whether everything offered so far has been taken (nothing waits, nothing lost)."""
        return not self._items and not self._dropped

    def close(self) -> None:
        """Wake the client's sender: the feed is stopping."""
        self._closed = True
        self._wake.set()


class Hub:
    """The subscribers of one worker and the position the feed has reached.

    >>> hub = Hub()
    >>> hub.advance("alerts.enriched", 1, 41, None)
    >>> s = hub.subscribe(lambda e: True, capacity=10)
    >>> s.position
    {('alerts.enriched', 1): 42}
    """

    def __init__(self) -> None:
        self.position: Position = {}  # next offset per partition the feed will read
        self.subscribers: set[Subscriber] = set()
        self._departed_dropped = 0

    def subscribe(self, keep: Keep, capacity: int) -> Subscriber:
        """A new subscriber, positioned where the feed is now."""
        subscriber = Subscriber(keep, capacity, self.position)
        self.subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        """Forget a subscriber whose client went away."""
        if subscriber in self.subscribers:
            self.subscribers.discard(subscriber)
            self._departed_dropped += subscriber.dropped_total

    def advance(self, topic: str, partition: int, offset: int, event: Event | None) -> None:
        """Move past one record and offer its event (``None``: a record that gave none)."""
        self.position[(topic, partition)] = offset + 1
        if event is not None:
            for subscriber in self.subscribers:
                subscriber.offer(event)

    def close(self) -> None:
        """Tell every subscriber the feed stops."""
        for subscriber in self.subscribers:
            subscriber.close()

    @property
    def buffered(self) -> int:
        """Events waiting in every subscriber's buffer."""
        return sum(subscriber.buffered for subscriber in self.subscribers)

    @property
    def dropped_total(self) -> int:
        """Events any subscriber ever dropped (those gone included)."""
        return self._departed_dropped + sum(s.dropped_total for s in self.subscribers)
