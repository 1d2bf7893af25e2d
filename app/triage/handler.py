"""What triage does with the records of one call, over the rows of their partition.

Triage is keyed by tenant and reads three topics:

- ``alerts.deduped``: per alert, in O(1) whatever the number of incidents — its content
  template (the tenant's miner, :mod:`app.triage.templates`), its route and correlation group
  (:mod:`app.triage.routing`), its score and decision (the tenant's model,
  :mod:`app.learning.scoring`), and for a new firing alert the storm rates of its scopes and
  template co-occurrence (:mod:`app.correlation.storm`, :mod:`app.correlation.cooccurrence`);
  the alert goes on to ``alerts.triaged`` keyed by its group, with the storm's hint while its
  scope storms. A storm that starts merges the incidents of its first minute into its own.
- ``incidents.opened``: the tenant-wide rules, once per new incident
  (:mod:`app.correlation.links`); each merge goes to ``notify.events``, keyed by the incident
  it absorbs.
- ``learning.examples``: the tenant's model learns (progressive validation first).

Rows (:mod:`tables.triage`): ``<tenant>`` (storms, recent templates, incidents opened in the
last minute), ``<tenant>|r`` (rates of new alerts per scope), ``<tenant>|ph|<scope>`` (a scope's
phase), the incident index, co-occurrence counts, the miner's templates and the model's rows;
``\\x00triage|<partition>`` holds the position applied last per topic, so a replayed record
counts and learns nothing twice. A call writes the head and the phases it moved; the rates only
count, so their row is deferred (:meth:`app.runtime.state.Rows.defer`: written when a storm
starts or the scopes change, else within seconds): a crash loses at most those seconds of
counting, never a storm that started or a phase. The miner and the model stay warm in memory
between calls (:meth:`Triage.forget` drops them: after a rebalance, or a call that failed and
wrote nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from app.correlation import cooccurrence, links, phase, storm
from app.learning.features import kind_of
from app.learning.model import Example, Learner
from app.learning.novelty import NOT_NEWS, quiet_for
from app.learning.scoring import score_alert
from app.learning.store import Model
from app.records import Alert, epoch_ms
from app.runtime.stage import Record
from app.triage.routing import Snapshot
from app.triage.templates import Templates, message_text
from tables.expiry import ExpiringRows, Expiry

DEDUPED = "alerts.deduped"
OPENED = "incidents.opened"
EXAMPLES = "learning.examples"
TRIAGED = "alerts.triaged"
EVENTS = "notify.events"

Output = tuple[str, str, Any]  # (topic, key, value)
TRIAGE_EXPIRY = Expiry("\x00triage")  # the triage table's expiry buckets
HEAD_KEEP_MS = 30 * 86_400_000  # a tenant's head row, after its last alert


@dataclass
class Handled:
    """What one call produced: records to send, and the reports of models that learned."""

    outputs: list[Output] = field(default_factory=list)
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)


def head_key(tenant: str) -> str:
    """Row of a tenant's storms, recent templates and newly opened incidents."""
    return tenant


def rates_key(tenant: str) -> str:
    """Row of a tenant's rates of new alerts, per scope."""
    return f"{tenant}|r"


def phase_key(tenant: str, scope: str) -> str:
    """Row of the phase of one of a tenant's scopes."""
    return f"{tenant}|ph|{scope}"


def positions_key(partition: int) -> str:
    """Row of the positions a partition's records were applied up to, per topic."""
    return f"\x00triage|{partition}"


class Triage:
    """The triage stage's rules with its warm per-tenant miners and models."""

    def __init__(self, snapshot: Snapshot, threshold: float, model: str = "logistic") -> None:
        self.snapshot = snapshot
        self.threshold = threshold
        self.model = model
        self._templates: dict[str, Templates] = {}
        self._models: dict[str, Model] = {}

    def learners(self) -> dict[str, Learner]:
        """The warm models, by tenant."""
        return {tenant: model.learner for tenant, model in self._models.items()}

    def forget(self) -> None:
        """Drop the warm miners and models: the rows are the truth again."""
        self._templates.clear()
        self._models.clear()

    def handle(self, rows: ExpiringRows, topic: str, records: Sequence[Record]) -> Handled:
        """Handle the records of one call from ``topic``; write every row once at the end."""
        positions = rows.get(positions_key(rows.partition)) or {}
        applied = positions.get(topic, -1)
        handled = Handled()
        heads: dict[str, dict[str, Any]] = {}
        try:
            if topic == DEDUPED:
                now = self._alerts(rows, records, applied, heads, handled)
            elif topic == OPENED:
                now = self._summaries(rows, records, applied, heads, handled)
            else:
                now = self._examples(rows, records, applied, handled)
        except Exception:
            self.forget()  # the warm copies may hold what the rows will not
            raise
        for tenant, head in heads.items():
            _write(rows, tenant, head, counted=topic == DEDUPED)
        if records:
            rows.put(positions_key(rows.partition), {**positions, topic: records[-1].position})
        if now is not None:
            rows.sweep(now)
        rows.flush()
        return handled

    def _alerts(
        self,
        rows: ExpiringRows,
        records: Sequence[Record],
        applied: int,
        heads: dict[str, dict[str, Any]],
        handled: Handled,
    ) -> int | None:
        latest: dict[str, int] = {}  # tenant → its newest alert of the call
        for record in records:
            alert: Alert = record.value
            tenant = alert["tenant"]
            head = _head(rows, heads, tenant)
            at = epoch_ms(alert["starts_at"])
            latest[tenant] = max(latest.get(tenant, at), at)
            template = self._templates_of(rows, tenant).match(message_text(alert))
            alert = {**alert, "template_id": template.id, "template": template.text}
            routing = self.snapshot.routing(alert)
            learner = self._model_of(rows, tenant).learner
            quiet = NOT_NEWS
            if alert["status"] == "firing":
                fresh = record.position > applied
                quiet = quiet_for(rows, tenant, kind_of(alert), alert["service"], at, fresh)
            triaged = score_alert(learner, alert, routing.thresholds, at, quiet)
            triaged["route"] = routing.route.name
            triaged["routes"] = routing.routes
            triaged["group"] = routing.group
            triaged["config_version"] = self.snapshot.version
            if alert["status"] == "firing":
                triaged["phase"] = _phase(rows, tenant, head, triaged, at, fresh)
                hint = self._storm(rows, head, tenant, triaged, at, fresh, handled)
                if hint is not None:
                    triaged["storm"] = hint
                if fresh:
                    head["recent"] = cooccurrence.learn(
                        rows, tenant, head["recent"], template.id, at
                    )
            head["due"] = max(head.get("due", 0), at + HEAD_KEEP_MS)
            handled.outputs.append((TRIAGED, routing.group, triaged))
        for tenant, at in latest.items():
            self._templates[tenant].save(rows, tenant)
            head = heads[tenant]
            for scope in storm.prune(head["rates"], head["storms"], at):
                head["phases"].pop(scope, None)
                head["moved"].discard(scope)
                rows.delete(phase_key(tenant, scope))
            storm.quiet(head["storms"], at)
        return max(latest.values(), default=None)

    def _storm(
        self,
        rows: ExpiringRows,
        head: dict[str, Any],
        tenant: str,
        alert: Alert,
        at: int,
        fresh: bool,
        handled: Handled,
    ) -> dict[str, str] | None:
        """Count a new firing alert in its scopes' rates; the storm hint it gets, if any."""
        hint, started = storm.note(
            tenant, head["rates"], head["storms"], alert, at, fresh, alert.get("phase")
        )
        if started:
            head["put_rates"] = True
        for name in started:
            current = head["storms"][name]
            incident, merges = links.storm_started(
                rows, tenant, head, storm.scope_of(name), current
            )
            if hint is not None and hint["incident_id"] == current[0]:
                hint["incident_id"] = incident
            head["storms"][name] = [incident, *current[1:]]
            handled.outputs += [(EVENTS, absorbed, merge) for absorbed, merge in merges]
        return hint

    def _summaries(
        self,
        rows: ExpiringRows,
        records: Sequence[Record],
        applied: int,
        heads: dict[str, dict[str, Any]],
        handled: Handled,
    ) -> int | None:
        now = None
        for record in records:
            if record.position <= applied:
                continue  # applied before: its merges went out then
            summary = record.value
            tenant = summary["tenant"]
            now = summary["at_ms"] if now is None else max(now, summary["at_ms"])
            if summary["kind"] == "opened":
                merges = links.opened(rows, tenant, _head(rows, heads, tenant), summary)
                handled.outputs += [(EVENTS, absorbed, merge) for absorbed, merge in merges]
                handled.outputs += _verdict(summary, {absorbed for absorbed, _ in merges})
            else:
                links.closed(rows, tenant, summary)
        return now

    def _examples(
        self, rows: ExpiringRows, records: Sequence[Record], applied: int, handled: Handled
    ) -> int | None:
        now = None
        learned: set[str] = set()
        for record in records:
            example: Example = record.value
            tenant = example["tenant"]
            now = example["at_ms"] if now is None else max(now, example["at_ms"])
            if record.position > applied and self._model_of(rows, tenant).learner.learn(example):
                learned.add(tenant)
        for tenant in learned:
            model = self._models[tenant]
            model.save(rows, tenant)
            handled.reports[tenant] = model.learner.report()
        return now

    def _templates_of(self, rows: ExpiringRows, tenant: str) -> Templates:
        if tenant not in self._templates:
            self._templates[tenant] = Templates.load(rows, tenant)
        return self._templates[tenant]

    def _model_of(self, rows: ExpiringRows, tenant: str) -> Model:
        if tenant not in self._models:
            self._models[tenant] = Model.load(rows.get, tenant, self.threshold, self.model)
        return self._models[tenant]


def _verdict(summary: dict[str, Any], absorbed: set[str]) -> list[Output]:
    """``judged`` to a new incident that no merge took: its first page need wait no longer
    (one that a merge took hears of it by the merge).

    >>> _verdict({"first": True, "incident_id": "i1"}, set())
    [('notify.events', 'i1', {'kind': 'judged'})]
    >>> _verdict({"first": True, "incident_id": "i1"}, {"i1"})  # the merge says it
    []
    >>> _verdict({"first": False, "incident_id": "i1"}, set())  # a group joined it (again)
    []
    """
    incident = summary["incident_id"]
    if not summary.get("first") or incident in absorbed:
        return []
    return [(EVENTS, incident, {"kind": "judged"})]


def _phase(
    rows: ExpiringRows, tenant: str, head: dict[str, Any], alert: Alert, at: int, fresh: bool
) -> dict[str, int]:
    """The phase stamp of a new firing alert: its scopes' phases, advanced by it when it is
    not a replay."""
    phases: dict[str, phase.Phase] = head["phases"]
    scopes = storm.scopes(alert)
    for scope in scopes:
        if scope not in phases:
            found = rows.get(phase_key(tenant, scope))
            if found is not None:
                phases[scope] = found["phase"]
        if fresh:
            phases[scope] = phase.advance(phases.get(scope), at)
            head["moved"].add(scope)
    return phase.stamp(phases, scopes)


def _head(rows: ExpiringRows, heads: dict[str, dict[str, Any]], tenant: str) -> dict[str, Any]:
    """What this call keeps of the tenant: its head and rates rows, a copy of its own (rows are
    shared): maps and lists copied, the rates and storms in them shared — the rules replace
    those, never change them. ``phases``: the scopes' phases the call read or moved (``moved``);
    ``scopes``: the scopes of the stored rates; ``put_rates``: the rates row is written, not
    deferred (a storm started, or the rates are still in a head from before the split)."""
    if tenant not in heads:
        row = rows.get(head_key(tenant)) or {}
        counts = rows.get(rates_key(tenant))
        rates = (row if counts is None else counts).get("rates", {})  # an old head holds them
        phases = dict(row.get("phases", {})) if counts is None else {}
        heads[tenant] = {
            "rates": dict(rates),
            "scopes": set(rates),
            "storms": dict(row.get("storms", {})),
            "phases": phases,
            "moved": set(phases),
            "recent": list(row.get("recent", [])),
            "opened": list(row.get("opened", [])),
            "due": row.get("due", 0),
            "put_rates": counts is None and bool(rates),
        }
    return heads[tenant]


def _write(rows: ExpiringRows, tenant: str, head: dict[str, Any], counted: bool) -> None:
    """Write the tenant's head row and the phases the call moved; its rates row too when the
    call counted alerts (or the rates are in an old head), deferred unless a storm started or
    the scopes changed."""
    due = head["due"]
    rows.put(head_key(tenant), {key: head[key] for key in ("storms", "recent", "opened", "due")})
    for scope in head["moved"]:
        rows.put(phase_key(tenant, scope), {"phase": head["phases"][scope], "due": due})
    if counted or head["put_rates"]:
        counts = {"rates": head["rates"], "due": due}
        if head["put_rates"] or head["scopes"] != set(head["rates"]):
            rows.put(rates_key(tenant), counts)
        else:
            rows.defer(rates_key(tenant), counts)
