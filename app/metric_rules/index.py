"""The rules by (tenant, metric), rebuilt from the stored rules when they change.

A point is checked only against the rules of its tenant and metric; a rule is compiled once per
version (its ``updated_at``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from app.metric_rules.rules import Rule


class RuleIndex:
    """Compiled rules grouped by (tenant, metric).

    >>> from app.metric_rules.rules import parse_rule
    >>> index = RuleIndex()
    >>> index.refresh([parse_rule({"name": "n", "metric": "cpu", "condition": ">",
    ...     "threshold": 1, "matchers": ["host=a"]}, now="t1", rule_id="r1")])
    >>> list(index.watching({"tenant": "default", "name": "cpu", "labels": {"host": "a"}}))
    ['r1']
    >>> index.watching({"tenant": "default", "name": "cpu", "labels": {"host": "b"}})
    {}
    """

    def __init__(self) -> None:
        self._compiled: dict[str, tuple[str, Rule]] = {}  # id → (version, rule)
        self._by_metric: dict[tuple[str, str], list[Rule]] = {}

    def refresh(self, stored: Iterable[Mapping[str, Any] | None]) -> None:
        """Take the current set of stored rules (tombstones read as ``None`` are skipped)."""
        compiled: dict[str, tuple[str, Rule]] = {}
        for item in stored:
            if not item:
                continue
            known = self._compiled.get(item["id"])
            if known is not None and known[0] == item["updated_at"]:
                compiled[item["id"]] = known
            else:
                compiled[item["id"]] = (item["updated_at"], Rule.of(item))
        self._compiled = compiled
        by_metric: dict[tuple[str, str], list[Rule]] = {}
        for _, rule in compiled.values():
            by_metric.setdefault((rule.tenant, rule.metric), []).append(rule)
        self._by_metric = by_metric

    def watching(self, series: Mapping[str, Any]) -> dict[str, Rule]:
        """Rule id → rule, of the rules that watch the series of a point (or a stored row)."""
        candidates = self._by_metric.get((series["tenant"], series["name"]), [])
        return {rule.id: rule for rule in candidates if rule.watches(series)}

    def get(self, rule_id: str) -> Rule | None:
        """One compiled rule by id."""
        found = self._compiled.get(rule_id)
        return None if found is None else found[1]
