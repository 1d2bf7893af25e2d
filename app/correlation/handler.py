"""What correlation does with the records of one call, over the rows of their partition.

Correlation reads ``alerts.triaged`` keyed by correlation group: each alert is placed by its
group's session (:func:`app.correlation.group.decide`) in an incident; a new incident's id lives
in the group's partition, so the stage that places the alert keeps the incident too. The
summaries of incidents that open or close in the group go to ``incidents.opened`` keyed by
tenant, for triage's tenant-wide rules. Rows (:mod:`tables.correlation`): ``<group>`` (the
session) and ``<group>|f|<fingerprint>`` (the fingerprint's last alert and incident), each read
and written once per call and listed for expiry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from app.correlation.group import decide
from app.correlation.session import close, closed_by_person
from app.records import Alert, epoch_ms
from app.runtime.stage import Record
from app.triage.routing import Snapshot
from tables.expiry import ExpiringRows, Expiry

CORRELATION_EXPIRY = Expiry("\x00correlation")  # the correlation table's expiry buckets


@dataclass
class Placed:
    """What one call's records came to."""

    alerts: list[tuple[str, Alert, int]] = field(default_factory=list)  # incident, alert, position
    summaries: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # tenant, summary
    joined: int = 0  # new firing alerts that joined an incident which existed before


def fingerprint_key(group: str, fingerprint: str) -> str:
    """Row of a fingerprint's last alert and incident, in its group's partition.

    >>> fingerprint_key("acme|root|service=db", "9f2c")
    'acme|root|service=db|f|9f2c'
    """
    return f"{group}|f|{fingerprint}"


def correlate(
    rows: ExpiringRows, records: Sequence[Record], snapshot: Snapshot, partitions: int = 1
) -> Placed:
    """Place every alert of one call in an incident (new ones in the group's partition
    among ``partitions``)."""
    placed = Placed()
    now = None
    for record in records:
        if record.value.get("kind") == "close":  # notify: a person closed the incident
            incident = record.value["incident_id"]
            closed = close(rows.get(record.key), incident)
            if closed is not None:
                rows.put(record.key, closed)
                summary = closed_by_person(closed, incident, record.value["tenant"], record.key)
                placed.summaries.append((record.value["tenant"], summary))
            continue
        alert: Alert = record.value
        group = record.key
        key = fingerprint_key(group, alert["fingerprint"])
        window = snapshot.window(alert.get("route", ""))
        at = epoch_ms(alert["starts_at"])
        decision = decide(rows.get(group), rows.get(key), alert, window, group, at, partitions)
        if decision.changed:
            rows.put(group, decision.session)
            rows.put(key, decision.fingerprint)
        marked = decision.alert
        placed.joined += alert["status"] == "firing" and not any(
            s.get("first") for s in decision.summaries
        )
        placed.alerts.append((marked["incident_id"] or "", marked, record.position))
        placed.summaries += [(alert["tenant"], summary) for summary in decision.summaries]
        now = at if now is None else max(now, at)
    if now is not None:
        rows.sweep(now)
    rows.flush()
    return placed
