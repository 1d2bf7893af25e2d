"""faust-streaming 0.15: offsets a stream skipped are reported, never passed over in silence.

Faust reads each partition in offset order. When the next message is more than one offset
past the last one read, it takes the offsets between for a gap, such as compaction leaves,
and commits over them (``Consumer._add_gap``). Only the tables' changelogs are compacted here.
On every other topic a stage reads, a skipped offset may be a message no stage handled. A
rebalance skipped some that way (:mod:`app.kafka_resume`), and only a test that counted its
alerts saw it.

Here a gap outside the changelogs is logged as an error, with the topic, partition and
offsets, and counted in ``alertflow_stream_offsets_skipped_total``, which
``deploy/alertflow-rules.yml`` alerts on. Faust still commits over it, as before. Importing
this module applies it, once.
"""

from __future__ import annotations

import logging
from typing import Any

from faust.transport.consumer import Consumer

from app import metrics

log = logging.getLogger(__name__)

_unpatched = Consumer._add_gap


async def _add_gap_reported(self: Any, tp: Any, offset_from: int, offset_to: int) -> None:
    """Faust's ``_add_gap`` (``offset_to`` is the message read now), reported unless ``tp``
    is a table's changelog."""
    if tp.topic not in self.app.tables.changelog_topics:
        skipped = offset_to - offset_from
        log.error(
            "%s[%d]: the stream went from offset %d to %d; the %d between are committed over",
            tp.topic,
            tp.partition,
            offset_from - 1,
            offset_to,
            skipped,
        )
        metrics.stream_offsets_skipped.inc(skipped)
    await _unpatched(self, tp, offset_from, offset_to)


if not getattr(_unpatched, "reports_gaps", False):
    _add_gap_reported.reports_gaps = True  # type: ignore[attr-defined]
    Consumer._add_gap = _add_gap_reported  # type: ignore[method-assign]
