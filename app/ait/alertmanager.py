"""Alertmanager on the same IDS alerts: the baseline of the data set's README.

Each IDS alert is posted to Alertmanager as an alert with the labels of
:func:`app.ait.stream.payload` (``alertname`` = the rule, ``host``, ``ip``, ``detector``) and
no end time, so it resolves ``resolve_timeout`` after it was last posted. The route groups by
``[alertname, host]`` with ``group_wait`` 30 s, ``group_interval`` 5 m and ``repeat_interval``
4 h; the receiver is a webhook with ``send_resolved``. The dispatcher is Alertmanager's, in
event time: a group flushes ``group_wait`` after it was created and every ``group_interval``
after that, and notifies when the notification log says so (``DedupStage.needsUpdate``: a new
firing alert, every alert resolved, an alert resolved since the last notification, or the
repeat interval passed); notified resolved alerts leave the group, and an empty group is gone.
A notification lists every alert of the group, each carrying the IDS alerts posted since it
(last) started firing. The incident of an IDS alert is the group (one lifetime of it).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from app.ait.score import Notification
from app.ait.stream import Event


@dataclass(frozen=True)
class Timing:
    """The route's timing and the global ``resolve_timeout`` (ms)."""

    group_wait_ms: int = 30_000
    group_interval_ms: int = 5 * 60_000
    repeat_interval_ms: int = 4 * 3_600_000
    resolve_timeout_ms: int = 5 * 60_000


@dataclass
class _Alert:
    ends_ms: int
    events: list[int] = field(default_factory=list)  # of this firing instance


@dataclass
class _Group:
    name: str  # group key and lifetime, the incident id
    alerts: dict[tuple[str, ...], _Alert] = field(default_factory=dict)
    told_firing: frozenset[tuple[str, ...]] | None = None  # None: never notified
    told_resolved: frozenset[tuple[str, ...]] = frozenset()
    told_ms: int = 0


def replay(events: list[Event], timing: Timing = Timing()) -> tuple[list[Notification], list[str]]:
    """The notifications sent, and the incident (group lifetime) of each IDS alert.

    >>> e = [Event(i, t * 1000, "Wazuh: x", "1.1.1.1", "h", "R", None)
    ...      for i, t in enumerate([0, 10, 1000])]
    >>> sent, groups = replay(e)
    >>> [(n.at_ms // 1000, n.kind, n.events) for n in sent]
    [(30, 'firing', (0, 1)), (330, 'resolved', (0, 1)), (1030, 'firing', (2,)), \
(1330, 'resolved', (2,))]
    >>> groups[0] == groups[1] != groups[2]
    True
    """
    groups: dict[tuple[str, str], _Group] = {}
    lifetimes: dict[tuple[str, str], int] = {}
    due: list[tuple[int, int, tuple[str, str]]] = []  # (flush ms, order, group)
    sent: list[Notification] = []
    incident: list[str] = []

    def flush_until(now: int) -> None:
        while due and due[0][0] <= now:
            at, _, key = heapq.heappop(due)
            group = groups[key]
            sent.extend(_flush(group, at, timing))
            if group.alerts:
                heapq.heappush(due, (at + timing.group_interval_ms, len(sent), key))
            else:
                del groups[key]

    for event in events:
        flush_until(event.at_ms)
        key = (event.short, event.host)
        if key not in groups:
            lifetimes[key] = lifetimes.get(key, -1) + 1
            groups[key] = _Group(f"{event.short}|{event.host}|{lifetimes[key]}")
            heapq.heappush(due, (event.at_ms + timing.group_wait_ms, -event.index, key))
        group = groups[key]
        labels = (event.short, event.host, event.ip, event.name.split(":", 1)[0])
        alert = group.alerts.get(labels)
        if alert is None or alert.ends_ms <= event.at_ms:  # a new alert, or it fires again
            alert = group.alerts[labels] = _Alert(0)
        alert.ends_ms = event.at_ms + timing.resolve_timeout_ms
        alert.events.append(event.index)
        incident.append(group.name)
    flush_until(2**62)
    return sent, incident


def _flush(group: _Group, now: int, timing: Timing) -> list[Notification]:
    firing = frozenset(k for k, a in group.alerts.items() if a.ends_ms > now)
    resolved = frozenset(group.alerts) - firing
    sent: list[Notification] = []
    if _needs_update(group, firing, resolved, now, timing):
        kind = "resolved" if not firing else "firing" if group.told_firing is None else "update"
        if firing and group.told_firing is not None and firing <= group.told_firing:
            kind = "repeat" if resolved <= group.told_resolved else "update"
        carried = tuple(e for a in group.alerts.values() for e in a.events)
        group.told_firing, group.told_resolved, group.told_ms = firing, resolved, now
        sent.append(Notification(now, kind, carried))
    for labels in resolved:  # the flush went through: resolved alerts leave the group
        del group.alerts[labels]
    return sent


def _needs_update(
    group: _Group,
    firing: frozenset[tuple[str, ...]],
    resolved: frozenset[tuple[str, ...]],
    now: int,
    timing: Timing,
) -> bool:
    """Alertmanager's ``DedupStage.needsUpdate`` (with ``send_resolved``)."""
    if group.told_firing is None:
        return bool(firing)
    if not firing <= group.told_firing:
        return True
    if not firing:
        return bool(group.told_firing)
    if not resolved <= group.told_resolved:
        return True
    return now - group.told_ms >= timing.repeat_interval_ms
