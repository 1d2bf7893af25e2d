"""The routing tree: which route an alert takes, and how that route groups alerts into incidents.

Alertmanager's model: a root route with nested child routes, each with ``matchers`` on the
alert's labels (``=``, ``!=``, ``=~``, ``!~``; regular expressions anchored) and ``continue``.
An alert descends into the first matching child (and, where that child says ``continue: true``,
the next matching siblings too); a route none of whose children match is where it lands.
Children inherit every option their parent sets and they do not.

Matching sees the alert's labels plus ``tenant``, ``source``, ``service`` and ``severity`` (a
label of the same name wins), and ``alertname`` defaults to the content template's id.

Loaded from the ``routes:`` key of the YAML file named by ``ALERTFLOW_CONFIG``::

    routes:
      group_by: [tenant, service, alertname]   # "..." groups by every label
      group_gap: 5m          # an incident absorbs alerts while they come at most this far apart
      max_duration: 4h       # and for at most this long after it opened
      min_alerts: 1          # firing alerts an incident needs before it opens
      min_distinct_alerts: 1 # distinct firing fingerprints it needs before it opens
      notify_threshold: 0.35 # score from which an alert pages (unset: ALERTFLOW_NOTIFY_THRESHOLD)
      digest_threshold: 0.15 # score from which it digests, ≤ notify_threshold (unset: the setting)
      routes:
        - matchers: ['severity="critical"', 'team=~"db|storage"']
          group_by: [tenant, cluster]
          continue: true

:class:`Route` is a frozen dataclass tree: new per-route options are new fields with defaults,
read by :func:`parse_route` and inherited in :func:`_options`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from app.settings import SettingsError

ALL_LABELS = "..."
DEFAULT_GROUP_BY = ("tenant", "service", "alertname")
_MATCHER = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_KNOWN_KEYS = {
    "name",
    "matchers",
    "continue",
    "group_by",
    "group_gap",
    "max_duration",
    "min_alerts",
    "min_distinct_alerts",
    "routes",
    *("receiver", "receivers", "group_wait", "group_interval", "repeat_interval"),
    *("send_resolved_when_muted", "escalation"),  # notification options (agents.notify)
    *("notify_threshold", "digest_threshold"),  # score thresholds (app.learning.scoring)
}


class RouteError(SettingsError):
    """The routing configuration is invalid; the message names the path at fault."""


@dataclass(frozen=True)
class Matcher:
    """One condition on a label: ``name`` ``op`` ``value``; a missing label is the empty string.

    >>> Matcher("team", "=~", "db|storage").matches({"team": "db"})
    True
    >>> Matcher("env", "!=", "prod").matches({})
    True
    """

    name: str
    op: str
    value: str

    @cached_property
    def _pattern(self) -> re.Pattern[str]:
        return re.compile(self.value)

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy this condition."""
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        found = self._pattern.fullmatch(actual) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        return f'{self.name}{self.op}"{self.value}"'


@dataclass(frozen=True)
class Route:
    """A node of the routing tree with its (inherited) grouping options."""

    name: str = "root"
    matchers: tuple[Matcher, ...] = ()
    continue_: bool = False
    group_by: tuple[str, ...] = DEFAULT_GROUP_BY
    group_gap_ms: int = 5 * 60_000
    max_duration_ms: int = 4 * 3_600_000
    min_alerts: int = 1
    min_distinct_alerts: int = 1
    # Notification options (agents.notify); no receivers means every configured receiver.
    receivers: tuple[str, ...] = ()
    group_wait_ms: int = 0
    group_interval_ms: int = 5 * 60_000
    repeat_interval_ms: int | None = None  # None: never repeat an unchanged notification
    send_resolved_when_muted: bool = True
    escalation: str | None = None
    # Score thresholds (app.learning.scoring); None: the settings' ALERTFLOW_*_THRESHOLD.
    notify_threshold: float | None = None
    digest_threshold: float | None = None
    routes: tuple[Route, ...] = field(default=())

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether every matcher of this route holds for ``labels``."""
        return all(matcher.matches(labels) for matcher in self.matchers)


DEFAULT_ROUTE = Route()


def match(route: Route, labels: Mapping[str, str]) -> list[Route]:
    """The routes an alert with ``labels`` lands on, depth first (Alertmanager's ``Match``).

    >>> tree = parse_route({"routes": [
    ...     {"name": "db", "matchers": ["team=db"], "continue": True},
    ...     {"name": "crit", "matchers": ["severity=critical"]},
    ...     {"name": "never", "matchers": ["team=db"]}]})
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


def group_labels(alert: Mapping[str, Any]) -> dict[str, str]:
    """What matchers and ``group_by`` see of an alert: its labels over its main fields.

    >>> group_labels({"tenant": "t", "source": "api", "service": "db", "severity": "info",
    ...               "labels": {"team": "x"}, "template_id": "abc"})["alertname"]
    'abc'
    """
    fields = {name: str(alert.get(name) or "") for name in ("tenant", "source", "service")}
    fields["severity"] = str(alert.get("severity") or "")
    fields["alertname"] = str(alert.get("template_id") or alert.get("title") or "")
    return {**fields, **alert.get("labels", {})}


def group_key(route: Route, labels: Mapping[str, str]) -> str:
    """The correlation key of an alert on ``route``: its values of the route's ``group_by``.

    >>> group_key(Route(group_by=("tenant", "cluster")), {"tenant": "t", "cluster": "eu"})
    'tenant=t,cluster=eu'
    """
    names = sorted(labels) if ALL_LABELS in route.group_by else route.group_by
    return ",".join(f"{name}={labels.get(name, '')}" for name in names)


def load_routes(path: Path | None) -> Route:
    """The tree under ``routes:`` of the YAML file at ``path``; the default route without one."""
    if path is None:
        return DEFAULT_ROUTE
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise RouteError(f"ALERTFLOW_CONFIG: cannot read routes from {path}: {exc}") from exc
    if not isinstance(document, dict) or document.get("routes") is None:
        return DEFAULT_ROUTE
    return parse_route(document["routes"])


def parse_route(spec: Any, path: str = "routes", parent: Route = DEFAULT_ROUTE) -> Route:
    """Validate one route mapping (and its children) into a :class:`Route`.

    >>> parse_route({"group_gap": "90s", "min_alerts": 3}).group_gap_ms
    90000
    >>> parse_route({"routes": [{"matchers": ["sev=~("]}]})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    app.routes.RouteError: routes.routes[0].matchers[0]: invalid regular expression '(': ...
    """
    mapping_of(spec, path, _KNOWN_KEYS)
    is_root = path == "routes"
    matchers = list_of(spec.get("matchers", []), f"{path}.matchers")
    if is_root and matchers:
        raise RouteError(f"{path}.matchers: the root route matches every alert")
    route = Route(
        name=str(spec.get("name") or ("root" if is_root else path)),
        matchers=tuple(parse_matcher(m, f"{path}.matchers[{i}]") for i, m in enumerate(matchers)),
        continue_=_flag(spec.get("continue", False), f"{path}.continue"),
        **_options(spec, path, parent),
    )
    children = list_of(spec.get("routes", []), f"{path}.routes")
    return Route(
        **{
            **route.__dict__,
            "routes": tuple(
                parse_route(child, f"{path}.routes[{i}]", route) for i, child in enumerate(children)
            ),
        }
    )


def parse_matcher(text: Any, path: str) -> Matcher:
    """``name=value``, ``name!=value``, ``name=~regex`` or ``name!~regex``; values may be quoted.

    >>> parse_matcher('team=~"db|storage"', "m")
    Matcher(name='team', op='=~', value='db|storage')
    """
    found = _MATCHER.fullmatch(text) if isinstance(text, str) else None
    if found is None:
        raise RouteError(f"{path}: expected name=value, name!=value, name=~re or name!~re")
    name, op, value = found.groups()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    if op in ("=~", "!~"):
        try:
            re.compile(value)
        except re.error as exc:
            raise RouteError(f"{path}: invalid regular expression {value!r}: {exc}") from None
    return Matcher(name, op, value)


def parse_duration(value: Any, path: str) -> int:
    """Milliseconds of ``30s``, ``5m``, ``1h30m``, ``2d`` or a number of seconds.

    >>> parse_duration("1h30m", "d"), parse_duration(90, "d")
    (5400000, 90000)
    """
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return int(value * 1000)
    if isinstance(value, str) and value and _DURATION.sub("", value) == "":
        total = sum(float(n) * _UNIT_MS[unit] for n, unit in _DURATION.findall(value))
        if total > 0:
            return int(total)
    raise RouteError(f"{path}: expected a positive duration such as 30s, 5m or 4h, got {value!r}")


def _options(spec: dict[str, Any], path: str, parent: Route) -> dict[str, Any]:
    """The grouping options of ``spec``, each one inherited from ``parent`` when unset."""
    options: dict[str, Any] = {
        "group_by": parent.group_by,
        "group_gap_ms": parent.group_gap_ms,
        "max_duration_ms": parent.max_duration_ms,
        "min_alerts": parent.min_alerts,
        "min_distinct_alerts": parent.min_distinct_alerts,
    }
    if "group_by" in spec:
        names = list_of(spec["group_by"], f"{path}.group_by")
        if not names or not all(isinstance(n, str) and n for n in names):
            raise RouteError(f"{path}.group_by: expected a non-empty list of label names")
        options["group_by"] = tuple(names)
    for key in ("group_gap", "max_duration"):
        if key in spec:
            options[f"{key}_ms"] = parse_duration(spec[key], f"{path}.{key}")
    for key in ("min_alerts", "min_distinct_alerts"):
        if key in spec:
            value = spec[key]
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise RouteError(f"{path}.{key}: expected a whole number ≥ 1, got {value!r}")
            options[key] = value
    if options["max_duration_ms"] < options["group_gap_ms"]:
        raise RouteError(f"{path}.max_duration: shorter than group_gap")
    return {**options, **_notify_options(spec, path, parent), **_thresholds(spec, path, parent)}


def list_of(value: Any, path: str) -> list[Any]:
    """``value`` when it is a list, else a :class:`RouteError` naming ``path``."""
    if not isinstance(value, list):
        raise RouteError(f"{path}: expected a list")
    return value


def mapping_of(value: Any, path: str, known: Iterable[str]) -> dict[Any, Any]:
    """``value`` when it is a mapping of only ``known`` keys, else a :class:`RouteError`.

    >>> mapping_of({"a": 1, "z": 2}, "x", {"a"})
    Traceback (most recent call last):
    ...
    app.routes.RouteError: x: unknown key 'z'
    """
    if not isinstance(value, dict):
        raise RouteError(f"{path}: expected a mapping")
    unknown = sorted(set(map(str, value)) - set(known))
    if unknown:
        raise RouteError(f"{path}: unknown key {unknown[0]!r}")
    return value


def _flag(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise RouteError(f"{path}: expected true or false")
    return value


def _notify_options(spec: dict[str, Any], path: str, parent: Route) -> dict[str, Any]:
    """The notification options of ``spec``, each one inherited from ``parent`` when unset.

    >>> o = _notify_options({"receiver": "ops", "group_wait": 0, "repeat_interval": "4h"},
    ...                     "routes", DEFAULT_ROUTE)
    >>> o["receivers"], o["group_wait_ms"], o["repeat_interval_ms"]
    (('ops',), 0, 14400000)
    """
    options: dict[str, Any] = {
        name: getattr(parent, name)
        for name in (
            "receivers",
            "group_wait_ms",
            "group_interval_ms",
            "repeat_interval_ms",
            "send_resolved_when_muted",
            "escalation",
        )
    }
    if "receiver" in spec and "receivers" in spec:
        raise RouteError(f"{path}: give either receiver or receivers")
    if "receiver" in spec:
        spec = {**spec, "receivers": [spec["receiver"]]}
    if "receivers" in spec:
        names = list_of(spec["receivers"], f"{path}.receivers")
        if not all(isinstance(n, str) and n for n in names):
            raise RouteError(f"{path}.receivers: expected receiver names")
        options["receivers"] = tuple(names)
    for key in ("group_wait", "group_interval", "repeat_interval"):
        if key in spec:
            zero = spec[key] in (0, "0", "0s")
            options[f"{key}_ms"] = 0 if zero else parse_duration(spec[key], f"{path}.{key}")
    if "send_resolved_when_muted" in spec:
        flag = spec["send_resolved_when_muted"]
        options["send_resolved_when_muted"] = _flag(flag, f"{path}.send_resolved_when_muted")
    if "escalation" in spec:
        name = spec["escalation"]
        if name is not None and (not isinstance(name, str) or not name):
            raise RouteError(f"{path}.escalation: expected the name of an escalation policy")
        options["escalation"] = name
    return options


def _thresholds(spec: dict[str, Any], path: str, parent: Route) -> dict[str, float | None]:
    """``notify_threshold`` and ``digest_threshold`` (0..1, digest ≤ notify), else the parent's.

    >>> _thresholds({"notify_threshold": 0.6}, "routes", DEFAULT_ROUTE)
    {'notify_threshold': 0.6, 'digest_threshold': None}
    >>> _thresholds({"digest_threshold": 0.5}, "r", Route(notify_threshold=0.4))
    Traceback (most recent call last):
    ...
    app.routes.RouteError: r.digest_threshold: digest_threshold 0.5 is above notify_threshold 0.4
    """
    found: dict[str, float | None] = {
        "notify_threshold": parent.notify_threshold,
        "digest_threshold": parent.digest_threshold,
    }
    for key in found:
        if key in spec:
            value = spec[key]
            if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1:
                raise RouteError(f"{path}.{key}: expected a number from 0 to 1, got {value!r}")
            found[key] = float(value)
    notify, digest = found["notify_threshold"], found["digest_threshold"]
    if notify is not None and digest is not None and digest > notify:
        where = "digest_threshold" if "digest_threshold" in spec else "notify_threshold"
        raise RouteError(
            f"{path}.{where}: digest_threshold {digest:g} is above notify_threshold {notify:g}"
        )
    return found
