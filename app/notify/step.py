"""One call of the notify stage: the records of one Kafka message in, rows and outputs out.

A :class:`Step` decides over the rows of one partition (:class:`Tables`, plain
:class:`~app.runtime.state.Rows`, so it runs without Kafka in tests and benchmarks). Alerts
from correlate become member rows (:mod:`app.notify.member`) and changes of their incidents
(:mod:`app.notify.incident`), folded once per incident per call; an alert of an incident that
merged into another is forwarded there, and one of another partition's incident (a storm's) is
kept here in that incident's part, its change contributed there (:mod:`app.notify.parts`).
Events (:mod:`app.notify.events`) act on members and incidents. A new incident whose opening
triage will judge (:meth:`Step.awaiting_triage`: its tenant-wide rules may merge it into another
one a hop later), and a storm's incident that its alerts open (an incident of the storm's first
minute, heard of later, may take its place), hold their first page until triage's verdict comes
(``judged`` or ``merge`` on ``notify.events``), at most ``VERDICT_WAIT_MS``: triage's merge of a
new incident never retracts a page sent a moment before. :meth:`Step.settle` then plans every
incident that changed or whose timer is due, once (:mod:`app.notify.plan`): each send is logged
``in_flight`` and listed in ``Outputs.deliveries``, which the agent starts only once the broker
acknowledged the log entry.
Rows that went stale are swept (:mod:`app.notify.retention`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.config import Config, group_labels, match
from app.learning.labels import LabelPolicy
from app.learning.model import Example
from app.notify import incident as heads
from app.notify import nflog, retention
from app.notify.feedback import label_resolve
from app.notify.incident import Change, Incident, copied
from app.notify.member import Member, apply, is_replay, published
from app.notify.muting import Muting
from app.notify.notification import notification
from app.notify.parts import is_part, part_id, whole
from app.notify.plan import plan
from app.notify.timers import Timers, updated
from app.records import Alert, epoch_ms
from app.runtime.partitions import partition_of
from app.runtime.state import Rows
from tables.expiry import Expiry

HEADS = Expiry("\x00incidents")
MEMBERS = Expiry("\x00members")
LOG = Expiry("\x00nflog")
CHILD = "\x00child|"  # rows of incidents merged into another: the contributions applied
VERDICT_WAIT_MS = 3_000  # a new incident's first page waits this long for triage at most


@dataclass(frozen=True)
class Settings:
    """What the stage decides with beside the notification configuration."""

    base_url: str
    labels: LabelPolicy


@dataclass
class Tables:
    """The rows of one partition, as one call sees them."""

    incidents: Rows  # heads (and redirects), contributions applied, expiry buckets
    members: Rows  # one per alert: the alert view
    nflog: Rows  # the notification log
    timers: Rows  # incidents with something pending


@dataclass
class Outputs:
    """What one call produced, for the agent to write."""

    enriched: list[tuple[str, dict[str, Any], int]] = field(default_factory=list)
    events: list[tuple[str, dict[str, Any], int | None]] = field(default_factory=list)
    examples: list[Example] = field(default_factory=list)
    results: list[tuple[bool, str, dict[str, Any]]] = field(default_factory=list)
    facts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    closed: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (group, close)
    inhibitors: list[tuple[str, dict[str, Any] | None]] = field(default_factory=list)
    deliveries: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    due: dict[str, int | None] = field(default_factory=dict)  # the due index once it is done
    finished: list[str] = field(default_factory=list)  # log keys whose result came in
    muted: Counter[str] = field(default_factory=Counter)
    delivered: Counter[tuple[str, str]] = field(default_factory=Counter)
    unmatched: int = 0  # feedback on an alert no partition holds


class Step:
    """The decisions of one call in one partition."""

    def __init__(
        self,
        tables: Tables,
        config: Config,
        settings: Settings,
        timers: Timers,
        *,
        partition: int,
        partitions: int,
        muting: Callable[[], Muting],
        wall_ms: int,
        running: set[str],
    ) -> None:
        self.tables = tables
        self.config = config
        self.settings = settings
        self.timers = timers
        self.partition = partition
        self.partitions = partitions
        self.wall_ms = wall_ms
        self.running = running
        self.out = Outputs()
        self._muting_of = muting
        self._muting: Muting | None = None
        self._pending: dict[str, list[Change]] = {}
        self._heads: dict[str, str | None] = {}  # incident → where it merged, as read this call
        self._expiring: list[tuple[str, int, int | None]] = []  # members to list for expiry
        self._touched: dict[str, None] = {}
        self._awaiting: set[str] = set()  # new incidents of this call that triage will judge

    @property
    def muting(self) -> Muting:
        """Silences and inhibition sources, read once per call when first needed."""
        if self._muting is None:
            self._muting = self._muting_of()
        return self._muting

    # Alerts ------------------------------------------------------------------------------

    def awaiting_triage(self, incident_ids: Iterable[str]) -> None:
        """Incidents this call opens whose ``opened`` summary goes to triage: their first page
        waits for its verdict (``judging``), at most ``VERDICT_WAIT_MS`` on the worker's clock
        (triage's lag is wall time: a backlog drains faster than its event time passed)."""
        self._awaiting.update(incident_ids)

    def alerts(self, records: Sequence[tuple[str, Alert, int]]) -> None:
        """Apply the alerts (key: incident id, alert, position) of one call; those of another
        partition's incident in its part here. A storm's incident that they open waits for
        triage too: while it is the storm's own, an incident of the storm's first minute heard
        of later takes its place (a merge)."""
        for incident_id, alert, position in records:
            storm = alert.get("storm")
            if storm is not None and storm["incident_id"] == incident_id:
                self._awaiting.add(incident_id)
            self.alert(incident_id, alert, position)

    def alert(self, incident_id: str, alert: Alert, position: int) -> None:
        """Apply one alert record: its member row, its incident (here or where it merged)."""
        before: Member | None = self.tables.members.get(alert["id"])
        home = before["home"] if before is not None else self._home(incident_id)
        into = self._merged_into(home)
        part = is_part(home)
        if is_replay(before, alert, position):
            self._resend(alert["id"], before)  # type: ignore[arg-type]
            return
        starts_ms = epoch_ms(alert["starts_at"])
        at_ms = event_ms(alert) if alert["status"] != "firing" else starts_ms
        self.timers.advance(at_ms)
        muting = self.muting
        opens = (into is None and home not in self._pending and home not in self._heads) or (
            part and before is None  # it may be the first alert its incident hears of
        )
        labels = group_labels(alert) if muting.active or opens else {}
        why = muting.why(alert["id"], labels, at_ms) if muting.active else None
        placed = whole(home)  # the incident it joined
        if muting.rules and (found := muting.track(alert["id"], labels, alert["status"], placed)):
            self.out.inhibitors.append(found)
        public = published(alert, why, into or home, placed if into not in (None, placed) else None)
        member, change = apply(
            before,
            alert,
            public,
            home=home,
            muted=why is not None,
            position=position,
            at_ms=at_ms,
            labels=labels,
        )
        if (
            change["was"] is not None
            and change["was"][0] == "firing"
            and change["now"][0] != "firing"
        ):
            member, examples = label_resolve(member, self.settings.labels)
            self.out.examples.extend(examples)
        if into is None:
            self._pending.setdefault(home, []).append(change)
        elif part:
            hinted = (alert.get("storm") or {}).get("incident_id") == placed
            member["forwarded"] = self.contribute(home, change, position, hinted)
        else:
            head = self.tables.incidents.get(home)
            member["forwarded"] = self.forward(home, head, {"change": change})
        self.put_member(alert["id"], member, before)
        self.out.enriched.append((alert["id"], public, starts_ms))
        if why is not None:
            self.out.muted["silenced" if why.startswith("silenced") else "inhibited"] += 1

    def _home(self, incident_id: str) -> str:
        """Where an alert of ``incident_id`` placed in this partition lives: the incident, or
        its part here when the incident lives in another partition."""
        if partition_of(incident_id, self.partitions) == self.partition:
            return incident_id
        return part_id(incident_id, self.partition, self.partitions)

    def _merged_into(self, incident_id: str) -> str | None:
        """The incident ``incident_id`` merged into, if it did (read once per call); the
        incident of a part."""
        if incident_id not in self._heads:
            head = self.tables.incidents.get(incident_id)
            if head is not None:
                self._heads[incident_id] = head["merged_into"]
            elif is_part(incident_id):  # its incident did not merge, as far as it was told
                self._heads[incident_id] = whole(incident_id)
            else:
                return None
        return self._heads[incident_id]

    def forward(
        self, incident_id: str, head: Incident, contribution: dict[str, Any]
    ) -> dict[str, Any]:
        """Send a contribution of a redirect incident on to the incident it joined."""
        head = {**head, "forwarded": head["forwarded"] + 1}
        self.tables.incidents.put(incident_id, head)
        event = {"kind": "adopt", "from": incident_id, "v": head["forwarded"], **contribution}
        self.out.events.append((str(head["merged_into"]), event, None))
        return event

    def contribute(self, part: str, change: Change, position: int, hinted: bool) -> dict[str, Any]:
        """Send the change of an alert kept in ``part`` to the part's incident (which forwards
        it if it merged), numbered by the record's position; ``hinted``: a storm hint names
        that incident (if the contribution opens it, its first page waits for triage)."""
        event = {"kind": "adopt", "from": part, "v": position, "change": change}
        if hinted:
            event["storm"] = True
        self.out.events.append((whole(part), event, None))
        return event

    def _resend(self, alert_id: str, member: Member) -> None:
        """A record applied already (a replay): send what it produced again."""
        alert = member["alert"]
        self.out.enriched.append((alert_id, alert, epoch_ms(alert["starts_at"])))
        if "forwarded" in member:
            home = member["home"]
            into = whole(home) if is_part(home) else self.tables.incidents.get(home)["merged_into"]
            self.out.events.append((into, member["forwarded"], None))

    # Rows ------------------------------------------------------------------------------

    def head(self, incident_id: str) -> Incident | None:
        """An incident's head with every change of this call folded in."""
        changes = self._pending.pop(incident_id, None)
        found: Incident | None = self.tables.incidents.get(incident_id)
        if changes:
            new = found is None
            found = heads.fold_all(found, changes)
            if new and incident_id in self._awaiting:
                found["judging"] = self.wall_ms + VERDICT_WAIT_MS
            self.put_head(found)
        return found

    def put_head(self, head: Incident, *, plan_it: bool = True) -> None:
        """Write a head; ``plan_it``: decide it at the end of the call."""
        self.tables.incidents.put(head["id"], head)
        if plan_it:
            self._touched[head["id"]] = None

    def put_member(self, alert_id: str, member: Member, before: Member | None) -> None:
        """Write a member row and keep it listed for expiry (listed when the call settles)."""
        self.tables.members.put(alert_id, member)
        was = None if before is None else retention.member_due(before)
        self._expiring.append((alert_id, retention.member_due(member), was))

    def fold_later(self, incident_id: str, found: Change) -> None:
        """Fold a change into a local incident with the others of this call."""
        self._pending.setdefault(incident_id, []).append(found)

    # Settling ----------------------------------------------------------------------------

    def settle(self) -> Outputs:
        """Plan what changed or is due, keep the timers, sweep what expired."""
        for incident_id in list(self._pending):
            self.head(incident_id)
        now_ms = self.timers.clock_ms
        for incident_id in self.timers.index.due(now_ms):
            self._touched.setdefault(incident_id, None)
        for incident_id in self._touched:
            self.decide(incident_id, now_ms)
        MEMBERS.schedule_many(self.tables.members, self.partition, self._expiring)
        self._sweep(now_ms)
        return self.out

    def decide(self, incident_id: str, clock_ms: int) -> None:
        """Plan one incident: log and list its sends, keep its timer and retention."""
        head = self.tables.incidents.get(incident_id)
        timer = self.tables.timers.get(incident_id)
        if head is None:
            self._keep_timer(incident_id, timer, None, timer["in_flight"] if timer else [])
            return
        now_ms = max(clock_ms, head["paged_ms"] or 0)
        planned, sends, due = plan(head, self.config, now_ms, self.wall_ms)
        head = copied(planned)  # rows are shared: never change one in place
        in_flight = list(timer["in_flight"]) if timer else []
        for send in sends:
            key = nflog.key(incident_id, send.receiver, send.state)
            if self.tables.nflog.get(key) is not None:
                continue  # logged already: sent, failed or in flight (a replay)
            notification_id = nflog.notification_id(incident_id, send.receiver, send.state)
            message = notification(head, send, notification_id, self.settings.base_url)
            self.tables.nflog.put(key, nflog.started(message, self.wall_ms))
            in_flight.append(key)
            head["logged"], evicted = retention.logged(head["logged"], key)
            for old in evicted:
                self._prune_entry(old, now_ms + retention.DAY_MS, now_ms)
            self.out.deliveries.append((incident_id, key, message))
        if head["status"] == "resolved" and head["prune_ms"] is None and head["resolved_ms"]:
            self._schedule_prune(head, clock_ms)
        self.tables.incidents.put(incident_id, head)
        self._keep_timer(incident_id, timer, due, in_flight)

    def _keep_timer(
        self, incident_id: str, timer: Any, due_ms: int | None, in_flight: list[str]
    ) -> None:
        kept = updated(timer, due_ms, in_flight)
        if kept is None and timer is not None:
            self.tables.timers.delete(incident_id)
        elif kept is not None and kept != timer:
            self.tables.timers.put(incident_id, kept)
        self.out.due[incident_id] = due_ms

    def _schedule_prune(self, head: Incident, clock_ms: int) -> None:
        """A resolved incident: when its log entries and its head go."""
        routes = match(self.config.route, head["labels"]) or [self.config.route]
        repeat = max(route.repeat_interval_ms or 0 for route in routes)
        prune_ms = retention.keep_until(head["resolved_ms"] or clock_ms, repeat)
        head["prune_ms"] = prune_ms
        for key in head["logged"]:
            self._prune_entry(key, prune_ms, clock_ms, head)
        if (due := retention.head_due(head)) is not None and due > clock_ms:
            HEADS.schedule(self.tables.incidents, self.partition, head["id"], due, None)

    def _prune_entry(
        self, key: str, due_ms: int, clock_ms: int, head: Incident | None = None
    ) -> None:
        """Let a log entry go at ``due_ms``: now when that passed and it is done, else listed."""
        entry = self.tables.nflog.get(key)
        if entry is None:
            return
        if head is None:
            entry = {**entry, "prune_ms": due_ms}
            self.tables.nflog.put(key, entry)
        if due_ms <= clock_ms and entry["status"] != "in_flight":
            self.tables.nflog.delete(key)
        elif due_ms > clock_ms:
            LOG.schedule(self.tables.nflog, self.partition, key, due_ms, None)

    def _sweep(self, now_ms: int) -> None:
        incidents = self.tables.incidents
        LOG.sweep(
            self.tables.nflog,
            self.partition,
            now_ms,
            lambda key, row: retention.entry_due(row, incidents.get(incident_of(key))),
        )
        MEMBERS.sweep(
            self.tables.members, self.partition, now_ms, lambda _, row: retention.member_due(row)
        )
        HEADS.sweep(incidents, self.partition, now_ms, _head_or_child_due)


def _head_or_child_due(key: str, row: Any) -> int | None:
    if key.startswith(CHILD):
        return int(row["at_ms"]) + retention.HEAD_KEEP_MS
    return retention.head_due(row)


def incident_of(log_key: str) -> str:
    """The incident of a notification log key.

    >>> incident_of("i1|ops|update:3")
    'i1'
    """
    return log_key.rsplit("|", 2)[0]


def child_key(incident_id: str, source: str) -> str:
    """The row of what ``incident_id`` applied of ``source``'s contributions."""
    return f"{CHILD}{incident_id}|{source}"


def event_ms(alert: Alert) -> int:
    """The alert's event time: when it resolved, else when it started.

    >>> event_ms({"status": "resolved", "starts_at": "1970-01-01T00:00:01Z",
    ...           "ends_at": "1970-01-01T00:00:02Z"})
    2000
    """
    if alert["status"] == "resolved" and alert.get("ends_at"):
        return epoch_ms(alert["ends_at"])
    return epoch_ms(alert["starts_at"])
