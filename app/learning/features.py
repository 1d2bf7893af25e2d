"""What the scoring model sees of an alert.

Everything comes from the alert as triage gets it — its fields, its labels, its event time
(``starts_at``, never the wall clock, so a replay computes the same features as the live
stream did) and dedup's ``fingerprint_rate`` — and from what people said of its kind, so
scoring reads no per-alert state.
"""

from __future__ import annotations

import math
from typing import TypedDict

from app.records import Alert

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday is 0)

Features = dict[str, float | str]


class KindStats(TypedDict):
    """What people did with the alerts of one kind (weighted label counts)."""

    actionable: float
    noise: float
    last_ack_ms: int | None


def kind_of(alert: Alert) -> str:
    """The kind of an alert: its ``alertname`` label, else its content template.

    >>> kind_of({"labels": {"alertname": "DiskFull"}, "template_id": "t1"})
    'DiskFull'
    >>> kind_of({"labels": {}, "template_id": "t1"})
    't1'
    """
    return alert["labels"].get("alertname") or alert.get("template_id") or alert["title"]


def features(alert: Alert, kind: KindStats | None, at_ms: int) -> Features:
    """The feature dict of an alert at ``at_ms`` (its ``starts_at``, UTC), from its fields and
    what people said of its kind.

    Categorical values are strings (hashed by the model into one-hot columns); numbers are
    scaled to about [0, 5].

    >>> f = features({"source": "api", "severity": "info", "service": "db", "title": "x",
    ...               "labels": {"alertname": "Lag", "team": "data"}, "template_id": "t1",
    ...               "fingerprint": "f", "fingerprint_rate": 1.5,
    ...               "starts_at": "2026-11-23T03:00:00Z"}, None, 1_795_402_800_000)
    >>> f["kind"], f["hour"], f["weekday"], f["label:team"], f["ack_ratio"], f["recent_rate"] > 0
    ('Lag', '3', '0', 'data', 0.5, True)
    """
    rate = float(alert.get("fingerprint_rate") or 0.0)
    kind = kind or {"actionable": 0.0, "noise": 0.0, "last_ack_ms": None}
    found: Features = {
        "source": alert["source"],
        "severity": alert["severity"],
        "service": alert["service"],
        "kind": kind_of(alert),
        "template": alert.get("template_id") or "",
        "hour": str(at_ms // HOUR_MS % 24),
        "weekday": str((at_ms // DAY_MS + EPOCH_WEEKDAY) % 7),
        "recent_rate": math.log1p(rate),
        "ack_ratio": ack_ratio(kind),
        "ack_log_odds": math.log(ack_ratio(kind) / (1 - ack_ratio(kind))),
        "never_acked": 1.0 if kind["last_ack_ms"] is None else 0.0,
    }
    if kind["last_ack_ms"] is not None:
        hours = max(at_ms - kind["last_ack_ms"], 0) / HOUR_MS
        found["hours_since_ack"] = math.log1p(hours) / 2
    for name, value in alert["labels"].items():
        if name != "alertname":
            found[f"label:{name}"] = str(value)
    return found


def ack_ratio(kind: KindStats) -> float:
    """Share of actionable labels, Beta(1, 1)-smoothed so one label never reads as certainty.

    >>> ack_ratio({"actionable": 3.0, "noise": 1.0, "last_ack_ms": None})
    0.6666666666666666
    """
    return (kind["actionable"] + 1.0) / (kind["actionable"] + kind["noise"] + 2.0)
