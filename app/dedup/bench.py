"""Micro-benchmark of dedup's decisions: µs per alert, no Kafka (``make bench-unit``).

Runs :func:`~app.dedup.handler.deduplicate` — what the agent runs per message — over in-memory
rows of one partition, in batches of ``BATCH`` alerts as the runtime hands them over, for these
workloads (CPU time, the best of ``RUNS`` runs):

- ``resend``: 500 firing alerts sent again every 30 s (Alertmanager's re-sends); in every tenth
  round half of them resolve, and fire again the round after: most records only count;
- ``new``: every alert a new fingerprint: every record opens an episode and passes.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from app import collector
from app.config import POLICIES
from app.dedup.handler import Policies, deduplicate
from app.identity import alert_id, episode_key
from app.records import Alert, Status, ms_time
from app.runtime.stage import Record
from app.runtime.state import MemoryRows
from app.sources.common import build_alert, raw_alert
from app.triage.bench import ALERTS, BATCH, RUNS, START_MS

FIRING = 500  # fingerprints of ``resend``
RESEND_MS = 30_000


def received(
    fingerprint: int, at_ms: int, status: Status = "firing", starts_ms: int = START_MS
) -> Alert:
    """Alert ``fingerprint`` of tenant ``t`` as the bridge writes it, received at ``at_ms``."""
    at = ms_time(at_ms)
    alert = build_alert(
        raw_alert("alertmanager", {}, {}, tenant="t", received_at=at),
        fingerprint=f"f{fingerprint}",
        status=status,
        severity="warning",
        service=f"svc{fingerprint % 40}",
        title=f"Disk usage on host-{fingerprint}",
        description="",
        labels={"alertname": "DiskFull", "instance": f"host-{fingerprint}"},
        annotations={},
        starts_at=ms_time(starts_ms),
        ends_at=at if status == "resolved" else None,
        group_key='{}:{alertname="DiskFull"}',
    )
    alert["id"] = alert_id("t", alert["fingerprint"], starts_ms)
    return alert


def resend(n: int) -> Alert:
    """The ``n``-th record of ``resend``."""
    fingerprint, round_ = n % FIRING, n // FIRING
    flaps = fingerprint % 2
    status: Status = "resolved" if round_ % 10 == 9 and flaps else "firing"
    starts_ms = START_MS + (round_ // 10 if flaps else 0) * 10 * RESEND_MS
    return received(fingerprint, START_MS + round_ * RESEND_MS + fingerprint, status, starts_ms)


def new(n: int) -> Alert:
    """The ``n``-th record of ``new``."""
    return received(FIRING + n, START_MS + n * 10)


def measure(make: Callable[[int], Alert]) -> float:
    """CPU µs per record to handle ``ALERTS`` records made by ``make``, ``BATCH`` per call,
    over fresh rows each run: the best of ``RUNS``."""
    return min(_once(make) for _ in range(RUNS))


def _once(make: Callable[[int], Alert]) -> float:
    rows, policies, spent = MemoryRows(), Policies(POLICIES), 0.0
    for start in range(0, ALERTS, BATCH):
        records = []
        for n in range(start, min(start + BATCH, ALERTS)):
            alert = make(n)
            records.append(Record(episode_key("t", alert["fingerprint"]), alert, n + 1))
        started = time.process_time()
        deduplicate(rows, 0, records, policies)
        spent += time.process_time() - started
    return spent / ALERTS * 1e6


def main() -> None:
    """Print µs per alert for each workload."""
    collector.tune()  # as the worker starts
    for name, make in (("resend", resend), ("new", new)):
        print(f"dedup {name:10} {measure(make):5.1f} µs/alert ({ALERTS} alerts)")
