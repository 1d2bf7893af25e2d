"""alertflow's alerts and incidents in the shapes of Alertmanager's API v2 (0.25).

``gettableAlert``: ``{labels, annotations, generatorURL?, fingerprint, startsAt, updatedAt,
endsAt, receivers: [{name}], status: {state, silencedBy, inhibitedBy}}``; ``alertGroup``:
``{labels, receiver: {name}, alerts}`` — one group per incident and route. The filters of
``GET /api/v2/alerts`` and ``/alerts/groups`` (``filter``, ``active``, ``silenced``,
``inhibited``, ``receiver``) are Alertmanager's (``api/v2/api.go``); sorting is too.

Where alertflow differs, on purpose: matchers in ``filter`` see what silences and routes see
(the labels plus ``tenant``, ``source``, ``service``, ``severity``, ``alertname``); a firing
alert's ``endsAt`` is Go's zero time, since alertflow keeps an alert firing until its resolve
arrives; ``inhibitedBy`` holds alert ids; only firing alerts are listed, as in Alertmanager.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.config import Config, group_labels, route_for
from app.config.routes import ALL_LABELS, Route
from app.matchers import Matcher, matches_all
from app.records import canonical_time

ZERO_TIME = "0001-01-01T00:00:00.000Z"  # Go's zero time: no end known
INHIBITED_BY = "inhibited by alert "  # the reason agents.notify gives an inhibited alert
SORT_LABELS = ("job", "instance")  # types.AlertSlice: looked at first


@dataclass(frozen=True)
class AlertFilter:
    """The query of ``GET /api/v2/alerts`` (``alerts/groups`` too): which alerts to show."""

    matchers: tuple[Matcher, ...] = ()
    active: bool = True
    silenced: bool = True
    inhibited: bool = True
    receiver: Callable[[str], bool] | None = None  # the anchored ``receiver`` regex

    def keeps(self, alert: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
        """Whether the alert, with its current status, is shown (``alertFilter``).

        >>> alert = {"labels": {"alertname": "X"}, "tenant": "t", "status": "firing"}
        >>> quiet = {"state": "suppressed", "silencedBy": ["s1"], "inhibitedBy": []}
        >>> AlertFilter().keeps(alert, quiet), AlertFilter(silenced=False).keeps(alert, quiet)
        (True, False)
        """
        if alert["status"] != "firing":
            return False
        if not self.active and status["state"] == "active":
            return False
        if not self.silenced and status["silencedBy"]:
            return False
        if not self.inhibited and status["inhibitedBy"]:
            return False
        return matches_all(self.matchers, group_labels(alert))


def alert_status(alert: Mapping[str, Any], silenced_by: Sequence[str]) -> dict[str, Any]:
    """Alertmanager's ``alertStatus`` of an alert: silenced by the silences that mute it now,
    inhibited by the alert its reasons name.

    >>> alert_status({"reasons": ["inhibited by alert a9"]}, [])
    {'state': 'suppressed', 'silencedBy': [], 'inhibitedBy': ['a9']}
    >>> alert_status({"reasons": []}, [])["state"]
    'active'
    """
    inhibited_by = [
        reason.removeprefix(INHIBITED_BY).split(" ", 1)[0]
        for reason in alert.get("reasons") or []
        if reason.startswith(INHIBITED_BY)
    ]
    suppressed = bool(silenced_by or inhibited_by)
    return {
        "state": "suppressed" if suppressed else "active",
        "silencedBy": list(silenced_by),
        "inhibitedBy": inhibited_by,
    }


def gettable_alert(
    alert: Mapping[str, Any], receivers: Iterable[str], status: Mapping[str, Any]
) -> dict[str, Any]:
    """An alertflow alert (as ``GET /api/v1/alerts`` shows it) as a ``gettableAlert``.

    >>> a = {"labels": {"alertname": "DiskFull"}, "annotations": {"summary": "full",
    ...      "generator_url": "http://prom/graph"}, "fingerprint": "1560ad22a2dfb891",
    ...      "starts_at": "2026-01-01T00:00:00Z", "received_at": "2026-01-01T00:00:01Z",
    ...      "ends_at": None, "status": "firing"}
    >>> g = gettable_alert(a, ["ops"], alert_status({}, []))
    >>> g["annotations"], g["generatorURL"], g["endsAt"], g["receivers"]
    ({'summary': 'full'}, 'http://prom/graph', '0001-01-01T00:00:00.000Z', [{'name': 'ops'}])
    """
    annotations = dict(alert.get("annotations") or {})
    generator_url = annotations.pop("generator_url", "")
    ended = alert["status"] == "resolved" and alert.get("ends_at")
    found: dict[str, Any] = {
        "annotations": annotations,
        "endsAt": canonical_time(alert["ends_at"]) if ended else ZERO_TIME,
        "fingerprint": alert["fingerprint"],
        "receivers": [{"name": name} for name in receivers],
        "startsAt": canonical_time(alert["starts_at"]),
        "status": dict(status),
        "updatedAt": canonical_time(alert["received_at"]),
        "labels": dict(alert.get("labels") or {}),
    }
    if generator_url:
        found["generatorURL"] = generator_url
    return found


def routes_of(config: Config, alert: Mapping[str, Any]) -> list[Route]:
    """The routes the alert takes (what the notify stage routes it by)."""
    return route_for(config, group_labels(alert))


def receiver_names(config: Config, route: Route) -> list[str]:
    """The receivers (as the configuration names them) a route notifies.

    >>> from app.config import Config, Route
    >>> config = Config(receiver_sinks={"ops": ("ops",), "db": ("db/slack_configs[0]",)})
    >>> receiver_names(config, Route(receiver="ops,db")), receiver_names(config,
    ...     Route(receivers=("db/slack_configs[0]",)))
    (['ops', 'db'], ['db'])
    """
    if route.receiver:
        return route.receiver.split(",")
    sinks = set(route.receivers)
    return [name for name, own in config.receiver_sinks.items() if sinks & set(own)]


def alert_groups(
    incidents: Mapping[str, list[dict[str, Any]]],
    config: Config,
    statuses: Mapping[str, Mapping[str, Any]],
    keep: AlertFilter,
) -> list[dict[str, Any]]:
    """Alertmanager's alert groups: one per incident (its firing alerts, ``incidents`` by
    incident id) and route; a group left without alerts by the filter is not shown.

    ``statuses`` holds each alert's ``alertStatus`` by alert id. Group labels are the route's
    ``group_by`` values; receivers Alertmanager's way (a group's route, and an alert lists the
    receivers of every group it is in).

    >>> from app.config import Config, Route
    >>> config = Config(route=Route(receiver="ops", group_by=("alertname",)),
    ...                 receiver_sinks={"ops": ("ops",)})
    >>> alert = {"id": "a1", "labels": {"alertname": "X", "job": "j"}, "fingerprint": "f",
    ...          "starts_at": "2026-01-01T00:00:00Z", "received_at": "2026-01-01T00:00:00Z",
    ...          "ends_at": None, "status": "firing", "tenant": "t"}
    >>> status = {"a1": alert_status(alert, [])}
    >>> (group,) = alert_groups({"i1": [alert]}, config, status, AlertFilter())
    >>> group["labels"], group["receiver"], [a["receivers"] for a in group["alerts"]]
    ({'alertname': 'X'}, {'name': 'ops'}, [[{'name': 'ops'}]])
    """
    groups: list[tuple[dict[str, str], str, list[dict[str, Any]]]] = []
    receivers: dict[str, list[str]] = {}
    for alerts in incidents.values():
        shown = [a for a in alerts if keep.keeps(a, statuses[a["id"]])]
        if not shown:
            continue
        for route in routes_of(config, shown[0]):
            for name in receiver_names(config, route):
                if keep.receiver is not None and not keep.receiver(name):
                    continue
                for alert in shown:
                    receivers.setdefault(alert["id"], []).append(name)
                groups.append((group_labels_of(route, shown[0]), name, shown))
    groups.sort(key=functools.cmp_to_key(_group_order))
    return [
        {
            "labels": labels,
            "receiver": {"name": receiver},
            "alerts": [
                gettable_alert(a, sorted(receivers[a["id"]]), statuses[a["id"]])
                for a in sorted(alerts, key=functools.cmp_to_key(_alert_order))
            ],
        }
        for labels, receiver, alerts in groups
    ]


def group_labels_of(route: Route, alert: Mapping[str, Any]) -> dict[str, str]:
    """The labels a group of ``route`` is keyed by: the alert's values of ``group_by``.

    >>> from app.config import Route
    >>> a = {"tenant": "t", "service": "db", "labels": {"alertname": "X", "env": "prod"}}
    >>> group_labels_of(Route(group_by=("alertname", "cluster")), a)
    {'alertname': 'X'}
    >>> group_labels_of(Route(group_by=("...",)), a)
    {'alertname': 'X', 'env': 'prod'}
    """
    if ALL_LABELS in route.group_by:
        return dict(alert.get("labels") or {})
    seen = group_labels(alert)
    return {name: seen[name] for name in route.group_by if seen.get(name)}


def sort_alerts(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Gettable alerts in Alertmanager's order: by fingerprint."""
    return sorted(alerts, key=lambda alert: alert["fingerprint"])


def label_set_before(a: Mapping[str, str], b: Mapping[str, str]) -> bool:
    """Prometheus' ``LabelSet.Before``: fewer labels first, then by names and values.

    >>> label_set_before({"a": "1"}, {"a": "1", "b": "2"}), label_set_before({"a": "2"}, {"a": "1"})
    (True, False)
    >>> label_set_before({"a": "1"}, {"b": "1"})
    False
    """
    if len(a) != len(b):
        return len(a) < len(b)
    for name in sorted([*a, *b]):
        if name not in a:
            return True
        if name not in b:
            return False
        if a[name] != b[name]:
            return a[name] < b[name]
    return False


def _group_order(
    x: tuple[dict[str, str], str, list[Any]], y: tuple[dict[str, str], str, list[Any]]
) -> int:
    """``AlertGroups.Less``: by labels, then by receiver."""
    if x[0] == y[0]:
        return (x[1] > y[1]) - (x[1] < y[1])
    return -1 if label_set_before(x[0], y[0]) else 1


def _alert_order(x: Mapping[str, Any], y: Mapping[str, Any]) -> int:
    """``AlertSlice.Less``: by ``job``, then ``instance``, then the whole label set."""
    a, b = x.get("labels") or {}, y.get("labels") or {}
    for name in SORT_LABELS:
        if name not in a and name not in b:
            continue
        if name not in a:
            return 1
        if name not in b:
            return -1
        if a[name] != b[name]:
            return -1 if a[name] < b[name] else 1
    if label_set_before(a, b):
        return -1
    return 1 if label_set_before(b, a) else 0
