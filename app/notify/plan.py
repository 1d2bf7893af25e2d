"""Which notifications an incident owes its receivers at an event time, and when to look again.

Per receiver, Alertmanager's timing, in event time:

- ``firing``: the first page, ``group_wait`` after the incident started to page — and for a
  new incident not before triage's verdict on it (``judging``, on the worker's clock:
  :mod:`app.notify.step`);
- ``update:<version>``: alerts were added or resolved since the receiver's last notification,
  at most once per ``group_interval``; it says what changed (samples of ids);
- ``repeat:<since>``: nothing changed for ``repeat_interval`` (unset: never), until acknowledged;
- ``escalation:<level>``: the route's escalation policy reached a level while unacknowledged;
- ``acknowledged``: once, when a person acknowledged the firing incident (PagerDuty's
  ``acknowledge``);
- ``resolved``: every alert resolved, or a person resolved the incident, or it was merged into
  another one; skipped when it held a muted alert and the route says
  ``send_resolved_when_muted: false``.

Muted (silenced or inhibited) alerts are left out of what receivers are told; a route's
``mute_time_intervals``/``active_time_intervals`` hold its receivers' notifications back while
they say so (looked at again each minute). :func:`plan` is
pure: what each receiver was told (its ``version`` of the incident, when, which state) is kept
in the incident's ``told``, so a receiver's next notification says what changed since.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.config import Config, Route, match, time_muted
from app.notify.escalation import EscalationPolicy
from app.notify.incident import Incident, visible_changes

MINUTE_MS = 60_000  # time intervals are in whole minutes


@dataclass(frozen=True)
class Send:
    """One notification to start: to whom, which state, and what changed (samples of ids)."""

    receiver: str
    state: str
    change: str  # firing, update, repeat, escalation, acknowledged, resolved
    added: tuple[str, ...] = ()
    resolved: tuple[str, ...] = ()
    level: int = 0


@dataclass
class _Plan:
    """What deciding one incident at one event time produces."""

    incident: Incident
    now_ms: int
    wall_ms: int
    told: dict[str, dict[str, Any]]
    sends: list[Send] = field(default_factory=list)
    dues: list[int] = field(default_factory=list)

    @property
    def firing(self) -> bool:
        return self.incident["status"] == "firing"

    @property
    def acked(self) -> bool:
        return self.incident["acknowledged"] is not None

    def tell(self, send: Send) -> None:
        self.sends.append(send)
        self.told[send.receiver] = {
            "version": self.incident["version"],
            "at_ms": self.now_ms,
            "state": send.state,
            "acked": self.acked,
        }

    def wait(self, due_ms: int) -> bool:
        """Whether ``due_ms`` is still ahead (then it is when to look again)."""
        if self.now_ms >= due_ms:
            return False
        self.dues.append(due_ms)
        return True


def plan(
    incident: Incident, config: Config, now_ms: int, wall_ms: int | None = None
) -> tuple[Incident, list[Send], int | None]:
    """The incident after deciding, the sends due at ``now_ms``, and the next time one is due;
    ``wall_ms``: the worker's clock, for a first page held for triage (default: ``now_ms``).

    >>> from app.notify.incident import change, fold
    >>> config = Config(route=Route(receivers=("ops",), group_wait_ms=30_000,
    ...     group_interval_ms=300_000))
    >>> i = fold(None, change("a1", None, ["firing", False], at_ms=0, incident_id="i1"))
    >>> i, sends, due = plan(i, config, 10_000)
    >>> sends, due
    ([], 30000)
    >>> i, sends, due = plan(i, config, 30_000)
    >>> [(s.receiver, s.state, s.added) for s in sends], due
    ([('ops', 'firing', ('a1',))], None)
    >>> i = fold(i, change("a2", None, ["firing", False], at_ms=60_000, incident_id="i1"))
    >>> i, sends, due = plan(i, config, 60_000)
    >>> sends, due
    ([], 330000)
    >>> i, sends, due = plan(i, config, 330_000)
    >>> [(s.state, s.added) for s in sends]
    [('update:2', ('a2',))]
    >>> for a in ("a1", "a2"):
    ...     i = fold(i, change(a, ["firing", False], ["resolved", False], at_ms=340_000,
    ...                        incident_id="i1"))
    >>> i, sends, due = plan(i, config, 340_000)
    >>> [(s.state, s.resolved) for s in sends], due
    ([('resolved', ('a1', 'a2'))], None)
    """
    if incident["paged_ms"] is None:
        return incident, [], None
    routes = match(config.route, incident["labels"])
    first = _first_routes(routes, config)
    wall = now_ms if wall_ms is None else wall_ms
    state = _Plan(dict(incident), now_ms, wall, dict(incident["told"]))  # type: ignore[arg-type]
    _first_pages(state, first, config)
    state.incident["escalated"] = _escalate(state, _policy(routes, config))
    _follow_ups(state, first, routes[0] if routes else config.route, config)
    state.incident["told"] = state.told
    return state.incident, state.sends, min(state.dues) if state.dues else None


def _first_pages(state: _Plan, first: Mapping[str, Route], config: Config) -> None:
    """``firing`` to each receiver never told, ``group_wait`` after the incident paged, once
    triage let a new incident stand (or its verdict is overdue on the worker's clock: a
    backlog's event time may run far faster, so it is looked at again when as much event time
    passed as the verdict has left).

    >>> from app.notify.incident import change, fold
    >>> config = Config(route=Route(receivers=("ops",)))
    >>> held = {**fold(None, change("a1", None, ["firing", False], at_ms=0, incident_id="i1")),
    ...         "judging": 3_000}
    >>> [(len(sends), due) for _, sends, due in (plan(held, config, 5_000, wall_ms=1_000),
    ...                                          plan(held, config, 5_000, wall_ms=3_000))]
    [(0, 7000), (1, None)]
    """
    if not state.firing:
        return
    judging = state.incident.get("judging")
    if judging is not None and state.wait(state.now_ms + max(0, judging - state.wall_ms)):
        return
    paged_ms: int = state.incident["paged_ms"]  # type: ignore[assignment]
    for receiver, route in first.items():
        if receiver in state.told or _time_muted(state, route, config):
            continue
        if not state.wait(paged_ms + route.group_wait_ms):
            state.tell(Send(receiver, "firing", "firing", added=_shown(state.incident)))


def _escalate(state: _Plan, policy: EscalationPolicy | None) -> int:
    """``escalation:<level>`` for each level reached while firing and unacknowledged."""
    escalated = state.incident["escalated"]
    if policy is None or not state.firing or state.acked:
        return escalated
    paged_ms: int = state.incident["paged_ms"]  # type: ignore[assignment]
    reached = policy.reached(paged_ms, state.now_ms)
    for level in range(escalated + 1, reached + 1):
        for receiver in policy.levels[level - 1].receivers:
            shown = _shown(state.incident)
            state.tell(Send(receiver, f"escalation:{level}", "escalation", shown, level=level))
    escalated = max(escalated, reached)
    if (due := policy.next_due(paged_ms, escalated)) is not None:
        state.dues.append(due)
    return escalated


def _follow_ups(state: _Plan, first: Mapping[str, Route], fallback: Route, config: Config) -> None:
    """What each receiver told before is owed now: resolved, acknowledged, update or repeat."""
    sent_now = {send.receiver for send in state.sends}
    for receiver, last in list(state.told.items()):
        if receiver in sent_now or last["state"] == "resolved":
            continue
        route = first.get(receiver) or fallback
        if _time_muted(state, route, config):
            continue
        if not state.firing:
            _resolved(state, receiver, last, route)
        elif state.acked and not last.get("acked"):
            state.tell(Send(receiver, "acknowledged", "acknowledged"))
        elif state.incident["version"] != last["version"]:
            _update(state, receiver, last, route)
        elif (
            route.repeat_interval_ms
            and not state.acked
            and not state.wait(last["at_ms"] + route.repeat_interval_ms)
        ):
            state.tell(Send(receiver, f"repeat:{last['at_ms']}", "repeat"))


def _resolved(state: _Plan, receiver: str, last: dict[str, Any], route: Route) -> None:
    incident = state.incident
    if incident["muted"] and not route.send_resolved_when_muted and not incident["closed"]:
        return
    _, gone, _ = visible_changes(incident, last["version"])
    if incident["closed"] is not None:
        gone = sorted({*gone, *incident["shown"]})
    state.tell(Send(receiver, "resolved", "resolved", resolved=tuple(gone)))


def _update(state: _Plan, receiver: str, last: dict[str, Any], route: Route) -> None:
    added, gone, complete = visible_changes(state.incident, last["version"])
    if complete and not added and not gone:
        return  # alerts came and went in between: nothing to tell
    if not state.wait(last["at_ms"] + route.group_interval_ms):
        state_name = f"update:{state.incident['version']}"
        state.tell(Send(receiver, state_name, "update", tuple(added), tuple(gone)))


def _time_muted(state: _Plan, route: Route, config: Config) -> bool:
    """Whether the route's time intervals hold its notifications back now (then look again at
    the next minute)."""
    if not time_muted(config, route, state.now_ms):
        return False
    state.dues.append((state.now_ms // MINUTE_MS + 1) * MINUTE_MS)
    return True


def _shown(incident: Incident) -> tuple[str, ...]:
    return tuple(sorted(incident["shown"]))


def _first_routes(routes: list[Route], config: Config) -> dict[str, Route]:
    chosen: dict[str, Route] = {}
    for route in routes:
        for receiver in route.receivers:  # app.config resolved the default: every receiver
            chosen.setdefault(receiver, route)
    return chosen


def _policy(routes: list[Route], config: Config) -> EscalationPolicy | None:
    for route in routes:
        if route.escalation and route.escalation in config.escalations:
            return config.escalations[route.escalation]
    return None
