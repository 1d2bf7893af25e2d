"""Stage 5: an online River model per tenant scores how likely a person acts on the alert.

Gets the correlated alerts (from the correlation stage, in the tenant chain) and
``learning.examples``, both keyed by tenant, so a tenant's model, its signals and both inputs
share one partition: an alert is scored and decided
(``app.learning.scoring``) and its features go to ``learning.observations`` for the labels
stage to join with feedback; an example is learned (progressive validation first). An alert of
``critical`` severity or of a kind nobody has labelled yet is never suppressed by the model.
"""

from __future__ import annotations

import functools
from typing import Any

from agents.stage import emit, origin
from app import metrics, topics
from app.config import Route, group_labels, load_config, match
from app.faust_app import app, settings
from app.learning.features import Signals, empty_signals
from app.learning.model import Example, Learner
from app.learning.scoring import Thresholds, route_thresholds, score_alert
from app.records import Alert, epoch_ms
from tables.models import models as _models_table
from tables.signals import signals as _signals_table
from tables.write_behind import WriteBehind

signals_table = WriteBehind(_signals_table)
models_table = WriteBehind(_models_table)

_learners: dict[str, Learner] = {}  # warm copies of the models table, per tenant


def thresholds(alert: Alert) -> Thresholds:
    """The thresholds of the alert's route where it sets them, else the global settings.

    >>> thresholds({"tenant": "t", "labels": {}, "severity": "info"}).notify
    0.35
    """
    default = Thresholds(settings.notify_threshold, settings.digest_threshold)
    (route, *_) = match(_routing_tree(), group_labels(alert))
    return route_thresholds(route, default)


@functools.cache
def _routing_tree() -> Route:
    return load_config().route


def _learner(tenant: str) -> Learner:
    if tenant not in _learners:
        _learners[tenant] = Learner.load(models_table.get(tenant), settings.notify_threshold)
    return _learners[tenant]


def signal_keys(tenant: str, alert: Alert) -> tuple[str, str | None]:
    """Rows of the ``signals`` table an alert reads: its fingerprint's and its incident's.

    One small row each rather than one per tenant, so an alert rewrites two short rows.

    >>> signal_keys("t", {"fingerprint": "f1", "incident_id": "i1"})
    ('t|f|f1', 't|i|i1')
    """
    incident = alert["incident_id"]
    return f"{tenant}|f|{alert['fingerprint']}", (f"{tenant}|i|{incident}" if incident else None)


def gather(
    alert: Alert, fingerprint_row: Any, incident_row: Any, offset: int
) -> tuple[Signals, bool]:
    """The signals around ``alert`` from its two rows (``[value, last ms, offset]``), and whether
    the alert is a replay: the fingerprint's row already holds its offset.

    >>> a = {"fingerprint": "f", "incident_id": "i"}
    >>> gather(a, None, None, 7)
    ({'fingerprints': {}, 'incidents': {}, 'offset': 7}, False)
    >>> gather(a, [1.5, 1000, 7], [2, 1000, 7], 7)[1]
    True
    """
    signals = empty_signals()
    if fingerprint_row is not None:
        signals["fingerprints"][alert["fingerprint"]] = fingerprint_row[:2]
    if incident_row is not None and alert["incident_id"]:
        signals["incidents"][alert["incident_id"]] = incident_row[:2]
    replay = fingerprint_row is not None and offset <= fingerprint_row[2]
    return {**signals, "offset": offset}, replay


def scatter(alert: Alert, signals: Signals, offset: int) -> tuple[list[Any], list[Any] | None]:
    """The two rows to write back after ``alert`` was observed (:func:`gather`'s inverse).

    >>> scatter({"fingerprint": "f", "incident_id": None},
    ...         {"fingerprints": {"f": [1.0, 5]}, "incidents": {}, "offset": 3}, 3)
    ([1.0, 5, 3], None)
    """
    incident = signals["incidents"].get(alert["incident_id"] or "")
    return [*signals["fingerprints"][alert["fingerprint"]], offset], (
        None if incident is None else [*incident, offset]
    )


async def _score(tenant: str, alert: Alert, offset: int) -> None:
    fingerprint_key, incident_key = signal_keys(tenant, alert)
    incident_row = signals_table.get(incident_key) if incident_key else None
    state, replay = gather(alert, signals_table.get(fingerprint_key), incident_row, offset)
    state, scored, observation = score_alert(
        state, _learner(tenant), alert, thresholds(alert), replay=replay
    )
    if not replay:
        fingerprint_row, incident_row = scatter(alert, state, offset)
        signals_table[fingerprint_key] = fingerprint_row
        if incident_key and incident_row is not None:
            signals_table[incident_key] = incident_row
    metrics.model_decisions.labels(scored["decision"]).inc()
    if scored["decision"] == "suppress":
        metrics.suppressions_processed.labels("model").inc()
    at = epoch_ms(alert["starts_at"]) / 1000
    await emit(topics.observations, alert["id"], observation, at)
    await emit(topics.scored, alert["incident_id"], scored, at)


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


async def handle(tenant: str, value: Any) -> None:
    """Score a correlated alert, or learn a labelled example."""
    where = origin()
    if where.topic == topics.examples.get_topic_name():
        _learn(tenant, value)
    else:
        await _score(tenant, value, where.position)


@app.on_partitions_assigned.connect
async def _forget_models(*_: Any, **__: Any) -> None:
    """After a rebalance the table is the truth: drop the warm copies."""
    _learners.clear()
