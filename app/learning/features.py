"""What the scoring model sees of an alert, and the per-tenant signals it is computed from.

Signals are folded in event time (the alert's ``starts_at``), never the wall clock, so a replay
computes the same features as the live stream did.
"""

from __future__ import annotations

import math
from typing import TypedDict

from app.records import Alert, epoch_ms, parse_time

HOUR_MS = 3_600_000
RATE_HALF_LIFE_MS = HOUR_MS  # the "recent rate" of a fingerprint forgets with this half-life
FINGERPRINT_TTL_MS = 24 * HOUR_MS
INCIDENT_TTL_MS = 6 * HOUR_MS
MAX_FINGERPRINTS = 5000

Features = dict[str, float | str]


class KindStats(TypedDict):
    """What people did with the alerts of one kind (weighted label counts)."""

    actionable: float
    noise: float
    last_ack_ms: int | None


class Signals(TypedDict):
    """Per-tenant counters the features need, kept by the score stage (table ``signals``)."""

    fingerprints: dict[str, list[float]]  # fingerprint → [decayed count, last event ms]
    incidents: dict[str, list[int]]  # incident id → [alerts so far, last event ms]
    offset: int  # last applied position of a correlated alert (replays do not count twice)


def kind_of(alert: Alert) -> str:
    """The kind of an alert: its ``alertname`` label, else its content template.

    >>> kind_of({"labels": {"alertname": "DiskFull"}, "template_id": "t1"})
    'DiskFull'
    >>> kind_of({"labels": {}, "template_id": "t1"})
    't1'
    """
    return alert["labels"].get("alertname") or alert.get("template_id") or alert["title"]


def empty_signals() -> Signals:
    """Signals of a tenant never seen."""
    return {"fingerprints": {}, "incidents": {}, "offset": -1}


def observe(signals: Signals, alert: Alert) -> Signals:
    """The signals after one alert: fingerprint rate and incident size, expired lazily.

    >>> s = observe(empty_signals(), {"fingerprint": "f", "incident_id": "i",
    ...                               "starts_at": "2026-01-01T00:00:00Z"})
    >>> s = observe(s, {"fingerprint": "f", "incident_id": "i",
    ...                 "starts_at": "2026-01-01T01:00:00Z"})
    >>> s["fingerprints"]["f"][0], s["incidents"]["i"][0]
    (1.5, 2)
    """
    now = epoch_ms(alert["starts_at"])
    rate, last = _decayed(signals["fingerprints"].get(alert["fingerprint"]), now)
    fingerprints = {
        fp: seen
        for fp, seen in signals["fingerprints"].items()
        if now - seen[1] <= FINGERPRINT_TTL_MS
    }
    fingerprints[alert["fingerprint"]] = [rate + 1.0, max(now, last)]
    if len(fingerprints) > MAX_FINGERPRINTS:
        newest = sorted(fingerprints.items(), key=lambda item: item[1][1])[-MAX_FINGERPRINTS:]
        fingerprints = dict(newest)
    incidents = {
        iid: size for iid, size in signals["incidents"].items() if now - size[1] <= INCIDENT_TTL_MS
    }
    size = incidents.get(alert["incident_id"] or "", [0, now])
    if alert["incident_id"]:
        incidents[alert["incident_id"]] = [size[0] + 1, max(size[1], now)]
    return {**signals, "fingerprints": fingerprints, "incidents": incidents}


def features(alert: Alert, signals: Signals, kind: KindStats | None) -> Features:
    """The feature dict of an alert, from its fields and the signals around it.

    Categorical values are strings (hashed by the model into one-hot columns); numbers are
    scaled to about [0, 5].

    >>> f = features({"source": "api", "severity": "info", "service": "db", "title": "x",
    ...               "labels": {"alertname": "Lag", "team": "data"}, "template_id": "t1",
    ...               "fingerprint": "f", "incident_id": "i",
    ...               "starts_at": "2026-11-23T03:00:00Z"}, empty_signals(), None)
    >>> f["kind"], f["hour"], f["label:team"], f["ack_ratio"], f["never_acked"]
    ('Lag', '3', 'data', 0.5, 1.0)
    """
    started = parse_time(alert["starts_at"])
    now = epoch_ms(alert["starts_at"])
    rate, _ = _decayed(signals["fingerprints"].get(alert["fingerprint"]), now)
    size = signals["incidents"].get(alert["incident_id"] or "", [0, now])[0]
    kind = kind or {"actionable": 0.0, "noise": 0.0, "last_ack_ms": None}
    found: Features = {
        "source": alert["source"],
        "severity": alert["severity"],
        "service": alert["service"],
        "kind": kind_of(alert),
        "template": alert.get("template_id") or "",
        "hour": str(started.hour),
        "weekday": str(started.weekday()),
        "incident_size": math.log1p(size),
        "recent_rate": math.log1p(rate),
        "ack_ratio": ack_ratio(kind),
        "ack_log_odds": math.log(ack_ratio(kind) / (1 - ack_ratio(kind))),
        "never_acked": 1.0 if kind["last_ack_ms"] is None else 0.0,
    }
    if kind["last_ack_ms"] is not None:
        hours = max(now - kind["last_ack_ms"], 0) / HOUR_MS
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


def _decayed(seen: list[float] | None, now: int) -> tuple[float, float]:
    if seen is None:
        return 0.0, float(now)
    count, last = seen
    return count * 0.5 ** (max(now - last, 0) / RATE_HALF_LIFE_MS), last
