"""What correlation does with the records of one message, over the rows of its partition.

Correlation reads ``alerts.triaged`` keyed by correlation group: each alert is placed by its
group's session (:func:`app.correlation.group.decide`) and goes on to ``alerts.correlated``
keyed by its incident; the summaries of incidents that open or close in the group go to
``incidents.opened`` keyed by tenant, for triage's tenant-wide rules. Rows (:mod:`tables.
correlation`): ``<group>`` (the session) and ``<group>|f|<fingerprint>`` (the fingerprint's
last alert and incident), each read and written once per call and listed for expiry.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.correlation.group import decide
from app.correlation.session import close, closed_by_person
from app.records import Alert, epoch_ms
from app.runtime.stage import Record
from app.triage.routing import Snapshot
from tables.expiry import ExpiringRows

CORRELATED = "alerts.correlated"
OPENED = "incidents.opened"

Output = tuple[str, str, Any]  # (topic, key, value)


def fingerprint_key(group: str, fingerprint: str) -> str:
    """Row of a fingerprint's last alert and incident, in its group's partition.

    >>> fingerprint_key("acme|root|service=db", "9f2c")
    'acme|root|service=db|f|9f2c'
    """
    return f"{group}|f|{fingerprint}"


def correlate(
    rows: ExpiringRows, records: Sequence[Record], snapshot: Snapshot
) -> tuple[list[Output], int]:
    """Place every alert of one message in an incident; the records to send, and how many
    new alerts joined an incident that existed before."""
    outputs: list[Output] = []
    joined = 0
    now = None
    for record in records:
        if record.value.get("kind") == "close":  # notify: a person closed the incident
            incident = record.value["incident_id"]
            closed = close(rows.get(record.key), incident)
            if closed is not None:
                rows.put(record.key, closed)
                summary = closed_by_person(closed, incident, record.value["tenant"], record.key)
                outputs.append((OPENED, record.value["tenant"], summary))
            continue
        alert: Alert = record.value
        group = record.key
        key = fingerprint_key(group, alert["fingerprint"])
        window = snapshot.window(alert.get("route", ""))
        at = epoch_ms(alert["starts_at"])
        decision = decide(rows.get(group), rows.get(key), alert, window, group, at)
        if decision.changed:
            rows.put(group, decision.session)
            rows.put(key, decision.fingerprint)
        marked = decision.alert
        joined += alert["status"] == "firing" and not any(
            s.get("first") for s in decision.summaries
        )
        outputs.append((CORRELATED, marked["incident_id"] or "", marked))
        outputs += [(OPENED, alert["tenant"], summary) for summary in decision.summaries]
        now = at if now is None else max(now, at)
    if now is not None:
        rows.sweep(now)
    rows.flush()
    return outputs, joined
