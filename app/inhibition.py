"""Inhibition: while a source alert fires, target alerts with the same ``equal`` labels are muted.

Alertmanager's ``inhibit_rules`` (read by :mod:`app.config`, in either syntax)::

    inhibit_rules:
      - source_matchers: ['severity="critical"']
        target_matchers: ['severity=~"warning|info"']
        equal: [tenant, cluster]

An inhibited alert still flows to ``alerts.enriched`` (decision ``suppress``, with the source
in its reasons). An alert never inhibits itself. The firing sources are kept in
:mod:`tables.inhibitors`, which every worker reads whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from app.matchers import Matcher


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
