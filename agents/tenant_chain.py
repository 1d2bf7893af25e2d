"""Stages 3–5 in one loop: fingerprint → correlate → score, all keyed by tenant.

The three stages read and write rows of the tenant only, so a record that one of them emits
for the next sits in the same partition as the record it came from: instead of a topic hop
(a Kafka message, a Faust event, JSON both ways) the next stage handles it at once, in the same
event (:func:`agents.stage.run_stage` with ``chain``). The stages stay modules of their own;
``alerts.fingerprinted`` and ``alerts.correlated`` name the hand-offs. Labelled examples
(``learning.examples``, keyed by tenant) come in on the same stream, for the score stage.
"""

from __future__ import annotations

from typing import Any

import faust

from agents import correlate, fingerprint, score
from agents.stage import run_stage
from app import topics
from app.faust_app import app

_input = app.topic(
    topics.deduped.get_topic_name(),
    topics.examples.get_topic_name(),
    key_type=str,
    value_serializer="orjson",
)


@app.agent(_input, concurrency=1)
async def tenant_chain(stream: faust.StreamT[Any]) -> None:
    """Give every alert its template, its incident and its score; learn from examples."""
    await run_stage(
        "fingerprint",
        stream,
        fingerprint.handle,
        chain={
            topics.fingerprinted.get_topic_name(): ("correlate", correlate.handle),
            topics.correlated.get_topic_name(): ("score", score.handle),
            topics.examples.get_topic_name(): ("score", score.handle),
        },
    )
