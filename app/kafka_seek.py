"""aiokafka 0.14: a partition with no committed offset keeps a stale position on a seek to
the committed offsets; here it is reset by the consumer's ``auto_offset_reset`` instead.

Faust seeks every assigned partition to its committed offset once table recovery is done
(``Consumer.perform_seek``), and a stage's messages may have been fetched before that.
aiokafka's ``seek_to_committed`` seeks only where an offset above 0 was committed
(``aiokafka/consumer/consumer.py``: ``if offset and offset > 0``), so a partition that never
had a commit — a new cluster, a topic's first messages, a worker killed before its first
commit — stays where the fetcher had got to, and the messages fetched before the seek and not
handled are skipped: alerts accepted with 202 were lost after a restart. Here such a partition
is reset by the consumer's policy (``earliest`` for alertflow), as on its first assignment: its
messages are read again, and each stage applies a replayed record once. Tables' changelog
partitions are left alone: they are never committed, and Faust's recovery positions them (a
standby replica reads on from there). Importing this module applies it, once.
"""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.consumer.fetcher import OffsetResetStrategy
from aiokafka.errors import IllegalStateError

CHANGELOG_SUFFIX = "-changelog"  # Faust's table changelog topics: <app>-<table>-changelog
_unpatched = AIOKafkaConsumer.seek_to_committed


async def _seek_to_committed_or_reset(self: Any, *partitions: Any) -> Any:
    committed = await _unpatched(self, *partitions)
    uncommitted = [
        tp
        for tp, offset in committed.items()
        if (not offset or offset < 0) and not tp.topic.endswith(CHANGELOG_SUFFIX)
    ]
    # Seeks at once to the offsets the policy names: a partition left waiting for a lazy reset
    # has no position, and Faust's livelock check asserts one (it crashed the worker).
    strategy = self._fetcher._default_reset_strategy
    if uncommitted and strategy == OffsetResetStrategy.EARLIEST:
        offsets = await self.beginning_offsets(uncommitted)
    elif uncommitted and strategy == OffsetResetStrategy.LATEST:
        offsets = await self.end_offsets(uncommitted)
    else:
        offsets = {}
    for tp, offset in offsets.items():
        try:
            self.seek(tp, offset)
        except IllegalStateError:  # revoked meanwhile: its next owner seeks it
            continue
    return committed


if not getattr(_unpatched, "resets_uncommitted", False):
    _seek_to_committed_or_reset.resets_uncommitted = True  # type: ignore[attr-defined]
    AIOKafkaConsumer.seek_to_committed = _seek_to_committed_or_reset
