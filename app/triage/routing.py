"""The route of an alert, decided once by triage and stamped on the record.

:class:`Snapshot` is what the chain's stages need of one configuration version
(:class:`app.config.Config`): the route tree, each route's score thresholds (the settings'
where a route sets none) and session window, and the version, stamped on every alert as
``config_version``. Correlation looks a route's window up by the name stamped on the alert
(:meth:`Snapshot.window`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.config import Config, Route, group_key, group_labels, match
from app.correlation.group import Window
from app.learning.scoring import Thresholds, route_thresholds


@dataclass(frozen=True)
class Routing:
    """Where an alert goes: its first route (grouping), every route it lands on (receivers),
    its correlation group and the thresholds its score is decided with."""

    route: Route
    routes: list[str]
    group: str
    thresholds: Thresholds


class Snapshot:
    """One version of the routing configuration.

    >>> snapshot = Snapshot(Config(), Thresholds())
    >>> r = snapshot.routing({"tenant": "acme", "service": "db", "labels": {"alertname": "X"}})
    >>> r.route.name, r.routes, r.group
    ('root', ['root'], 'acme|root|tenant=acme,service=db,alertname=X')
    >>> snapshot.window("root").gap_ms, snapshot.window("gone").route
    (300000, 'root')
    """

    def __init__(self, config: Config, default: Thresholds) -> None:
        self.root = config.route
        self.version = config.version
        self._routes = {route.name: route for route in _walk(self.root)}
        self._thresholds = {
            name: route_thresholds(route, default) for name, route in self._routes.items()
        }
        self._windows = {
            name: Window(
                name,
                route.group_gap_ms,
                route.max_duration_ms,
                route.min_alerts,
                route.min_distinct_alerts,
            )
            for name, route in self._routes.items()
        }

    def routing(self, alert: Mapping[str, Any]) -> Routing:
        """The routes ``alert`` lands on (its ``template_id`` stands in for ``alertname``)."""
        labels = group_labels(alert)
        landed = match(self.root, labels)
        route = landed[0]
        group = f"{alert['tenant']}|{route.name}|{group_key(route, labels)}"
        return Routing(route, [r.name for r in landed], group, self._thresholds[route.name])

    def window(self, name: str) -> Window:
        """The session window of the route named ``name`` (the root's for an unknown name: a
        record routed by an older configuration)."""
        return self._windows.get(name) or self._windows[self.root.name]


def _walk(route: Route) -> list[Route]:
    return [route, *(r for child in route.routes for r in _walk(child))]
