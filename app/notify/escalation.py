"""Escalation policies: while an incident pages and nobody acknowledges it, widen the circle.

From the configuration (:mod:`app.config`); a route names its policy with ``escalation: <name>``::

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

        >>> p = EscalationPolicy("p", (Level(15 * 60_000, ("b",)), Level(45 * 60_000, ("c",))))
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
