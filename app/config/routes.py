"""The routing tree: which routes an alert takes, and how each groups alerts into incidents.

Alertmanager's model: a root route with nested child routes, each with matchers on the alert's
labels and ``continue``. An alert descends into the first matching child (and, where that child
says ``continue: true``, the next matching siblings too); a route none of whose children match
is where it lands. Children inherit the receiver, grouping and timing options their parent has
and they do not set; ``mute_time_intervals``/``active_time_intervals`` are not inherited.

Matching sees the alert's labels plus ``tenant``, ``source``, ``service`` and ``severity`` (a
label of the same name wins), and ``alertname`` defaults to the content template's id.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from app.matchers import Matcher, matches_all

ALL_LABELS = "..."
DEFAULT_GROUP_BY = ("tenant", "service", "alertname")


@dataclass(frozen=True)
class Route:
    """A node of the routing tree with its (inherited) options."""

    name: str = "root"
    matchers: tuple[Matcher, ...] = ()
    continue_: bool = False
    receiver: str | None = None  # the receiver the file names (Alertmanager's; for reports)
    receivers: tuple[str, ...] = ()  # the sinks that receiver stands for
    group_by: tuple[str, ...] = DEFAULT_GROUP_BY  # () groups every alert of the route together
    group_wait_ms: int = 0
    group_interval_ms: int = 5 * 60_000
    repeat_interval_ms: int | None = None  # None: never repeat an unchanged notification
    group_gap_ms: int = 5 * 60_000
    max_duration_ms: int = 4 * 3_600_000
    min_alerts: int = 1
    min_distinct_alerts: int = 1
    send_resolved_when_muted: bool = True
    escalation: str | None = None
    # Score thresholds (app.learning.scoring); None: the settings' ALERTFLOW_*_THRESHOLD.
    notify_threshold: float | None = None
    digest_threshold: float | None = None
    mute_time_intervals: tuple[str, ...] = ()
    active_time_intervals: tuple[str, ...] = ()
    routes: tuple[Route, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether every matcher of this route holds for ``labels``."""
        return matches_all(self.matchers, labels)


DEFAULT_ROUTE = Route()


def match(route: Route, labels: Mapping[str, str]) -> list[Route]:
    """The routes an alert with ``labels`` lands on, depth first (Alertmanager's ``Match``).

    >>> from app.matchers import parse_matcher as m
    >>> tree = Route(routes=(
    ...     Route("db", (m("team=db"),), continue_=True),
    ...     Route("crit", (m("severity=critical"),)),
    ...     Route("never", (m("team=db"),))))
    >>> [r.name for r in match(tree, {"team": "db", "severity": "critical"})]
    ['db', 'crit']
    >>> [r.name for r in match(tree, {"team": "web"})]
    ['root']
    """
    if not route.matches(labels):
        return []
    found: list[Route] = []
    for child in route.routes:
        landed = match(child, labels)
        found += landed
        if landed and not child.continue_:
            break
    return found or [route]


def group_key(route: Route, labels: Mapping[str, str]) -> str:
    """The correlation key of an alert on ``route``: its values of the route's ``group_by``.

    >>> group_key(Route(group_by=("tenant", "cluster")), {"tenant": "t", "cluster": "eu"})
    'tenant=t,cluster=eu'
    >>> group_key(Route(group_by=("...",)), {"b": "2", "a": "1"}), group_key(Route(group_by=()), {})
    ('a=1,b=2', '')
    """
    names = sorted(labels) if ALL_LABELS in route.group_by else route.group_by
    return ",".join(f"{name}={labels.get(name, '')}" for name in names)


def count(route: Route) -> int:
    """The number of routes in the tree under (and with) ``route``."""
    return 1 + sum(count(child) for child in route.routes)
