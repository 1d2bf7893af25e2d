"""faust-streaming 0.15 / aiokafka 0.14: a changelog Faust pauses is not fetched between rebalances.

Faust pauses a partition in its own bookkeeping only: its consumer leaves the partition out of
the set it asks aiokafka for, and aiokafka goes on fetching it. After table recovery Faust pauses
the changelogs of the worker's own partitions (the worker writes them; it reads them only to
recover), so aiokafka fetched each such partition once, and the records it fetched waited in its
fetcher for good, never taken:

- aiokafka leaves a partition whose records wait out of its requests, but every changelog
  partition still empty (a table not written yet) stayed in each one: 11 of 62 partitions per
  request here, at 90–150 requests a second under load;
- as fetched records always waited, every request waited ``HELD_WAIT_MS`` on the broker instead
  of the long poll (:mod:`app.kafka_fetch`), so an idle worker asked 20 times a second;
- up to ``consumer_max_fetch_size`` of stale records per partition stayed in memory.

Here, between rebalances, the changelog partitions Faust holds paused are paused in aiokafka
too: all of them when a rebalance ends, and any that Faust pauses later. A paused partition is
not fetched, and what was fetched for it is dropped; a changelog partition Faust resumes is
resumed in aiokafka at once, and read from its position. During a rebalance aiokafka fetches
them as it did (each new assignment starts unpaused there), for Faust's recovery resumes
changelogs then, and a partition resumed while a fetch request is in flight joins only the
next request: on an idle broker a restarted worker had waited out a long poll (1.5 s) per
resume (ready in 4.7 s against 3.3 s). Stream partitions are left to Faust as they were.
aiokafka is called directly: its consumer runs on the worker's loop (:mod:`app.kafka_inline`),
where Faust pauses and resumes. Importing this module applies it, once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiokafka import TopicPartition
from faust import App
from faust.transport.consumer import Consumer
from faust.types import TP

_unpatched_pause = Consumer.pause_partitions
_unpatched_resume = Consumer.resume_partitions
_unpatched_rebalance_end = App.on_rebalance_end


def _pause_changelogs_too(self: Any, tps: Iterable[TP]) -> None:
    """Faust's ``pause_partitions``; outside a rebalance, changelog partitions are paused in
    aiokafka too."""
    tps = set(tps)
    _unpatched_pause(self, tps)
    if not self.app.rebalancing:
        _in_aiokafka(self, tps, pause=True)


def _resume_changelogs_too(self: Any, tps: Iterable[TP]) -> None:
    """Faust's ``resume_partitions``; changelog partitions are resumed in aiokafka too."""
    tps = set(tps)
    _unpatched_resume(self, tps)
    _in_aiokafka(self, tps, pause=False)


def _rebalance_end_and_pause(self: Any) -> None:
    """Faust's ``on_rebalance_end``; then the changelog partitions Faust holds paused are
    paused in aiokafka."""
    _unpatched_rebalance_end(self)
    consumer = self.consumer
    _in_aiokafka(consumer, set(consumer._paused_partitions), pause=True)


def _in_aiokafka(consumer: Any, tps: set[TP], *, pause: bool) -> None:
    """Pause (or resume) in aiokafka the changelog partitions of ``tps`` it has assigned; none
    before the consumer started."""
    client = getattr(getattr(consumer, "_thread", None), "_consumer", None)
    if client is None:
        return
    changelogs = consumer.app.tables.changelog_topics
    assigned = client.assignment()
    chosen = [
        TopicPartition(tp.topic, tp.partition)
        for tp in tps
        if tp.topic in changelogs and tp in assigned
    ]
    if pause:
        client.pause(*chosen)
    else:
        client.resume(*chosen)


if not getattr(_unpatched_pause, "pauses_aiokafka", False):
    _pause_changelogs_too.pauses_aiokafka = True  # type: ignore[attr-defined]
    Consumer.pause_partitions = _pause_changelogs_too  # type: ignore[method-assign]
    Consumer.resume_partitions = _resume_changelogs_too  # type: ignore[method-assign]
    App.on_rebalance_end = _rebalance_end_and_pause  # type: ignore[method-assign]
