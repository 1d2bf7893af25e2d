"""faust-streaming 0.15 / aiokafka 0.14: a partition held back while its stage's buffer was
full is read again as soon as the buffer drains, not up to 2.5 s later.

A stage whose buffer is full (:mod:`app.runtime.fetch_ahead`) has Faust leave its partitions out
of the set it asks aiokafka for (``Consumer.on_buffer_full``); the records aiokafka fetched for
them wait in its fetcher meanwhile. Two waits then hold such a partition after the buffer drained:

- The ``getmany`` Faust's consumer is already waiting in (up to 1 s) asked without it, and
  aiokafka wakes it only when a fetch brings new records. Here ``on_buffer_drop`` wakes it, and
  it looks again with the partition back in the set.
- aiokafka keeps one fetch request per broker in flight, and while a partition's fetched records
  wait to be taken, its requests leave that partition out. A request for partitions with nothing
  new waits on the broker for ``fetch_max_wait_ms`` (1,500 ms in Faust), and the held partition
  is fetched again only after it returns. Here a request sent while fetched records wait is
  told to wait ``HELD_WAIT_MS`` at most; with nothing waiting, the long poll stays as it is, so
  an idle worker asks no more often than before.

In a 100,000-alert backlog the worker's main thread sat idle in 3–24% of its 0.1 s intervals
(docs/benchmark.md, 2026-12-06 (day)), every stage waiting for records the broker had.
Importing this module applies both, once.
"""

from __future__ import annotations

import contextlib
from typing import Any

from aiokafka.consumer.fetcher import Fetcher
from faust.transport.consumer import Consumer

HELD_WAIT_MS = 50

_unpatched_drop = Consumer.on_buffer_drop
_unpatched_actions = Fetcher._get_actions_per_node


def _on_buffer_drop_and_wake(self: Any, tp: Any) -> None:
    """Faust's ``on_buffer_drop``; when it puts a held partition back, wake the fetch waiting."""
    held = tp in self._buffered_partitions
    _unpatched_drop(self, tp)
    if held:
        wake_fetch(self)


def wake_fetch(consumer: Any) -> None:
    """Wake the aiokafka fetch Faust's consumer waits on, from its loop's next turn (the
    consumer's loop: :mod:`app.kafka_inline`); nothing to wake before the consumer started or
    after it stopped."""
    thread: Any = getattr(consumer, "_thread", None)
    fetcher = getattr(getattr(thread, "_consumer", None), "_fetcher", None)
    if fetcher is None:
        return
    with contextlib.suppress(RuntimeError):  # the consumer's loop is closed: it is stopping
        thread.thread_loop.call_soon_threadsafe(_wake_waiters, fetcher)


def _wake_waiters(fetcher: Any) -> None:
    for waiter in list(fetcher._fetch_waiters):
        fetcher._notify(waiter)


def _actions_without_long_poll_while_held(self: Any, assignment: Any) -> Any:
    """aiokafka's next requests; while fetched records wait to be taken, each waits on the
    broker ``HELD_WAIT_MS`` at most."""
    long_poll = self._fetch_max_wait_ms
    if self._records:
        self._fetch_max_wait_ms = min(long_poll, HELD_WAIT_MS)
    try:
        return _unpatched_actions(self, assignment)
    finally:
        self._fetch_max_wait_ms = long_poll


if not getattr(_unpatched_drop, "wakes_fetch", False):
    _on_buffer_drop_and_wake.wakes_fetch = True  # type: ignore[attr-defined]
    Consumer.on_buffer_drop = _on_buffer_drop_and_wake  # type: ignore[method-assign]
    Fetcher._get_actions_per_node = _actions_without_long_poll_while_held
