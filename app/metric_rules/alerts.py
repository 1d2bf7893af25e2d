"""The alert a rule sends: a RawAlert of the plain API, so the whole chain applies unchanged.

Identity. The alert's labels are the series' labels, the rule's own ``labels``, ``alertname``
(the rule's name) and ``rule_id``; its fingerprint is Alertmanager's label fingerprint of those
labels and the tenant, as for any labelled alert: one series of one rule is one alert, whatever
its value. Its start is the moment the rule fired, so the resolve (same fingerprint, same start)
carries the id of its firing, and the next firing after a resolve is a new episode.

Source. ``api`` — what the rule does is what any client of ``POST /api/v1/alerts`` does; the
``rule_id`` label says it came from a rule (routes, silences and inhibit rules can match it). A
new ``source`` value would change the enum of CONTRACT.md's enriched alert, which consumers of
``alerts.enriched`` switch on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.identity import label_fingerprint
from app.metric_rules.evaluate import Transition
from app.metric_rules.rules import Rule
from app.records import RawAlert, ms_time
from app.sources.common import raw_alert


def alert_labels(rule: Rule, series_labels: Mapping[str, str]) -> dict[str, str]:
    """The labels of the rule's alert for one series.

    >>> from app.metric_rules.rules import parse_rule
    >>> rule = Rule.of(parse_rule({"name": "HighCpu", "metric": "cpu", "condition": ">",
    ...     "threshold": 80, "labels": {"team": "web"}}, now="t", rule_id="r1"))
    >>> alert_labels(rule, {"host": "web-1", "team": "db"})
    {'host': 'web-1', 'team': 'web', 'alertname': 'HighCpu', 'rule_id': 'r1'}
    """
    return {**series_labels, **rule.labels, "alertname": rule.name, "rule_id": rule.id}


def fired(
    rule: Rule, series_labels: Mapping[str, str], transition: Transition, received_at: str
) -> RawAlert:
    """The RawAlert (source ``api``) of a firing.

    >>> from app.metric_rules.rules import parse_rule
    >>> from app.sources import normalize
    >>> rule = Rule.of(parse_rule({"name": "HighCpu", "metric": "cpu", "condition": ">",
    ...     "threshold": 80, "for": "1m", "severity": "critical"}, now="t", rule_id="r1"))
    >>> up = fired(rule, {"host": "a"}, Transition("r1", "fire", 60_000, 60_000, 93.5, "x"), "t")
    >>> down = resolved(up, Transition("r1", "resolve", 90_000, 60_000, 50.0, "it cleared"), "t")
    >>> alert, gone = normalize(up), normalize(down)
    >>> alert["title"], alert["status"], alert["severity"], alert["annotations"]["value"]
    ('HighCpu: cpu > 80 for 1m (host=a)', 'firing', 'critical', '93.5')
    >>> gone["status"], gone["id"] == alert["id"], gone["ends_at"], gone["annotations"]["value"]
    ('resolved', True, '1970-01-01T00:01:30.000Z', '50')
    """
    labels = alert_labels(rule, series_labels)
    where = ", ".join(f"{k}={v}" for k, v in sorted(series_labels.items()))
    title = f"{rule.name}: {rule.summary}" + (f" ({where})" if where else "")
    said = f"{rule.metric} = {transition.value:g}: {rule.summary}"
    payload: dict[str, Any] = {
        "title": title,
        "description": f"{rule.description}\n{said}".strip(),
        "severity": rule.severity,
        "labels": labels,
        "annotations": {
            **rule.annotations,
            "value": f"{transition.value:g}",
            "threshold": f"{rule.threshold:g}",
            "condition": rule.summary,
        },
        "fingerprint": label_fingerprint({**labels, "__tenant__": rule.tenant}),
        "starts_at": ms_time(transition.starts_ms),
        "status": "firing",
    }
    if rule.service:
        payload["service"] = rule.service
    context = {"rule": {"id": rule.id, "name": rule.name}, "reason": transition.reason}
    return raw_alert("api", payload, context, tenant=rule.tenant, received_at=received_at)


def resolved(firing: RawAlert, transition: Transition, received_at: str) -> RawAlert:
    """The resolve of a firing: the same payload (so the same fingerprint, start and id) with
    ``status: resolved``, ``ends_at`` and why — even when the rule changed or went meanwhile."""
    before = firing["payload"]
    payload = {
        **before,
        "status": "resolved",
        "ends_at": ms_time(transition.at_ms),
        "description": f"{before['description']}\nresolved: {transition.reason}".strip(),
        "annotations": {**before["annotations"], "value": f"{transition.value:g}"},
    }
    context = {**firing["context"], "reason": transition.reason}
    return raw_alert("api", payload, context, tenant=firing["tenant"], received_at=received_at)
