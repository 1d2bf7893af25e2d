"""Micro-benchmark of triage's decisions: µs per alert, no Kafka (``make bench-unit``).

Runs :meth:`~app.triage.handler.Triage.handle` — what the agent runs per message — over
in-memory rows, in batches of ``BATCH`` alerts as the runtime hands them over, for these
workloads (CPU time, the best of ``RUNS`` runs: the figure that other work on a busy machine
disturbed least):

- ``new``: new firing alerts of 20 tenants, a few hundred kinds of text (template, route,
  score, storm rates, co-occurrence);
- ``storm``: one tenant, every alert new and distinct at storm pace (hinted);
- ``resolve``: the alerts of ``new`` resolving;
- ``opened``: one ``incidents.opened`` summary per new incident (the tenant-wide rules), µs
  per incident.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from app import collector
from app.config import Config
from app.learning.scoring import Thresholds
from app.records import Alert, Status, ms_time
from app.runtime.stage import Record
from app.runtime.state import MemoryRows
from app.sources.common import build_alert, raw_alert
from app.triage.handler import DEDUPED, OPENED, TRIAGE_EXPIRY, Triage
from app.triage.routing import Snapshot
from tables.expiry import ExpiringRows

ALERTS = 10_000
BATCH = 256
RUNS = 3  # the best of three: the machine is shared
START_MS = 1_767_225_600_000  # 2026-01-01


def alert(n: int, tenant: str, status: Status = "firing", every_ms: int = 500) -> Alert:
    """The ``n``-th alert as dedup passes it on."""
    kind = n % 300
    at = ms_time(START_MS + n * every_ms)
    built = build_alert(
        raw_alert("alertmanager", {}, {}, tenant=tenant, received_at=at),
        fingerprint=f"f{n}",
        status=status,
        severity="warning",
        service=f"svc{kind % 40}",
        title=f"Disk usage of volume {n % 97} on host-{n} at {n % 100}% ({kind})",
        description="",
        labels={"alertname": f"Kind{kind}", "instance": f"host-{n}", "cluster": "eu-1"},
        annotations={},
        starts_at=at,
        ends_at=at if status == "resolved" else None,
        group_key=f'{{}}:{{alertname="Kind{kind}"}}',
    )
    seq = 2 if status == "resolved" else 1
    return {**built, "id": f"a{n}", "seq": seq, "fingerprint_rate": 0.0}


def summary(n: int, tenant: str) -> dict[str, Any]:
    """The ``opened`` summary of the ``n``-th new incident."""
    kind = n % 300
    return {
        "kind": "opened",
        "first": True,
        "incident_id": f"i{n}",
        "tenant": tenant,
        "group": f"{tenant}|root|Kind{kind}",
        "route": "root",
        "opened_ms": START_MS + n * 5_000,
        "at_ms": START_MS + n * 5_000,
        "gap_ms": 300_000,
        "max_ms": 4 * 3_600_000,
        "template_id": f"t{kind}",
        "template": f"Disk usage of volume <*> on <*> kind {kind}",
        "places": {"cluster": "eu-1", "instance": f"host-{n % 50}"},
        "services": [f"svc{kind % 40}"],
        "group_key": f'{{}}:{{alertname="Kind{kind}"}}',
        "storm": None,
    }


def measure(
    topic: str, make: Callable[[int], tuple[str, Any]], fresh: Callable[[], Triage]
) -> float:
    """CPU µs per record to handle ``ALERTS`` records made by ``make``, ``BATCH`` per call,
    with a ``fresh()`` stage each run: the best of ``RUNS``."""
    return min(_once(topic, make, fresh()) for _ in range(RUNS))


def _once(topic: str, make: Callable[[int], tuple[str, Any]], triage: Triage) -> float:
    table = MemoryRows()
    spent = 0.0
    position = 0
    for start in range(0, ALERTS, BATCH):
        records = []
        for n in range(start, min(start + BATCH, ALERTS)):
            key, value = make(n)
            position += 1
            records.append(Record(key, value, position))
        started = time.process_time()
        triage.handle(ExpiringRows(table, TRIAGE_EXPIRY, 0), topic, records)
        spent += time.process_time() - started
    return spent / ALERTS * 1e6


def main() -> None:
    """Print µs per alert (or incident) for each workload."""
    collector.tune()  # as the worker starts
    snapshot = Snapshot(Config(), Thresholds())

    def new(n: int) -> tuple[str, Any]:
        tenant = f"t{n % 20}"
        return tenant, alert(n, tenant, every_ms=60_000)

    def storm(n: int) -> tuple[str, Any]:
        return "t", alert(n, "t", every_ms=10)

    def resolve(n: int) -> tuple[str, Any]:
        tenant = f"t{n % 20}"
        return tenant, alert(n, tenant, "resolved", every_ms=60_000)

    def opened(n: int) -> tuple[str, Any]:
        return "t", summary(n, "t")

    def fresh() -> Triage:
        return Triage(snapshot, 0.35)

    figures = {
        "new": measure(DEDUPED, new, fresh),
        "storm": measure(DEDUPED, storm, fresh),
        "resolve": measure(DEDUPED, resolve, fresh),
        "opened": measure(OPENED, opened, fresh),
    }
    for name, figure in figures.items():
        unit = "incident" if name == "opened" else "alert"
        print(f"triage {name:8} {figure:7.1f} µs/{unit} ({ALERTS} records)")


if __name__ == "__main__":
    main()
