"""Muting: silences and inhibition, and what mutes an alert during one handler call.

Silences (:mod:`app.silences`) come from the compacted topic ``silences`` every worker reads
whole. Inhibition is Alertmanager's ``inhibit_rules`` (read by :mod:`app.config`, in either
syntax)::

    inhibit_rules:
      - source_matchers: ['severity="critical"']
        target_matchers: ['severity=~"warning|info"']
        equal: [tenant, cluster]

While a source alert fires, target alerts with the same ``equal`` labels are muted; an alert
never inhibits itself. The firing sources are kept in :mod:`tables.inhibitors`, which every
worker reads whole. A muted alert still flows to ``alerts.enriched`` (decision ``suppress``,
with the silence or the source in its reasons); only the notification is held back.

:class:`Muting` is the snapshot one handler call decides with: silences compiled once (not per
alert), the inhibition sources as of the call's start plus those its own alerts add or remove.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from app.matchers import Matcher, from_api
from app.records import epoch_ms
from app.silences import Silence, reason


@dataclass(frozen=True)
class InhibitRule:
    """Sources that match ``source`` mute targets that match ``target`` and agree on ``equal``."""

    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...] = ()

    def is_source(self, labels: Mapping[str, str]) -> bool:
        """Whether an alert with ``labels`` can inhibit others under this rule."""
        return all(m.matches(labels) for m in self.source)

    def inhibits(self, source: Mapping[str, str], target: Mapping[str, str]) -> bool:
        """Whether a firing ``source`` mutes ``target`` under this rule.

        >>> from app.matchers import parse_matcher
        >>> rule = InhibitRule((parse_matcher("severity=critical"),),
        ...     (parse_matcher("severity=warning"),), equal=("cluster",))
        >>> crit = {"severity": "critical", "cluster": "eu"}
        >>> rule.inhibits(crit, {"severity": "warning", "cluster": "eu"})
        True
        >>> rule.inhibits(crit, {"severity": "warning", "cluster": "us"})
        False
        """
        return (
            self.is_source(source)
            and all(m.matches(target) for m in self.target)
            and all(source.get(name, "") == target.get(name, "") for name in self.equal)
        )


def is_source(rules: Iterable[InhibitRule], labels: Mapping[str, str]) -> bool:
    """Whether an alert with ``labels`` must be remembered as a possible inhibitor."""
    return any(rule.is_source(labels) for rule in rules)


def inhibited_by(
    rules: Iterable[InhibitRule],
    alert_id: str,
    labels: Mapping[str, str],
    sources: Iterable[tuple[str, Mapping[str, str]]],
) -> str | None:
    """The id of a firing source alert that mutes this one, if any (never the alert itself).

    >>> from app.matchers import parse_matcher
    >>> rules = [InhibitRule((parse_matcher("alertname=NodeDown"),),
    ...     (parse_matcher("alertname!=NodeDown"),), equal=("node",))]
    >>> sources = [("s1", {"alertname": "NodeDown", "node": "n1"})]
    >>> inhibited_by(rules, "a1", {"alertname": "DiskFull", "node": "n1"}, sources)
    's1'
    >>> inhibited_by(rules, "s1", sources[0][1], sources) is None
    True
    """
    rules = tuple(rules)
    for source_id, source in sorted(sources, key=lambda s: s[0]):
        if source_id != alert_id and any(rule.inhibits(source, labels) for rule in rules):
            return source_id
    return None


@dataclass(frozen=True)
class _Silence:
    starts_ms: int
    ends_ms: int
    matchers: tuple[Matcher, ...]
    reason: str
    order: tuple[str, str]


@dataclass
class Muting:
    """What mutes alerts during one handler call.

    >>> from app.matchers import parse_matcher
    >>> rules = (InhibitRule((parse_matcher("alertname=NodeDown"),),
    ...     (parse_matcher("alertname!=NodeDown"),), equal=("node",)),)
    >>> silence = {"id": "s1", "matchers": [{"name": "service", "value": "db",
    ...     "isRegex": False, "isEqual": True}], "starts_at": "2026-01-01T00:00:00Z",
    ...     "ends_at": "2026-01-01T01:00:00Z", "created_by": "ann", "comment": ""}
    >>> muting = Muting.of([silence], rules, [])
    >>> at = epoch_ms("2026-01-01T00:30:00Z")
    >>> muting.why("a1", {"service": "db"}, at)
    'silenced by s1 (ann) until 2026-01-01T01:00:00Z'
    >>> muting.track("s1", {"alertname": "NodeDown", "node": "n1"}, "firing", "i1")
    ('s1', {'labels': {'alertname': 'NodeDown', 'node': 'n1'}, 'incident_id': 'i1'})
    >>> muting.why("a2", {"alertname": "Disk", "node": "n1"}, at)
    'inhibited by alert s1'
    >>> muting.track("s1", {"alertname": "NodeDown", "node": "n1"}, "resolved", "i1")
    ('s1', None)
    >>> muting.why("a2", {"alertname": "Disk", "node": "n1"}, at) is None
    True
    """

    silences: tuple[_Silence, ...]
    rules: tuple[InhibitRule, ...]
    sources: dict[str, Mapping[str, str]] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        """Whether anything can mute an alert at all (else nobody needs to ask)."""
        return bool(self.silences or self.rules)

    @classmethod
    def of(
        cls,
        silences: Iterable[Silence],
        rules: tuple[InhibitRule, ...],
        sources: Iterable[tuple[str, Mapping[str, str]]],
    ) -> Muting:
        """The snapshot of the given silences, rules and firing inhibition sources."""
        compiled = [
            _Silence(
                epoch_ms(s["starts_at"]),
                epoch_ms(s["ends_at"]),
                tuple(from_api(m) for m in s["matchers"]),
                reason(s),
                (s["starts_at"], s["id"]),
            )
            for s in silences
        ]
        compiled.sort(key=lambda s: s.order)
        return cls(tuple(compiled), rules, dict(sorted(sources)) if rules else {})

    def why(self, alert_id: str, labels: Mapping[str, str], at_ms: int) -> str | None:
        """Why an alert with ``labels`` is muted at event time ``at_ms``, or ``None``."""
        for silence in self.silences:
            if silence.starts_ms <= at_ms < silence.ends_ms and all(
                m.matches(labels) for m in silence.matchers
            ):
                return silence.reason
        if self.rules and self.sources:
            source = inhibited_by(self.rules, alert_id, labels, self.sources.items())
            if source is not None:
                return f"inhibited by alert {source}"
        return None

    def track(
        self, alert_id: str, labels: Mapping[str, str], status: str, incident_id: str
    ) -> tuple[str, dict[str, Any] | None] | None:
        """The change to the inhibition sources an alert makes, if any: ``(alert id, row)``,
        the row ``None`` when a source resolved."""
        if status == "firing" and is_source(self.rules, labels):
            if alert_id in self.sources:
                return None
            self.sources[alert_id] = labels
            return alert_id, {"labels": dict(labels), "incident_id": incident_id}
        if status != "firing" and alert_id in self.sources:
            del self.sources[alert_id]
            return alert_id, None
        return None
