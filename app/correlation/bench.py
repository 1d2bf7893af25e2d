"""Micro-benchmark of correlation's decisions: µs per alert, no Kafka (``make bench-unit``).

Runs :func:`~app.correlation.handler.correlate` — what the agent runs per message — over
in-memory rows, in batches of ``BATCH`` alerts as the runtime hands them over, for these
workloads (CPU time, the best of ``RUNS`` runs: the figure that other work on a busy machine
disturbed least):

- ``new``: every alert opens an incident in a group of its own;
- ``join``: alerts of 50 groups, each joining its group's live incident;
- ``storm``: every alert in a group of its own, hinted into one storm's incident;
- ``resolve``: the alerts of ``join`` resolving.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from app import collector
from app.config import Config
from app.correlation.handler import CORRELATION_EXPIRY, correlate
from app.learning.scoring import Thresholds
from app.records import Alert, Status
from app.runtime.stage import Record
from app.runtime.state import MemoryRows
from app.triage.bench import ALERTS, BATCH, RUNS, alert
from app.triage.routing import Snapshot
from tables.expiry import ExpiringRows

STORM = {"scope": "tenant t", "incident_id": "storm", "words": "alert storm: …"}


def triaged(n: int, group: str, status: Status = "firing", storm: bool = False) -> Alert:
    """The ``n``-th alert as triage passes it on, in ``group``."""
    out = alert(n, "t", status, every_ms=100)
    out["route"], out["group"] = "root", group
    out["template_id"], out["template"] = f"t{n % 300}", "Disk <*>"
    if storm:
        out["storm"] = STORM
    return out


def measure(
    make: Callable[[int], tuple[str, Any]], after: Callable[[int], Any] | None = None
) -> float:
    """CPU µs per alert to correlate ``ALERTS`` alerts made by ``make`` (after those ``after``
    makes, when given, untimed), ``BATCH`` per call: the best of ``RUNS``."""
    best = float("inf")
    for _ in range(RUNS):
        table = MemoryRows()
        if after is not None:
            _once(after, table)
        best = min(best, _once(make, table))
    return best


def _once(make: Callable[[int], tuple[str, Any]], table: MemoryRows) -> float:
    snapshot = Snapshot(Config(), Thresholds())
    spent = 0.0
    for start in range(0, ALERTS, BATCH):
        records = []
        for n in range(start, min(start + BATCH, ALERTS)):
            key, value = make(n)
            records.append(Record(key, value, n))
        started = time.process_time()
        correlate(ExpiringRows(table, CORRELATION_EXPIRY, 0), records, snapshot)
        spent += time.process_time() - started
    return spent / ALERTS * 1e6


def main() -> None:
    """Print µs per alert for each workload."""
    collector.tune()  # as the worker starts

    def join(n: int) -> tuple[str, Any]:
        return f"t|root|g{n % 50}", triaged(n, f"t|root|g{n % 50}")

    def resolve(n: int) -> tuple[str, Any]:
        return f"t|root|g{n % 50}", triaged(n, f"t|root|g{n % 50}", "resolved")

    figures = {
        "new": measure(lambda n: (f"t|root|n{n}", triaged(n, f"t|root|n{n}"))),
        "join": measure(join),
        "storm": measure(lambda n: (f"t|root|s{n}", triaged(n, f"t|root|s{n}", storm=True))),
        "resolve": measure(resolve, after=join),
    }
    for name, figure in figures.items():
        print(f"correlate {name:8} {figure:7.1f} µs/alert ({ALERTS} alerts)")


if __name__ == "__main__":
    main()
