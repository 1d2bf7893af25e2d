"""The notification policy, read as one snapshot from ``ALERTFLOW_CONFIG`` and reloadable.

A snapshot holds the routing tree (``routes:``, :mod:`app.routes`), the receivers
(``receivers:``, :mod:`app.sinks.config`), ``inhibit_rules:`` (:mod:`app.inhibition`),
``escalation_policies:`` (:mod:`app.escalation`) and the ``notify:`` options below, checked
against each other (every receiver and policy a route names exists). A reload builds a whole
new snapshot and swaps it in one assignment; a file that does not validate keeps the last good
snapshot and logs why.

    notify:
      tick_interval: 10s     # how often each worker advances event time on its idle partitions
      resend_after: 2m       # a send left "in flight" by a dead worker is retried after this
      max_in_flight: 4       # concurrent deliveries per receiver
      reload_interval: 5s    # how often the file's mtime is checked (SIGHUP reloads at once)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from app.escalation import EscalationPolicy, parse_policies
from app.inhibition import InhibitRule, parse_rules
from app.routes import (
    DEFAULT_ROUTE,
    Route,
    RouteError,
    mapping_of,
    parse_duration,
    parse_route,
)

log = logging.getLogger(__name__)

_NOTIFY_KEYS = {"tick_interval", "resend_after", "max_in_flight", "reload_interval"}


@dataclass(frozen=True)
class NotifyOptions:
    """The ``notify:`` section."""

    tick_interval_ms: int = 10_000  # 0: no ticks
    resend_after_ms: int = 120_000
    max_in_flight: int = 4
    reload_interval_ms: int = 5_000


@dataclass(frozen=True)
class NotifyConfig:
    """Everything the notify agent decides with, as of one version of the file."""

    route: Route = DEFAULT_ROUTE
    receivers: Mapping[str, Any] = field(default_factory=dict)  # name → Sink
    inhibit_rules: tuple[InhibitRule, ...] = ()
    escalations: Mapping[str, EscalationPolicy] = field(default_factory=dict)
    options: NotifyOptions = NotifyOptions()


ReceiverLoader = Callable[[], Mapping[str, Any]]


def parse_config(
    document: Mapping[str, Any], receivers: Mapping[str, Any], *, strict: bool = True
) -> NotifyConfig:
    """Validate the notification sections of a parsed YAML document.

    ``receivers`` are the configured sinks by name; with ``strict``, a route or level that
    names an unknown receiver is an error.

    >>> c = parse_config({"routes": {"receiver": "ops", "escalation": "db"},
    ...     "escalation_policies": [{"name": "db", "levels": [{"after": "10m",
    ...     "receivers": ["boss"]}]}]}, {"ops": 1, "boss": 2})
    >>> c.route.receivers, c.escalations["db"].levels[0].after_ms
    (('ops',), 600000)
    >>> parse_config({"routes": {"receiver": "nobody"}}, {"ops": 1})
    Traceback (most recent call last):
    ...
    app.routes.RouteError: routes.receiver: no receiver named 'nobody' (known: ops)
    """
    route = parse_route(document["routes"]) if document.get("routes") is not None else DEFAULT_ROUTE
    escalations = parse_policies(document.get("escalation_policies"))
    config = NotifyConfig(
        route=route,
        receivers=receivers,
        inhibit_rules=parse_rules(document.get("inhibit_rules")),
        escalations=escalations,
        options=_options(document.get("notify")),
    )
    if strict:
        _check_references(config)
    return config


def load_config(path: Path | None, load_receivers: ReceiverLoader) -> NotifyConfig:
    """Read and validate the file at ``path`` (defaults only without one); raise on errors."""
    receivers = load_receivers()
    if path is None:
        return NotifyConfig(receivers=receivers)
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise RouteError(f"ALERTFLOW_CONFIG: cannot read {path}: {exc}") from exc
    if not isinstance(document, dict):
        raise RouteError(f"ALERTFLOW_CONFIG: {path} must hold a mapping")
    return parse_config(document, receivers)


def config_path(environ: Mapping[str, str] | None = None) -> Path | None:
    """The file named by ``ALERTFLOW_CONFIG``, if any."""
    value = (os.environ if environ is None else environ).get("ALERTFLOW_CONFIG")
    return Path(value) if value else None


class Reloader:
    """Holds the current snapshot; :meth:`maybe_reload` swaps in a new one when the file changed."""

    def __init__(self, path: Path | None, load_receivers: ReceiverLoader) -> None:
        self.path = path
        self._load_receivers = load_receivers
        self._mtime = self._stat()
        self.current = load_config(path, load_receivers)

    def maybe_reload(self, *, force: bool = False) -> bool:
        """Reload when the file's mtime changed (or ``force``); keep the last good on errors."""
        mtime = self._stat()
        if not force and mtime == self._mtime:
            return False
        self._mtime = mtime
        try:
            config = load_config(self.path, self._load_receivers)
        except Exception as exc:  # whatever is wrong with the file, the worker keeps going
            log.error("config reload failed, keeping the last good configuration: %s", exc)
            return False
        self.current = config
        log.info("notification config reloaded from %s", self.path)
        return True

    def _stat(self) -> float | None:
        try:
            return self.path.stat().st_mtime if self.path else None
        except OSError:
            return None


def _options(spec: Any) -> NotifyOptions:
    if spec is None:
        return NotifyOptions()
    mapping_of(spec, "notify", _NOTIFY_KEYS)
    values: dict[str, int] = {}
    for key in ("tick_interval", "resend_after", "reload_interval"):
        if key in spec:
            zero = key == "tick_interval" and spec[key] in (0, "0", "0s")
            values[f"{key}_ms"] = 0 if zero else parse_duration(spec[key], f"notify.{key}")
    if "max_in_flight" in spec:
        value = spec["max_in_flight"]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise RouteError(f"notify.max_in_flight: expected a whole number ≥ 1, got {value!r}")
        values["max_in_flight"] = value
    return NotifyOptions(**values)


def _check_references(config: NotifyConfig) -> None:
    known = ", ".join(sorted(config.receivers)) or "none"

    def check_receivers(names: tuple[str, ...], where: str) -> None:
        for name in names:
            if name not in config.receivers:
                raise RouteError(f"{where}: no receiver named {name!r} (known: {known})")

    def walk(route: Route, where: str, inherited: Route | None) -> None:
        if inherited is None or route.receivers != inherited.receivers:
            check_receivers(route.receivers, f"{where}.receiver")
        if route.escalation is not None and route.escalation not in config.escalations:
            raise RouteError(f"{where}.escalation: no escalation policy {route.escalation!r}")
        for i, child in enumerate(route.routes):
            walk(child, f"{where}.routes[{i}]", route)

    walk(config.route, "routes", None)
    for policy in config.escalations.values():
        for j, level in enumerate(policy.levels):
            check_receivers(level.receivers, f"escalation_policies.{policy.name}.levels[{j}]")


def check_file(path: Path, environ: Mapping[str, str] | None = None) -> str:
    """Validate the whole file as a worker would read it; a one-line summary, or raise."""
    from app.settings import load_settings
    from app.sinks.config import load_receivers

    env = {**(os.environ if environ is None else environ), "ALERTFLOW_CONFIG": str(path)}
    settings = load_settings(env)
    config = load_config(path, lambda: load_receivers(settings, env))
    receivers = ", ".join(config.receivers) or "none"
    return (
        f"{_count(config.route)} route(s); receivers: {receivers}; "
        f"{len(config.inhibit_rules)} inhibit rule(s); "
        f"{len(config.escalations)} escalation policy(ies)"
    )


def _count(route: Route) -> int:
    return 1 + sum(_count(child) for child in route.routes)
