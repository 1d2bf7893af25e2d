"""From validated sections to the snapshot's parts: the routing tree with inheritance and
defaults, inhibit rules, escalation policies; every cross-reference checked, every problem noted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from app.config.problems import Problems
from app.config.routes import DEFAULT_ROUTE, Route
from app.config.spec import EscalationSpec, InhibitRuleSpec, RouteSpec
from app.matchers import Matcher
from app.notify.escalation import EscalationPolicy, Level
from app.notify.muting import InhibitRule

# Alertmanager's root defaults (dispatch.DefaultRouteOpts): one group per route, 30s/5m/4h.
ALERTMANAGER_ROOT = replace(
    DEFAULT_ROUTE,
    group_by=(),
    group_wait_ms=30_000,
    group_interval_ms=300_000,
    repeat_interval_ms=4 * 3_600_000,
)


def matchers_of(
    match: Mapping[str, str], match_re: Mapping[str, str], lists: list[tuple[Matcher, ...]]
) -> tuple[Matcher, ...]:
    """Alertmanager's three ways to say it, as one tuple: ``match``, ``match_re``, ``matchers``.

    >>> [str(m) for m in matchers_of({"a": "b"}, {"c": "d|e"}, [()])]
    ['a="b"', 'c=~"d|e"']
    """
    found = [Matcher(name, "=", value) for name, value in match.items()]
    found += [Matcher(name, "=~", value) for name, value in match_re.items()]
    return (*found, *(m for one in lists for m in one))


class TreeBuilder:
    """Builds the routing tree of one ``route:``/``routes:`` section, noting every problem."""

    def __init__(
        self,
        receivers: Mapping[str, tuple[str, ...]],
        escalations: Mapping[str, Any],
        time_intervals: Mapping[str, Any],
        problems: Problems,
        *,
        alertmanager: bool,
    ) -> None:
        self.receivers = receivers
        self.escalations = escalations
        self.time_intervals = time_intervals
        self.problems = problems
        self.alertmanager = alertmanager

    def root(self, spec: RouteSpec | None, path: str) -> Route:
        """The root route; without a section, the default one to every receiver."""
        every = tuple(s for sinks in self.receivers.values() for s in sinks)
        if spec is None:
            return replace(DEFAULT_ROUTE, receivers=every)
        if spec.matchers or spec.match or spec.match_re:
            self.problems.error(f"{path}.matchers", "the root route must not have any matchers")
        for key in ("mute_time_intervals", "active_time_intervals"):
            if getattr(spec, key):
                self.problems.error(f"{path}.{key}", "the root route must not have any")
        if self.alertmanager and spec.receiver is None and spec.receivers is None:
            self.problems.error(f"{path}.receiver", "the root route must specify a receiver")
        base = ALERTMANAGER_ROOT if self.alertmanager else DEFAULT_ROUTE
        return self.route(spec, path, replace(base, receivers=every), root=True)

    def route(self, spec: RouteSpec, path: str, parent: Route, *, root: bool = False) -> Route:
        """One route and its children, each option inherited from ``parent`` when unset."""
        options: dict[str, Any] = {
            "name": spec.name or ("root" if root else path),
            "matchers": matchers_of(spec.match, spec.match_re, spec.matchers),
            "continue_": spec.continue_,
            "mute_time_intervals": self._intervals(spec.mute_time_intervals, path, "mute"),
            "active_time_intervals": self._intervals(spec.active_time_intervals, path, "active"),
            **self._receivers(spec, path, parent),
            **self._timings(spec, path),
            **self._grouping(spec, path, parent),
        }
        route = replace(parent, **options, routes=())
        children = tuple(
            self.route(child, f"{path}.routes[{i}]", route) for i, child in enumerate(spec.routes)
        )
        return replace(route, routes=children)

    def _receivers(self, spec: RouteSpec, path: str, parent: Route) -> dict[str, Any]:
        names = [spec.receiver] if spec.receiver is not None else spec.receivers
        if names is None:
            return {}
        sinks: list[str] = []
        for name in names:
            if name not in self.receivers:
                known = ", ".join(sorted(self.receivers)) or "none"
                self.problems.error(
                    f"{path}.receiver", f"no receiver named {name!r} (known: {known})"
                )
            sinks += self.receivers.get(name, ())
        return {"receiver": ",".join(names), "receivers": tuple(sinks)}

    def _timings(self, spec: RouteSpec, path: str) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for key in ("group_wait", "group_interval", "repeat_interval"):
            value = getattr(spec, key)
            if value is None:
                continue
            if value == 0 and key != "group_wait" and self.alertmanager:
                self.problems.error(f"{path}.{key}", f"{key} cannot be zero")
            found[f"{key}_ms"] = value
        return found

    def _grouping(self, spec: RouteSpec, path: str, parent: Route) -> dict[str, Any]:
        found: dict[str, Any] = {}
        if spec.group_by is not None:
            found["group_by"] = tuple(spec.group_by)
        names = (
            *("group_gap", "max_duration", "min_alerts", "min_distinct_alerts"),
            *("send_resolved_when_muted", "notify_threshold", "digest_threshold"),
        )
        for key in names:
            value = getattr(spec, key)
            if value is not None:
                found[key + ("_ms" if key in ("group_gap", "max_duration") else "")] = value
        if "escalation" in spec.model_fields_set:
            if spec.escalation is not None and spec.escalation not in self.escalations:
                self.problems.error(
                    f"{path}.escalation", f"no escalation policy {spec.escalation!r}"
                )
            found["escalation"] = spec.escalation
        merged = replace(parent, **found)
        if merged.max_duration_ms < merged.group_gap_ms:
            self.problems.error(f"{path}.max_duration", "shorter than group_gap")
        notify, digest = merged.notify_threshold, merged.digest_threshold
        if notify is not None and digest is not None and digest > notify:
            where = "digest_threshold" if spec.digest_threshold is not None else "notify_threshold"
            self.problems.error(
                f"{path}.{where}",
                f"digest_threshold {digest:g} is above notify_threshold {notify:g}",
            )
        return found

    def _intervals(self, names: list[str], path: str, kind: str) -> tuple[str, ...]:
        for i, name in enumerate(names):
            if name not in self.time_intervals:
                self.problems.error(
                    f"{path}.{kind}_time_intervals[{i}]", f"undefined time interval {name!r}"
                )
        return tuple(names)


def inhibit_rules(specs: list[tuple[str, InhibitRuleSpec]]) -> tuple[InhibitRule, ...]:
    """Each rule in either syntax (``source_match``… or ``source_matchers``…).

    >>> (rule,) = inhibit_rules([("r", InhibitRuleSpec.model_validate({
    ...     "source_match": {"severity": "critical"}, "target_matchers": ['severity=~"warn.*"'],
    ...     "equal": ["cluster"]}))])
    >>> [str(m) for m in rule.source], [str(m) for m in rule.target], rule.equal
    (['severity="critical"'], ['severity=~"warn.*"'], ('cluster',))
    """
    return tuple(
        InhibitRule(
            matchers_of(spec.source_match, spec.source_match_re, spec.source_matchers),
            matchers_of(spec.target_match, spec.target_match_re, spec.target_matchers),
            tuple(spec.equal),
        )
        for _, spec in specs
    )


def escalation_policies(
    specs: list[tuple[str, EscalationSpec]],
    receivers: Mapping[str, tuple[str, ...]],
    problems: Problems,
) -> dict[str, EscalationPolicy]:
    """The policies by name; each level's receivers as sink names."""
    policies: dict[str, EscalationPolicy] = {}
    for path, spec in specs:
        if spec.name in policies:
            problems.error(f"{path}.name", f"{spec.name!r} is defined twice")
            continue
        levels = []
        for j, level in enumerate(spec.levels):
            sinks: list[str] = []
            for name in level.receivers:
                if name not in receivers:
                    known = ", ".join(sorted(receivers)) or "none"
                    problems.error(
                        f"{path}.levels[{j}].receivers",
                        f"no receiver named {name!r} (known: {known})",
                    )
                sinks += receivers.get(name, ())
            levels.append(Level(level.after, tuple(sinks)))
        policies[spec.name] = EscalationPolicy(spec.name, tuple(levels))
    return policies
