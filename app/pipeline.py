"""The stages' rules chained in memory: dedup → triage → correlation → tenant-wide merges.

What ``scripts/replay`` and ``alertflow eval`` run: the same functions the agents call —
:func:`app.dedup.handler.deduplicate` (one partition; :meth:`Pipeline.advance` is a tick),
:class:`app.triage.handler.Triage` and :func:`app.correlation.handler.correlate`, each over
in-memory rows (:class:`app.runtime.state.MemoryRows`) — in sequence, without Kafka. Every
summary correlation sends is taken by triage at once, so a merge it decides applies before
the next input; where the agents run each stage at its own pace, the same merges come a
little later.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from app.config import POLICIES, DedupPolicy
from app.correlation.handler import CORRELATION_EXPIRY, correlate
from app.dedup.handler import Policies, deduplicate
from app.identity import episode_key
from app.learning.model import Example
from app.notify.merge import merged_into
from app.records import Alert
from app.runtime.stage import Record
from app.runtime.state import MemoryRows
from app.triage.handler import DEDUPED, EVENTS, EXAMPLES, OPENED, TRIAGE_EXPIRY, TRIAGED, Triage
from app.triage.routing import Snapshot
from tables.expiry import ExpiringRows

Merge = tuple[str, dict[str, Any]]  # (absorbed incident, merge decision)


class Pipeline:
    """One partition of every stage, in memory, fed one alert at a time.

    >>> from app.config import Config
    >>> from app.learning.scoring import Thresholds
    >>> pipeline = Pipeline(Snapshot(Config(), Thresholds()), 0.35)
    >>> a = {"id": "a1", "tenant": "t", "source": "api", "status": "firing", "severity": "info",
    ...      "service": "db", "title": "Disk full on db1", "description": "", "labels": {},
    ...      "annotations": {}, "starts_at": "2026-01-01T00:00:00Z", "ends_at": None,
    ...      "received_at": "2026-01-01T00:00:00Z", "fingerprint": "f1", "group_key": None,
    ...      "template_id": None, "template": None, "duplicate_count": 1, "incident_id": None,
    ...      "score": None, "decision": None, "reasons": []}
    >>> (out,), merges = pipeline.send(a)
    >>> out["incident_id"] == pipeline.incident_of(out["incident_id"]), merges
    (True, [])
    """

    def __init__(
        self,
        snapshot: Snapshot,
        threshold: float,
        model: str = "logistic",
        policies: dict[str, DedupPolicy] = POLICIES,
    ) -> None:
        self.snapshot = snapshot
        self.policies = Policies(policies)
        self.triage = Triage(snapshot, threshold, model)
        self.dedup_rows = MemoryRows()  # episodes, bookkeeping, timeout and expiry buckets
        self.triage_rows = MemoryRows()
        self.correlation_rows = MemoryRows()
        self.into: dict[str, str] = {}  # absorbed incident → the incident it was merged into
        self._positions: Counter[str] = Counter()

    def send(self, alert: Alert) -> tuple[list[Alert], list[Merge]]:
        """One normalised alert through every stage: the correlated alerts that come out (none
        when dedup drops it, more when it releases held ones or resolves timed-out episodes)
        and the merges decided."""
        key = episode_key(alert["tenant"], alert["fingerprint"])
        return self._dedup(Record(key, alert, self._next("alerts.normalized")))

    def advance(self, now_ms: int) -> tuple[list[Alert], list[Merge]]:
        """A tick of dedup's clock at ``now_ms``: held alerts that settled and episodes that
        timed out pass on, as :meth:`send` returns them."""
        tick = {"kind": "tick", "at_ms": now_ms}
        return self._dedup(Record("", tick, self._next("alerts.normalized")))

    def _dedup(self, record: Record) -> tuple[list[Alert], list[Merge]]:
        deduped = deduplicate(self.dedup_rows, 0, [record], self.policies)
        correlated: list[Alert] = []
        merges: list[Merge] = []
        for out in deduped.outputs:
            correlated += self._through(out, merges)
        return correlated, merges

    def learn(self, examples: list[Example]) -> None:
        """Labelled examples to the tenants' models, as ``learning.examples`` brings them."""
        for example in examples:
            self._triage(EXAMPLES, example["tenant"], example)

    def incident_of(self, incident_id: str) -> str:
        """The incident ``incident_id`` is part of after the merges so far."""
        return merged_into(self.into, incident_id)

    def _through(self, alert: Alert, merges: list[Merge]) -> list[Alert]:
        correlated: list[Alert] = []
        for topic, key, value in self._triage(DEDUPED, alert["tenant"], alert):
            if topic == EVENTS:
                self._merged(key, value, merges)
                continue
            assert topic == TRIAGED
            rows = ExpiringRows(self.correlation_rows, CORRELATION_EXPIRY, 0)
            record = Record(key, value, self._next(TRIAGED))
            placed = correlate(rows, [record], self.snapshot)
            correlated += [placed_alert for _, placed_alert, _ in placed.alerts]
            for tenant, summary in placed.summaries:
                for _, absorbed, merge in self._triage(OPENED, tenant, summary):
                    self._merged(absorbed, merge, merges)
        return correlated

    def _triage(self, topic: str, key: str, value: Any) -> list[tuple[str, str, Any]]:
        rows = ExpiringRows(self.triage_rows, TRIAGE_EXPIRY, 0)
        record = Record(key, value, self._next(topic))
        return self.triage.handle(rows, topic, [record]).outputs

    def _merged(self, absorbed: str, merge: dict[str, Any], merges: list[Merge]) -> None:
        if merge["kind"] != "merge":
            return  # triage's verdict on a new incident (``judged``): nothing merged
        self.into[absorbed] = merge["into"]
        merges.append((absorbed, merge))

    def _next(self, topic: str) -> int:
        self._positions[topic] += 1
        return self._positions[topic]
