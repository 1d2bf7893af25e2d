"""Threshold rules: their JSON shape (``/api/v1/rules``), validation, and which series they watch.

A rule watches the points of one metric of one tenant whose labels satisfy its matchers::

    {"name": "HighCpu", "metric": "cpu_usage", "matchers": ["host=~\\"web-.*\\""],
     "condition": ">", "threshold": 80, "for": "60s", "cooldown": "5m",
     "severity": "critical", "labels": {"team": "web"}, "annotations": {"runbook": "..."}}

``for`` (default 0: at once) is how long the condition must hold before the rule fires;
``cooldown`` (default 0) how long after its alert resolved the rule stays quiet for that series;
``stale_after`` (default 5m) how long a series may go without points before a pending or firing
state ends (a firing alert resolves, "no data").
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from app.config.durations import duration_ms
from app.metric_rules.matchers import Matcher, MatcherError, parse
from app.metric_rules.points import METRIC_NAME, PointError, labels_of
from app.records import SEVERITIES

CONDITIONS = (">", "<", ">=", "<=", "==", "!=")
DEFAULT_STALE_AFTER_MS = 5 * 60_000
RULE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MAX_TEXT = 1024
_REQUIRED = ("name", "metric", "condition", "threshold")
_OPTIONAL = (
    *("id", "tenant", "matchers", "for", "cooldown", "stale_after", "severity", "service"),
    *("labels", "annotations", "description"),
)
_RESERVED_LABELS = ("alertname", "rule_id")  # set by the rule itself on its alerts


class RuleError(ValueError):
    """A rule body is invalid; the message starts with the field at fault."""


@dataclass(frozen=True)
class Rule:
    """A validated rule, ready to evaluate."""

    id: str
    name: str
    tenant: str
    metric: str
    matchers: tuple[Matcher, ...]
    condition: str
    threshold: float
    for_ms: int
    cooldown_ms: int
    stale_after_ms: int
    severity: str
    service: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    description: str

    def watches(self, point: Mapping[str, Any]) -> bool:
        """Whether a point belongs to a series this rule evaluates.

        >>> rule = Rule.of(parse_rule({"name": "HighCpu", "metric": "cpu", "condition": ">",
        ...     "threshold": 80, "matchers": ["host=~web-.*"]}, now="t", rule_id="r1"))
        >>> rule.watches({"tenant": "default", "name": "cpu", "labels": {"host": "web-1"}})
        True
        >>> rule.watches({"tenant": "default", "name": "cpu", "labels": {"host": "db-1"}})
        False
        """
        return (
            point["tenant"] == self.tenant
            and point["name"] == self.metric
            and all(m.matches(point["labels"]) for m in self.matchers)
        )

    def holds(self, value: float) -> bool:
        """Whether ``value`` meets the condition.

        >>> r = Rule.of(parse_rule({"name": "n", "metric": "m", "condition": "<=",
        ...     "threshold": 1}, now="t", rule_id="r"))
        >>> r.holds(1.0), r.holds(1.5)
        (True, False)
        """
        return _COMPARE[self.condition](value, self.threshold)

    @property
    def summary(self) -> str:
        """The condition in words: ``cpu > 80 for 1m``."""
        held = f" for {format_duration(self.for_ms)}" if self.for_ms else ""
        return f"{self.metric} {self.condition} {self.threshold:g}{held}"

    @classmethod
    def of(cls, stored: Mapping[str, Any]) -> Rule:
        """The rule of a stored (validated) rule object."""
        return cls(
            id=stored["id"],
            name=stored["name"],
            tenant=stored["tenant"],
            metric=stored["metric"],
            matchers=tuple(m for text in stored["matchers"] for m in parse(text, "matchers")),
            condition=stored["condition"],
            threshold=float(stored["threshold"]),
            for_ms=_duration_ms(stored["for"], "for"),
            cooldown_ms=_duration_ms(stored["cooldown"], "cooldown"),
            stale_after_ms=_duration_ms(stored["stale_after"], "stale_after"),
            severity=stored["severity"],
            service=stored["service"],
            labels=stored["labels"],
            annotations=stored["annotations"],
            description=stored["description"],
        )


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


def parse_rule(
    body: Any, *, now: str, rule_id: str | None = None, tenant: str = "default"
) -> dict[str, Any]:
    """Validate a rule body into the object stored on the ``rules`` topic and answered by the API.

    ``rule_id`` (from the URL) wins over the body's ``id``; without either a new id is made.

    >>> r = parse_rule({"name": "HighCpu", "metric": "cpu", "condition": ">", "threshold": 80,
    ...                 "for": "60s", "cooldown": 300}, now="2026-01-01T00:00:00Z", rule_id="r1")
    >>> r["for"], r["cooldown"], r["stale_after"], r["severity"], r["matchers"]
    ('1m', '5m', '5m', 'warning', [])
    >>> parse_rule({"name": "x", "metric": "cpu", "condition": "=>", "threshold": 1}, now="t")
    Traceback (most recent call last):
    ...
    app.metric_rules.rules.RuleError: condition: expected one of > < >= <= == !=, got '=>'
    """
    if not isinstance(body, dict):
        raise RuleError("body: expected a rule object {name, metric, condition, threshold, ...}")
    unknown = sorted(set(body) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise RuleError(f"{unknown[0]}: unknown field")
    for field in _REQUIRED:
        if body.get(field) is None:
            raise RuleError(f"{field}: required")
    name = _text(body["name"], "name", required=True)
    metric = body["metric"]
    if not isinstance(metric, str) or not METRIC_NAME.fullmatch(metric):
        raise RuleError("metric: expected a metric name [a-zA-Z_:][a-zA-Z0-9_:]*")
    condition = body["condition"]
    if condition not in CONDITIONS:
        raise RuleError(f"condition: expected one of {' '.join(CONDITIONS)}, got {condition!r}")
    threshold = body["threshold"]
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise RuleError(f"threshold: expected a number, got {threshold!r}")
    if threshold != threshold or threshold in (float("inf"), float("-inf")):
        raise RuleError("threshold: expected a finite number")
    severity = body.get("severity", "warning")
    if severity not in SEVERITIES:
        raise RuleError(f"severity: expected one of {', '.join(SEVERITIES)}, got {severity!r}")
    identity = rule_id or body.get("id") or uuid.uuid4().hex[:16]
    if not isinstance(identity, str) or not RULE_ID.fullmatch(identity):
        raise RuleError("id: expected 1-64 letters, digits, '.', '_' or '-'")
    labels = _labels(body.get("labels"), "labels")
    for reserved in _RESERVED_LABELS:
        if reserved in labels:
            raise RuleError(f"labels.{reserved}: set by the rule itself (name, id)")
    return {
        "id": identity,
        "name": name,
        "tenant": _text(body.get("tenant", tenant), "tenant", required=True),
        "metric": metric,
        "matchers": _matchers(body.get("matchers", [])),
        "condition": condition,
        "threshold": threshold,
        "for": _duration(body.get("for", 0), "for"),
        "cooldown": _duration(body.get("cooldown", 0), "cooldown"),
        "stale_after": _duration(body.get("stale_after", "5m"), "stale_after", zero=False),
        "severity": severity,
        "service": _text(body.get("service", ""), "service"),
        "labels": labels,
        "annotations": _strings(body.get("annotations"), "annotations"),
        "description": _text(body.get("description", ""), "description"),
        "updated_at": now,
    }


def format_duration(ms: int) -> str:
    """A duration as Prometheus writes it.

    >>> format_duration(0), format_duration(90_000), format_duration(5_400_000)
    ('0s', '1m30s', '1h30m')
    >>> format_duration(1500)
    '1500ms'
    """
    if ms == 0:
        return "0s"
    if ms % 1000:
        return f"{ms}ms"
    parts, rest = [], ms // 1000
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts)


def _duration(value: Any, path: str, *, zero: bool = True) -> str:
    return format_duration(_duration_ms(value, path, zero=zero))


def _duration_ms(value: Any, path: str, *, zero: bool = True) -> int:
    try:
        return duration_ms(value, zero=zero)
    except ValueError as exc:
        raise RuleError(f"{path}: {exc}") from None


def _matchers(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise RuleError('matchers: expected a list such as ["host=~\\"web-.*\\""]')
    try:
        return [str(m) for i, text in enumerate(value) for m in parse(text, f"matchers[{i}]")]
    except MatcherError as exc:
        raise RuleError(str(exc)) from None


def _labels(value: Any, path: str) -> dict[str, str]:
    try:
        return labels_of(value, path)
    except PointError as exc:
        raise RuleError(str(exc)) from None


def _strings(value: Any, path: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise RuleError(f"{path}: expected an object of strings")
    for name, text in value.items():
        if len(text) > MAX_TEXT * 4:
            raise RuleError(f"{path}.{name}: longer than {MAX_TEXT * 4} characters")
    return dict(value)


def _text(value: Any, path: str, *, required: bool = False) -> str:
    if not isinstance(value, str) or (required and not value.strip()):
        raise RuleError(f"{path}: expected a {'non-empty ' if required else ''}string")
    if len(value) > MAX_TEXT:
        raise RuleError(f"{path}: longer than {MAX_TEXT} characters")
    return value
