"""The labels stage: feedback joined with the features the model saw → training examples.

Reads ``learning.observations`` and ``alerts.feedback`` (both keyed by alert id) into the
``observations`` table and sends each label, with the features of the alert's first scoring,
to ``learning.examples`` keyed by tenant, where the score stage learns it. The rules are in
``app.learning.labels``. Entries expire lazily, in event time, ``LabelPolicy.keep_ms`` after
they last changed.
"""

from __future__ import annotations

from typing import Any

import faust

from agents.alert_view import validate_feedback
from agents.stage import decode_json, emit, origin, run_stage
from app import topics
from app.faust_app import app, settings
from app.learning.labels import FEEDBACK, OBSERVATIONS, LabelPolicy, expired, join
from app.records import epoch_ms
from tables.observations import observations as _observations_table
from tables.write_behind import WriteBehind

observations_table = WriteBehind(_observations_table)

SWEEP_EVERY = 1000  # events between two sweeps of this partition's expired entries

POLICY = LabelPolicy(
    self_resolve_ms=int(settings.self_resolve_minutes * 60_000),
    self_resolve_weight=settings.self_resolve_weight,
)

_labels_input = app.topic(OBSERVATIONS, FEEDBACK, key_type=str, value_serializer="raw")
_since_sweep: dict[int, int] = {}  # partition → events since its last sweep


async def _label(alert_id: str, value: bytes) -> None:
    where = origin()
    record = decode_json(value) if isinstance(value, bytes) else value  # a batch is decoded
    if where.topic == FEEDBACK:
        validate_feedback(record)
    state, examples = join(
        observations_table.get(alert_id), record, where.topic, where.position, POLICY
    )
    observations_table[alert_id] = state
    for example in examples:
        await emit(topics.examples, example["tenant"], example, example["at_ms"] / 1000)
    if where.topic == OBSERVATIONS:  # the alerts' event time is the clock of expiry
        _sweep(where.partition, epoch_ms(record["ends_at"] or record["starts_at"]))


def _sweep(partition: int, now_ms: int) -> None:
    """Now and then, delete this partition's expired entries (never another partition's)."""
    _since_sweep[partition] = _since_sweep.get(partition, 0) + 1
    if _since_sweep[partition] < SWEEP_EVERY:
        return
    _since_sweep[partition] = 0
    changelog = observations_table.table.changelog_topic.get_topic_name()
    old = [key for key, state in observations_table.items() if expired(state, now_ms, POLICY)]
    for key in old:
        raw = key if isinstance(key, bytes) else str(key).encode()
        if app.producer.key_partition(changelog, raw).partition == partition:
            del observations_table[key]


@app.agent(_labels_input, concurrency=1)
async def labels(stream: faust.StreamT[Any]) -> None:
    """Turn what people did with alerts into labelled examples."""
    await run_stage("labels", stream, _label)
