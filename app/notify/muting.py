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

:class:`Muting` is the snapshot one handler call decides with: the silences compiled (once per
change of their table, :mod:`tables.silences`), the inhibition sources indexed as of the call's
start (:class:`Sources`, kept by :mod:`tables.inhibitors`) plus those its own alerts add or
remove, kept apart so that the shared index only follows the changelog.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Container, Iterable, Mapping
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

    def is_target(self, labels: Mapping[str, str]) -> bool:
        """Whether an alert with ``labels`` can be muted under this rule."""
        return all(m.matches(labels) for m in self.target)

    def key(self, labels: Mapping[str, str]) -> tuple[str, ...]:
        """The values of the ``equal`` labels (missing ones empty): a source mutes a target that
        has the same."""
        return tuple(labels.get(name, "") for name in self.equal)


def is_source(rules: Iterable[InhibitRule], labels: Mapping[str, str]) -> bool:
    """Whether an alert with ``labels`` must be remembered as a possible inhibitor."""
    return any(rule.is_source(labels) for rule in rules)


class Sources:
    """The firing inhibition sources, indexed per rule by their ``equal`` labels' values: what
    mutes an alert is found in a few lookups however many sources fire (a storm of critical
    alerts under Alertmanager's usual rule has thousands).

    >>> from app.matchers import parse_matcher
    >>> rule = InhibitRule((parse_matcher("severity=critical"),),
    ...     (parse_matcher("severity=warning"),), equal=("cluster",))
    >>> sources = Sources((rule,), [("s2", {"severity": "critical", "cluster": "eu"})])
    >>> sources.add("s1", {"severity": "critical", "cluster": "eu"})
    >>> sources.inhibitor("a1", {"severity": "warning", "cluster": "eu"})  # the first id
    's1'
    >>> sources.inhibitor("a1", {"severity": "warning", "cluster": "us"}) is None
    True
    >>> sources.remove("s1"); sources.inhibitor("a1", {"severity": "warning", "cluster": "eu"})
    's2'
    """

    def __init__(
        self, rules: tuple[InhibitRule, ...], sources: Iterable[tuple[str, Mapping[str, str]]]
    ) -> None:
        self.rules = rules
        self.labels: dict[str, Mapping[str, str]] = {}
        self._ids: list[dict[tuple[str, ...], list[str]]] = [{} for _ in rules]  # sorted ids
        for source_id, labels in sources:
            self.add(source_id, labels)

    def __contains__(self, source_id: str) -> bool:
        return source_id in self.labels

    def __bool__(self) -> bool:
        return bool(self.labels)

    def add(self, source_id: str, labels: Mapping[str, str]) -> None:
        """Index a source that fires (again: with these labels)."""
        if source_id in self.labels:
            self.remove(source_id)
        self.labels[source_id] = labels
        for rule, ids in zip(self.rules, self._ids, strict=True):
            if rule.is_source(labels):
                insort(ids.setdefault(rule.key(labels), []), source_id)

    def remove(self, source_id: str) -> None:
        """Forget a source that resolved."""
        labels = self.labels.pop(source_id)
        for rule, ids in zip(self.rules, self._ids, strict=True):
            key = rule.key(labels)
            same = ids.get(key, [])
            at = bisect_left(same, source_id)
            if at < len(same) and same[at] == source_id:
                del same[at]
                if not same:
                    del ids[key]

    def inhibitor(
        self, alert_id: str, labels: Mapping[str, str], skip: Container[str] = ()
    ) -> str | None:
        """The first id (in order) of a source that mutes an alert with ``labels`` under some
        rule, never the alert itself nor one in ``skip``; ``None`` when none does."""
        found = None
        for rule, ids in zip(self.rules, self._ids, strict=True):
            same = ids.get(rule.key(labels)) if rule.is_target(labels) else None
            for source_id in same or ():
                if source_id != alert_id and source_id not in skip:
                    if found is None or source_id < found:
                        found = source_id
                    break
        return found


@dataclass(frozen=True)
class CompiledSilence:
    """A silence as muting checks it: times in epoch ms, matchers parsed."""

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
    >>> muting = Muting.of([silence], rules)
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

    silences: tuple[CompiledSilence, ...]
    rules: tuple[InhibitRule, ...]
    sources: Sources  # the firing sources as the call starts: read, never changed here
    _added: Sources = field(init=False)  # sources this call's alerts fired (or fired again)
    _removed: set[str] = field(init=False, default_factory=set)  # ``sources`` to pass over

    def __post_init__(self) -> None:
        self._added = Sources(self.rules, ())

    @property
    def active(self) -> bool:
        """Whether anything can mute an alert at all (else nobody needs to ask)."""
        return bool(self.silences or self.rules)

    @classmethod
    def of(
        cls,
        silences: Iterable[Silence],
        rules: tuple[InhibitRule, ...],
        sources: Sources | None = None,
    ) -> Muting:
        """The snapshot of the given silences, rules and firing inhibition sources (indexed
        for ``rules``)."""
        return cls(compiled(silences), rules, Sources(rules, ()) if sources is None else sources)

    def why(self, alert_id: str, labels: Mapping[str, str], at_ms: int) -> str | None:
        """Why an alert with ``labels`` is muted at event time ``at_ms``, or ``None``."""
        for silence in self.silences:
            if silence.starts_ms <= at_ms < silence.ends_ms and all(
                m.matches(labels) for m in silence.matchers
            ):
                return silence.reason
        if self.sources or self._added:
            found = (
                self._added.inhibitor(alert_id, labels),
                self.sources.inhibitor(alert_id, labels, self._removed),
            )
            source = min((s for s in found if s is not None), default=None)
            if source is not None:
                return f"inhibited by alert {source}"
        return None

    def track(
        self, alert_id: str, labels: Mapping[str, str], status: str, incident_id: str
    ) -> tuple[str, dict[str, Any] | None] | None:
        """The change to the inhibition sources an alert makes, if any: ``(alert id, row)``,
        the row ``None`` when a source resolved."""
        firing = alert_id in self._added or (
            alert_id in self.sources and alert_id not in self._removed
        )
        if status == "firing" and is_source(self.rules, labels):
            if firing:
                return None
            self._forget(alert_id)
            self._added.add(alert_id, labels)
            return alert_id, {"labels": dict(labels), "incident_id": incident_id}
        if status != "firing" and firing:
            self._forget(alert_id)
            return alert_id, None
        return None

    def _forget(self, alert_id: str) -> None:
        """Pass over what was known of ``alert_id`` as a source before this call's change."""
        if alert_id in self._added:
            self._added.remove(alert_id)
        if alert_id in self.sources:
            self._removed.add(alert_id)


def compiled(silences: Iterable[Silence]) -> tuple[CompiledSilence, ...]:
    """``silences`` compiled for muting, in the order muting tries them (start, then id)."""
    found = [
        CompiledSilence(
            epoch_ms(s["starts_at"]),
            epoch_ms(s["ends_at"]),
            tuple(from_api(m) for m in s["matchers"]),
            reason(s),
            (s["starts_at"], s["id"]),
        )
        for s in silences
    ]
    return tuple(sorted(found, key=lambda s: s.order))
