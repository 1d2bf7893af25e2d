"""What the notify stage would send for the alerts a replay correlates, in event time.

One receiver, the default route's timing (``group_wait`` 0, ``group_interval`` 5 minutes, no
``repeat_interval``), the rules of the notify stage's plan (``app/notify/plan.py``):

- an incident *pages* from its first alert decided ``notify``: ``firing`` (after
  ``group_wait``), listing its firing alerts;
- ``update``: at most once per ``group_interval``, when alerts that page joined since the last
  notification (alerts decided ``digest`` or ``suppress`` join silently: what the model says is
  not worth a person's attention does not interrupt one) — listing them;
- ``resolved``: once every alert of a paged incident resolved, or when it was merged into
  another incident (whose next update lists what it brought); an alert that pages in it later
  pages it afresh (``firing``).

Acknowledgements echoed to receivers are left out: they answer a person's own action.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from app.ait.score import Notification
from app.notify.merge import merged_into
from app.records import Alert

GROUP_WAIT_MS = 0
GROUP_INTERVAL_MS = 5 * 60_000


@dataclass
class _Incident:
    alerts: dict[str, str] = field(default_factory=dict)  # alert id → status
    firing: int = 0  # of them firing
    pages: bool = False
    told_ms: int | None = None  # the last notification (None: never paged)
    news: set[str] = field(default_factory=set)  # paging alerts joined since then
    due_ms: int | None = None
    resolved: bool = False


@dataclass(frozen=True)
class Told:
    """A notification and the alerts it lists."""

    at_ms: int
    incident: str
    kind: str
    alerts: tuple[str, ...]


class Notifier:
    """The notifications of one receiver, from the correlated alerts and the merges.

    >>> n = Notifier()
    >>> a = {"id": "a1", "incident_id": "i", "status": "firing", "decision": "notify"}
    >>> n.alert(a, 0); n.alert({**a, "id": "a2"}, 60_000); n.advance(300_000)
    >>> [(t.at_ms, t.kind, t.alerts) for t in n.sent]
    [(0, 'firing', ('a1',)), (300000, 'update', ('a2',))]
    >>> n.alert({**a, "status": "resolved"}, 400_000); n.alert({**a, "id": "a2",
    ...     "status": "resolved"}, 400_000); [(t.kind, t.alerts) for t in n.sent[2:]]
    [('resolved', ('a1', 'a2'))]
    """

    def __init__(self) -> None:
        self.incidents: dict[str, _Incident] = {}
        self.into: dict[str, str] = {}
        self.sent: list[Told] = []
        self._due: list[tuple[int, str]] = []

    def root(self, incident_id: str) -> str:
        """The incident ``incident_id`` is part of after the merges so far."""
        return merged_into(self.into, incident_id)

    def advance(self, now_ms: int) -> None:
        """Send the updates due by ``now_ms``."""
        while self._due and self._due[0][0] <= now_ms:
            at, incident_id = heapq.heappop(self._due)
            incident = self.incidents.get(incident_id)
            if incident is not None and incident.due_ms == at:
                incident.due_ms = None
                self._decide(incident_id, incident, at)

    def alert(self, alert: Alert, now_ms: int) -> None:
        """A correlated alert (its incident as correlation gave it)."""
        self.advance(now_ms)
        incident_id = self.root(alert["incident_id"] or "")
        incident = self.incidents.setdefault(incident_id, _Incident())
        was = incident.alerts.get(alert["id"])
        incident.alerts[alert["id"]] = alert["status"]
        incident.firing += (alert["status"] == "firing") - (was == "firing")
        if alert["status"] == "firing" and was != "firing" and alert["decision"] == "notify":
            incident.resolved = False
            incident.pages = True
            incident.news.add(alert["id"])
        self._decide(incident_id, incident, now_ms)

    def merge(self, absorbed: str, into: str, now_ms: int) -> None:
        """``absorbed`` joins ``into``: its receivers hear it resolved; ``into`` takes its
        alerts (their paging ones as news when ``absorbed`` had paged)."""
        self.advance(now_ms)
        absorbed, into = self.root(absorbed), self.root(into)
        if absorbed == into:
            return
        self.into[absorbed] = into
        moved = self.incidents.pop(absorbed, None)
        if moved is None:
            return
        if moved.told_ms is not None and not moved.resolved:
            self._tell(now_ms, absorbed, "resolved", tuple(moved.alerts))
        target = self.incidents.setdefault(into, _Incident())
        for alert_id, status in moved.alerts.items():
            was = target.alerts.get(alert_id)
            target.alerts[alert_id] = status
            target.firing += (status == "firing") - (was == "firing")
        target.pages = target.pages or moved.pages
        target.news |= moved.news if moved.told_ms is None else set()
        if moved.firing:
            target.resolved = False
        self._decide(into, target, now_ms)

    def _decide(self, incident_id: str, incident: _Incident, now_ms: int) -> None:
        firing = incident.firing > 0
        if incident.told_ms is None:
            if incident.pages and firing and not incident.resolved:
                shown = tuple(a for a, s in incident.alerts.items() if s == "firing")
                self._tell(now_ms + GROUP_WAIT_MS, incident_id, "firing", shown)
                incident.told_ms, incident.news = now_ms, set()
            return
        if not firing:
            if not incident.resolved:
                incident.resolved, incident.told_ms, incident.pages = True, None, False
                self._tell(now_ms, incident_id, "resolved", tuple(incident.alerts))
            return
        if not incident.news:
            return
        due = incident.told_ms + GROUP_INTERVAL_MS
        if due > now_ms:
            if incident.due_ms is None:
                incident.due_ms = due
                heapq.heappush(self._due, (due, incident_id))
            return
        news = tuple(
            a for a in incident.alerts if a in incident.news and incident.alerts[a] == "firing"
        )
        incident.told_ms, incident.news = now_ms, set()
        if news:
            self._tell(now_ms, incident_id, "update", news)

    def _tell(self, at_ms: int, incident_id: str, kind: str, alerts: tuple[str, ...]) -> None:
        self.sent.append(Told(at_ms, incident_id, kind, alerts))


def carried(told: Told, events_of: dict[str, list[tuple[int, int]]]) -> Notification:
    """The notification with the IDS alerts its alerts had received by then."""
    found = tuple(
        index for alert in told.alerts for at, index in events_of.get(alert, ()) if at <= told.at_ms
    )
    return Notification(told.at_ms, told.kind, found)
