"""Stage 5: an online River model per tenant scores how likely a person acts on the alert.

Reads ``alerts.correlated`` and ``learning.examples`` (both keyed by tenant, so a tenant's
model, its signals and both streams share one partition): an alert is scored and decided
(``app.learning.scoring``) and its features go to ``learning.observations`` for the labels
stage to join with feedback; an example is learned (progressive validation first). An alert of
``critical`` severity or of a kind nobody has labelled yet is never suppressed by the model.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import faust

from agents.stage import run_stage
from app import metrics, routes, topics
from app.faust_app import app, settings
from app.learning.features import empty_signals
from app.learning.model import Example, Learner
from app.learning.scoring import Thresholds, route_thresholds, score_alert
from app.records import Alert, epoch_ms
from tables.models import models as models_table
from tables.signals import signals as signals_table

_score_input = app.topic(
    topics.correlated.get_topic_name(),
    topics.examples.get_topic_name(),
    key_type=str,
    value_serializer="orjson",
)
_learners: dict[str, Learner] = {}  # warm copies of the models table, per tenant


def thresholds(alert: Alert) -> Thresholds:
    """The thresholds of the alert's route where it sets them, else the global settings.

    >>> thresholds({"tenant": "t", "labels": {}, "severity": "info"}).notify
    0.35
    """
    default = Thresholds(settings.notify_threshold, settings.digest_threshold)
    (route, *_) = routes.match(_routing_tree(), routes.group_labels(alert))
    return route_thresholds(route, default)


@functools.cache
def _routing_tree() -> routes.Route:
    config = os.environ.get("ALERTFLOW_CONFIG")
    return routes.load_routes(Path(config) if config else None)


def _learner(tenant: str) -> Learner:
    if tenant not in _learners:
        _learners[tenant] = Learner.load(models_table.get(tenant), settings.notify_threshold)
    return _learners[tenant]


async def _score(tenant: str, alert: Alert, offset: int) -> None:
    state = signals_table.get(tenant) or empty_signals()
    replay = offset <= state["offset"]
    state, scored, observation = score_alert(
        state, _learner(tenant), alert, thresholds(alert), replay=replay
    )
    signals_table[tenant] = {**state, "offset": max(offset, state["offset"])}
    metrics.model_decisions.labels(scored["decision"]).inc()
    if scored["decision"] == "suppress":
        metrics.suppressions_processed.labels("model").inc()
    at = epoch_ms(alert["starts_at"]) / 1000
    await topics.observations.send(key=alert["id"], value=observation, timestamp=at)
    await topics.scored.send(key=alert["incident_id"], value=scored, timestamp=at)


def _learn(tenant: str, example: Example) -> None:
    learner = _learner(tenant)
    try:
        learned = learner.learn(example)
    except Exception:
        del _learners[tenant]  # half-learned: the table still holds the last good state
        raise
    if learned:
        models_table[tenant] = learner.dump()
        metrics.export_model(tenant, learner.report())


async def _handle(tenant: str, value: Any) -> None:
    message = faust.current_event().message
    if message.topic == topics.examples.get_topic_name():
        _learn(tenant, value)
    else:
        await _score(tenant, value, message.offset)


@app.agent(_score_input, concurrency=1)
async def score(stream: faust.StreamT[Any]) -> None:
    """Score and decide every alert; learn from every labelled example."""
    await run_stage("score", stream, _handle)


@app.on_partitions_assigned.connect
async def _forget_models(*_: Any, **__: Any) -> None:
    """After a rebalance the table is the truth: drop the warm copies."""
    _learners.clear()
