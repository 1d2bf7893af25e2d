"""Escalation policies: while an incident pages and nobody acknowledges it, widen the circle.

From the ``ALERTFLOW_CONFIG`` YAML; a route names its policy with ``escalation: <name>``::

    escalation_policies:
      - name: db-oncall
        levels:
          - after: 15m          # unacknowledged 15 minutes after the first page
            receivers: [pagerduty-secondary]
          - after: 45m
            receivers: [email-db-leads]

Level 0 is the route's own receivers, paged at once. Time is event time (the alerts' and the
ticks' times), so a replay escalates exactly as live did; an acknowledgement or the incident's
resolution stops the escalation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.routes import RouteError, list_of, mapping_of, parse_duration

_KEYS = {"name", "levels"}


@dataclass(frozen=True)
class Level:
    """Who is told, and how long after the first page."""

    after_ms: int
    receivers: tuple[str, ...]


@dataclass(frozen=True)
class EscalationPolicy:
    """Named levels, in order of ``after``."""

    name: str
    levels: tuple[Level, ...]

    def reached(self, paged_ms: int, now_ms: int) -> int:
        """How many levels are due at ``now_ms`` for an incident first paged at ``paged_ms``.

        >>> p = parse_policies([{"name": "p", "levels": [
        ...     {"after": "15m", "receivers": ["b"]}, {"after": "45m", "receivers": ["c"]}]}])["p"]
        >>> [p.reached(0, m * 60_000) for m in (0, 14, 15, 60)]
        [0, 0, 1, 2]
        """
        return sum(1 for level in self.levels if now_ms >= paged_ms + level.after_ms)

    def next_due(self, paged_ms: int, reached: int) -> int | None:
        """When the next level is due, or ``None`` after the last one.

        >>> p = EscalationPolicy("p", (Level(900_000, ("b",)),))
        >>> p.next_due(1_000, 0), p.next_due(1_000, 1)
        (901000, None)
        """
        if reached >= len(self.levels):
            return None
        return paged_ms + self.levels[reached].after_ms


def parse_policies(spec: Any, path: str = "escalation_policies") -> dict[str, EscalationPolicy]:
    """Validate the ``escalation_policies`` list into policies by name.

    >>> parse_policies([{"name": "p", "levels": [{"after": "5m", "receivers": []}]}])
    Traceback (most recent call last):
    ...
    app.routes.RouteError: escalation_policies[0].levels[0].receivers: expected a non-empty list
    """
    if spec is None:
        return {}
    policies: dict[str, EscalationPolicy] = {}
    for i, item in enumerate(list_of(spec, path)):
        where = f"{path}[{i}]"
        mapping_of(item, where, _KEYS)
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise RouteError(f"{where}.name: expected a non-empty string")
        if name in policies:
            raise RouteError(f"{where}.name: {name!r} is defined twice")
        levels = item.get("levels")
        if not isinstance(levels, list) or not levels:
            raise RouteError(f"{where}.levels: expected a non-empty list")
        parsed = tuple(_level(level, f"{where}.levels[{j}]") for j, level in enumerate(levels))
        if list(parsed) != sorted(parsed, key=lambda level: level.after_ms):
            raise RouteError(f"{where}.levels: expected in order of 'after'")
        policies[name] = EscalationPolicy(name, parsed)
    return policies


def _level(spec: Any, path: str) -> Level:
    if not isinstance(spec, dict) or set(map(str, spec)) - {"after", "receivers"}:
        raise RouteError(f"{path}: expected {{after, receivers}}")
    receivers = spec.get("receivers")
    if not isinstance(receivers, list) or not receivers:
        raise RouteError(f"{path}.receivers: expected a non-empty list")
    if not all(isinstance(r, str) and r for r in receivers):
        raise RouteError(f"{path}.receivers: expected receiver names")
    return Level(parse_duration(spec.get("after"), f"{path}.after"), tuple(receivers))
