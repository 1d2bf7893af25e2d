"""The bytes of ingest bodies a worker holds at once, bounded.

A body is read whole, then parsed and written; while it waits for a parse process or the broker
the worker holds it, and its RSS grows by about its size (measured: 32 clients posting 7.6 MB
bodies at once took a worker to 1.19 GB, 96 clients to 1.64 GB). So an ingest request is let in
only when its body fits in what is left of the budget (``ALERTFLOW_INGEST_INFLIGHT_MB``), counted
as its ``Content-Length`` says (a body without one as the largest allowed); one request is
always let in. A request that does not fit waits, first come first served, its body left unread
in the socket (aiohttp stops reading a connection whose buffer is full), for at most
``WAIT_SECONDS``, then is answered ``503 overloaded`` with ``Retry-After``: not accepted, and
senders retry a 503 (Alertmanager, Prometheus at its next evaluation).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

log = logging.getLogger(__name__)

WAIT_SECONDS = 5.0  # a request waits this long at most for room
RETRY_AFTER_SECONDS = 1  # what a refused sender is told to wait


class Overloaded(Exception):
    """No room for a body within ``WAIT_SECONDS``: answered 503 ``overloaded``."""

    def __init__(self, size: int, held: int, limit: int) -> None:
        super().__init__(
            f"{held:,} bytes of ingest bodies are being accepted (at most {limit:,}); "
            f"this one ({size:,} bytes) was not accepted, retry in {RETRY_AFTER_SECONDS} s"
        )


class BodyBudget:
    """At most ``limit`` bytes of bodies held at once (one body always fits); those that do
    not fit wait in order of arrival, each at most ``wait`` seconds."""

    def __init__(self, limit: int, wait: float = WAIT_SECONDS) -> None:
        self.limit = limit
        self._wait = wait
        self.held = 0
        self._waiting: deque[tuple[int, asyncio.Future[None]]] = deque()

    @asynccontextmanager
    async def room_for(self, size: int) -> AsyncIterator[None]:
        """Hold ``size`` bytes of the budget while the block runs; :class:`Overloaded` when
        there was no room within the wait.

        >>> budget = BodyBudget(10, wait=0.01)
        >>> async def two_at_once():
        ...     async with budget.room_for(6):
        ...         async with budget.room_for(6):
        ...             pass
        >>> try:
        ...     asyncio.run(two_at_once())
        ... except Overloaded:
        ...     print("refused; bytes held after:", budget.held)
        refused; bytes held after: 0
        """
        if self._waiting or not self._fits(size):
            await self._admitted(size)
        else:
            self.held += size
        try:
            yield
        finally:
            self._release(size)

    def _fits(self, size: int) -> bool:
        return self.held == 0 or self.held + size <= self.limit

    async def _admitted(self, size: int) -> None:
        """Wait for room; ``size`` is held once this returns."""
        entry = (size, asyncio.get_running_loop().create_future())
        self._waiting.append(entry)
        try:
            async with asyncio.timeout(self._wait):  # not wait_for: it can swallow a cancel
                await asyncio.shield(entry[1])
        except TimeoutError:
            if entry[1].done():  # let in as the wait ran out: it holds its room
                return
            refused = Overloaded(size, self.held, self.limit)
            self._give_up(entry)
            log.warning("ingest refused: %s", refused)
            raise refused from None
        except BaseException:  # cancelled: whatever it was given goes back
            if entry[1].done():
                self._release(size)
            else:
                self._give_up(entry)
            raise

    def _release(self, size: int) -> None:
        """Give ``size`` bytes back and let in whoever now fits."""
        self.held -= size
        self._admit_waiting()

    def _give_up(self, entry: tuple[int, asyncio.Future[None]]) -> None:
        self._waiting.remove(entry)
        self._admit_waiting()  # a large body that gave up may have held back smaller ones

    def _admit_waiting(self) -> None:
        """Let in the waiting requests, in order, while the first fits."""
        while self._waiting and self._fits(self._waiting[0][0]):
            size, turn = self._waiting.popleft()
            self.held += size  # held from now, so the next one is counted against it
            turn.set_result(None)
