"""Stage 5: an online River model per tenant scores how likely a person acts on the alert.

The score becomes a decision — ``notify``, ``digest`` or ``suppress`` — but an alert of
``critical`` severity, or of a kind the model has never been taught about, is never suppressed
by the model alone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import faust
from river import compose, linear_model, preprocessing

from agents.stage import run_stage
from app import metrics, topics
from app.faust_app import app
from app.records import Alert, Decision, epoch_ms, parse_time
from tables.models import models as models_table

NOTIFY_AT = 0.35
DIGEST_AT = 0.15

_models: dict[str, compose.Pipeline] = {}


def new_model() -> compose.Pipeline:
    """A calibrated linear model over one-hot categorical features."""
    return preprocessing.OneHotEncoder() | linear_model.LogisticRegression()


def features(alert: Alert) -> dict[str, Any]:
    """What the model sees of an alert.

    >>> features({"source": "api", "severity": "info", "service": "db", "labels": {},
    ...           "template_id": "t1", "starts_at": "2026-11-23T03:00:00Z"})["hour"]
    '3'
    """
    started: datetime = parse_time(alert["starts_at"])
    return {
        "source": alert["source"],
        "severity": alert["severity"],
        "service": alert["service"],
        "alertname": alert["labels"].get("alertname") or alert["template_id"] or "",
        "hour": str(started.hour),
        "weekday": str(started.weekday()),
    }


def decide(score: float, alert: Alert, taught: bool) -> tuple[Decision, str]:
    """The decision for a score, and why, in words.

    >>> decide(0.1, {"severity": "critical"}, True)
    ('notify', 'critical severity is never suppressed by the model (score 0.10)')
    >>> decide(0.1, {"severity": "info"}, True)
    ('suppress', 'the model gives 0.10 that someone acts on it, below 0.15')
    """
    if alert["severity"] == "critical" and score < NOTIFY_AT:
        return "notify", f"critical severity is never suppressed by the model (score {score:.2f})"
    if not taught and score < NOTIFY_AT:
        return "notify", f"no feedback on this kind of alert yet (score {score:.2f})"
    if score >= NOTIFY_AT:
        return "notify", f"the model gives {score:.2f} that someone acts on it"
    if score >= DIGEST_AT:
        return "digest", f"the model gives {score:.2f} that someone acts on it, below {NOTIFY_AT}"
    return "suppress", f"the model gives {score:.2f} that someone acts on it, below {DIGEST_AT}"


def _model(tenant: str) -> compose.Pipeline:
    if tenant not in _models:
        _models[tenant] = models_table.get(tenant) or new_model()
    return _models[tenant]


async def _score(tenant: str, alert: Alert) -> None:
    model = _model(tenant)
    score = float(model.predict_proba_one(features(alert)).get(True, 0.5))
    decision, why = decide(score, alert, taught=False)
    if decision == "suppress":
        metrics.suppressions_processed.labels("model").inc()
    scored = {
        **alert,
        "score": round(score, 4),
        "decision": decision,
        "reasons": [*alert["reasons"], why],
    }
    await topics.scored.send(
        key=alert["incident_id"], value=scored, timestamp=epoch_ms(alert["starts_at"]) / 1000
    )


@app.agent(topics.correlated, concurrency=1)
async def score(stream: faust.StreamT[Any]) -> None:
    """Score and decide every alert."""
    await run_stage("score", stream, _score)


@app.on_partitions_assigned.connect
async def _forget_models(*_: Any, **__: Any) -> None:
    """After a rebalance the table is the truth: drop the warm copies."""
    _models.clear()
