"""Which notifications an incident owes its receivers at an event time, and when to look again.

Per receiver, Alertmanager's timing, in event time:

- ``firing``: the first page, ``group_wait`` after the incident started to page;
- ``update:<digest>``: alerts were added or resolved since the receiver's last notification,
  at most once per ``group_interval``; it says what changed;
- ``repeat:<since>``: nothing changed for ``repeat_interval`` (unset: never), until acknowledged;
- ``escalation:<level>``: the route's escalation policy reached a level while unacknowledged;
- ``acknowledged``: once, when a person acknowledged the firing incident (PagerDuty's
  ``acknowledge``);
- ``resolved``: every alert resolved; skipped when a muted alert resolved it and the route
  says ``send_resolved_when_muted: false``.

Muted (silenced or inhibited) alerts are left out of what receivers are told while firing.
:func:`plan` is pure: the agent keeps ``told`` and ``escalated`` in the incident.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.config import Config as NotifyConfig
from app.config import Route, match, time_muted
from app.escalation import EscalationPolicy

MINUTE_MS = 60_000  # time intervals are in whole minutes


@dataclass(frozen=True)
class Send:
    """One notification to start: to whom, which state, and what changed."""

    receiver: str
    state: str
    change: str  # firing, update, repeat, escalation, acknowledged, resolved
    added: tuple[str, ...] = ()
    resolved: tuple[str, ...] = ()
    level: int = 0


def plan(
    incident: Mapping[str, Any], config: NotifyConfig, now_ms: int
) -> tuple[dict[str, Any], list[Send], int | None]:
    """The incident after deciding, the sends due at ``now_ms``, and the next time one is due.

    >>> config = NotifyConfig(route=Route(receivers=("ops",), group_wait_ms=30_000,
    ...     group_interval_ms=300_000), receivers={"ops": None})
    >>> i = {"alerts": {"a1": "firing"}, "muted": {}, "labels": {}, "paged_ms": 0,
    ...      "acknowledged": None, "told": {}, "escalated": 0}
    >>> i, sends, due = plan(i, config, 10_000)
    >>> sends, due
    ([], 30000)
    >>> i, sends, due = plan(i, config, 30_000)
    >>> [(s.receiver, s.state, s.added) for s in sends], due
    ([('ops', 'firing', ('a1',))], None)
    >>> i = {**i, "alerts": {"a1": "firing", "a2": "firing"}}
    >>> i, sends, due = plan(i, config, 60_000)
    >>> sends, due
    ([], 330000)
    >>> i, sends, due = plan(i, config, 330_000)
    >>> [(s.change, s.added) for s in sends]
    [('update', ('a2',))]
    >>> i, sends, due = plan({**i, "alerts": {"a1": "resolved", "a2": "resolved"}}, config, 340_000)
    >>> [(s.state, s.resolved) for s in sends], due
    ([('resolved', ('a1', 'a2'))], None)
    """
    incident = dict(incident)
    if incident.get("paged_ms") is None:
        return incident, [], None
    paged_ms: int = incident["paged_ms"]
    alerts: dict[str, str] = incident["alerts"]
    muted: dict[str, str] = incident["muted"]
    firing = "firing" in alerts.values()
    acked = incident.get("acknowledged") is not None
    visible = {a: s for a, s in alerts.items() if a not in muted}
    told: dict[str, dict[str, Any]] = {r: dict(t) for r, t in incident["told"].items()}
    routes = match(config.route, incident["labels"])
    first = _first_routes(routes, config)
    sends: list[Send] = []
    dues: list[int] = []

    def tell(send: Send) -> None:
        sends.append(send)
        told[send.receiver] = {
            "alerts": dict(visible),
            "at_ms": now_ms,
            "state": send.state,
            "acked": acked,
        }

    for receiver, route in first.items():
        if receiver in told or not firing:
            continue
        if time_muted(config, route, now_ms):  # its time intervals: look again next minute
            dues.append((now_ms // MINUTE_MS + 1) * MINUTE_MS)
            continue
        if now_ms >= paged_ms + route.group_wait_ms:
            tell(Send(receiver, "firing", "firing", added=_ids(visible, "firing")))
        else:
            dues.append(paged_ms + route.group_wait_ms)
    escalated = incident.get("escalated", 0)
    policy = _policy(routes, config)
    if policy is not None and firing and not acked:
        reached = policy.reached(paged_ms, now_ms)
        for level in range(escalated + 1, reached + 1):
            for receiver in policy.levels[level - 1].receivers:
                state = f"escalation:{level}"
                tell(Send(receiver, state, "escalation", _ids(visible, "firing"), level=level))
        escalated = max(escalated, reached)
        if (due := policy.next_due(paged_ms, escalated)) is not None:
            dues.append(due)
    sent_now = {send.receiver for send in sends}
    for receiver, last in list(told.items()):
        if receiver in sent_now or last["state"] == "resolved":
            continue
        route = first.get(receiver) or (routes[0] if routes else config.route)
        if time_muted(config, route, now_ms):
            dues.append((now_ms // MINUTE_MS + 1) * MINUTE_MS)
            continue
        before: dict[str, str] = last["alerts"]
        if not firing:
            resolved = tuple(sorted(a for a, s in before.items() if s == "firing"))
            if route.send_resolved_when_muted or not any(a in muted for a in alerts):
                tell(Send(receiver, "resolved", "resolved", resolved=resolved))
            continue
        if acked and not last.get("acked"):
            tell(Send(receiver, "acknowledged", "acknowledged"))
            continue
        added = tuple(sorted(a for a, s in visible.items() if s == "firing" and before.get(a) != s))
        gone = tuple(sorted(a for a, s in before.items() if s == "firing" and visible.get(a) != s))
        if added or gone:
            due = last["at_ms"] + route.group_interval_ms
            if now_ms >= due:
                state = f"update:{_digest(visible)}"
                tell(Send(receiver, state, "update", added, gone))
            else:
                dues.append(due)
        elif route.repeat_interval_ms and not acked:
            due = last["at_ms"] + route.repeat_interval_ms
            if now_ms >= due:
                tell(Send(receiver, f"repeat:{last['at_ms']}", "repeat"))
            else:
                dues.append(due)
    incident["told"] = told
    incident["escalated"] = escalated
    return incident, sends, min(dues) if dues else None


def _first_routes(routes: list[Route], config: NotifyConfig) -> dict[str, Route]:
    chosen: dict[str, Route] = {}
    for route in routes:
        for receiver in route.receivers:  # app.config resolved the default: every receiver
            chosen.setdefault(receiver, route)
    return chosen


def _policy(routes: list[Route], config: NotifyConfig) -> EscalationPolicy | None:
    for route in routes:
        if route.escalation and route.escalation in config.escalations:
            return config.escalations[route.escalation]
    return None


def _ids(alerts: Mapping[str, str], status: str) -> tuple[str, ...]:
    return tuple(sorted(a for a, s in alerts.items() if s == status))


def _digest(alerts: Mapping[str, str]) -> str:
    text = ",".join(f"{a}={s}" for a, s in sorted(alerts.items()))
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()
