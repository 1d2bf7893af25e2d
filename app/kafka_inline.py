"""faust-streaming 0.15: Faust's aiokafka consumer runs on the worker's event loop, not in a
thread of its own.

Faust runs its aiokafka consumer as a service in a thread with its own event loop, and the
worker's loop asks it for records through a queue of method calls, each answered by a wake-up of
the other loop. Both threads share the interpreter's lock, which the worker's loop holds most of
the time under load: every step of the consumer thread (its wake-up, a fetch's answer, the
records handed back) waited for its turn, and at 1,000 new alerts/s a record took 33–41 ms from
its write to the worker's loop (docs/benchmark.md, 2026-12-07 (day)). Here the consumer service
runs on the loop that owns it: its calls are plain awaits, and a fetch's records reach the
stages as soon as the loop serves them. aiokafka's heartbeats run on that loop too, so a stage's
call holds them back for as long as it runs (milliseconds; Faust's session timeout is seconds).

Importing this module makes every Faust aiokafka consumer created afterwards run this way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from faust.transport.drivers import aiokafka as faust_aiokafka
from mode.utils.futures import maybe_async


class LoopConsumer(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's consumer "thread", served on the event loop of the consumer that owns it."""

    async def start(self) -> None:
        """Start the service as a task on this loop, where a thread would have run it, and
        wait until it is started; a failure to start is raised here, as from the thread."""
        self._thread_started.set()
        self._thread_running = self.parent_loop.create_future()
        self._serving = asyncio.ensure_future(self._serve())  # runs until the service stops
        try:
            await self._thread_running
        finally:
            self._thread_running = None

    async def call_thread(
        self, fun: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any
    ) -> Any:
        """Call ``fun`` here: the consumer is on this loop already."""
        return await maybe_async(fun(*args, **kwargs))

    async def _gather_remaining_tasks(self) -> None:
        """Nothing: a thread's loop is its own, and its tasks are swept when it stops; this loop
        is the worker's, whose tasks are not the consumer's to cancel."""


def _new_consumer_thread(self: faust_aiokafka.Consumer) -> LoopConsumer:
    return LoopConsumer(self, loop=self.loop, thread_loop=self.loop, beacon=self.beacon)


faust_aiokafka.Consumer._new_consumer_thread = _new_consumer_thread  # type: ignore[method-assign]
