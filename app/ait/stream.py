"""An AIT scenario as alerts: the IDS alerts of one CSV file, in event time, and their truth.

A scenario file (``../shared/data/ait/<name>_alerts.csv.gz``; the data set's README) has one
IDS alert per line: ``time`` (Unix seconds), ``name`` (``"<detector>: <rule text>"``), ``ip``
and ``host`` (where it was seen), ``short`` (the rule's abbreviation) and two labels of the
ground truth, ``time_label`` (the attack step, or ``false_positive``) and ``event_label``.

How an IDS alert becomes a ``POST /api/v1/alerts`` alert (:func:`payload`) — what a sender
forwarding Wazuh, Suricata or AMiner alerts would post; the truth labels are never part of it:

- ``title``: the rule text (``name``); ``starts_at``: the alert's time (received then too);
- ``service``: the host, so alertflow's default grouping (tenant, service, alertname) is
  Alertmanager's ``group_by: [alertname, host]``;
- ``labels``: ``alertname`` = the rule (``short``), ``host``, ``ip`` and ``detector`` (the name's
  prefix, lower case); no ``severity``: the data set has none, so every alert is ``warning``.

Two ways to send them (:data:`MODES`): ``alerts`` — the identity is the labels (the API's
fingerprint), so dedup counts a rule's re-fires on a host into one episode until it is quiet
for the API's ``resolve_timeout``; ``events`` — every IDS alert is an alert of its own (a
``fingerprint`` per line), so dedup hides nothing and correlation alone groups them.
"""

from __future__ import annotations

import csv
import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.records import RawAlert, ms_time
from app.sources.common import raw_alert

MODES = ("alerts", "events")
NOISE = "false_positive"
EPISODE_PAUSE_MS = 30 * 60_000  # a step that pauses this long starts a new true incident
DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ait"


@dataclass(frozen=True)
class Event:
    """One IDS alert of a scenario, with its truth (``step``: ``None`` for noise)."""

    index: int
    at_ms: int
    name: str
    ip: str
    host: str
    short: str
    step: str | None


def read(path: Path) -> list[Event]:
    """The IDS alerts of a scenario file, in time order (lines of the same second as written)."""
    with gzip.open(path, "rt", newline="") as lines:
        rows = list(csv.DictReader(lines))
    rows.sort(key=lambda row: int(row["time"]))
    return [
        Event(
            index,
            int(row["time"]) * 1000,
            row["name"],
            row["ip"],
            row["host"],
            row["short"],
            None if row["time_label"] == NOISE else row["time_label"],
        )
        for index, row in enumerate(rows)
    ]


def scenarios(directory: Path = DATA) -> dict[str, Path]:
    """The scenario files of a directory, by name (``santos_alerts.csv.gz`` → ``santos``)."""
    return {p.name.split("_alerts")[0]: p for p in sorted(directory.glob("*_alerts.csv.gz"))}


def true_incidents(events: list[Event]) -> list[str | None]:
    """Each alert's true incident: its attack step, split where the step pauses for more than
    30 minutes (``"<step>#<n>"``); ``None`` for noise.

    >>> e = [Event(i, t * 60_000, "", "", "h", "r", s) for i, (t, s) in
    ...      enumerate([(0, "scan"), (10, None), (20, "scan"), (60, "scan")])]
    >>> true_incidents(e)
    ['scan#0', None, 'scan#0', 'scan#1']
    """
    last: dict[str, int] = {}
    count: dict[str, int] = {}
    found: list[str | None] = []
    for event in events:
        if event.step is None:
            found.append(None)
            continue
        if event.step in last and event.at_ms - last[event.step] > EPISODE_PAUSE_MS:
            count[event.step] = count.get(event.step, 0) + 1
        last[event.step] = event.at_ms
        found.append(f"{event.step}#{count.get(event.step, 0)}")
    return found


def payload(event: Event, mode: str) -> dict[str, Any]:
    """The ``/api/v1/alerts`` alert of an IDS alert (see the module's docstring).

    >>> p = payload(Event(7, 0, "Wazuh: Web server 400 error code.", "10.1.1.5", "web",
    ...                   "W-Acc-400", "dirb"), "events")
    >>> p["title"], p["service"], p["labels"], p["fingerprint"]
    ('Wazuh: Web server 400 error code.', 'web', {'alertname': 'W-Acc-400', 'host': 'web', \
'ip': '10.1.1.5', 'detector': 'wazuh'}, 'ait-7')
    """
    found: dict[str, Any] = {
        "title": event.name,
        "service": event.host,
        "labels": {
            "alertname": event.short,
            "host": event.host,
            "ip": event.ip,
            "detector": event.name.split(":", 1)[0].strip().lower(),
        },
        "starts_at": ms_time(event.at_ms),
    }
    if mode == "events":
        found["fingerprint"] = f"ait-{event.index}"
    return found


def raw(event: Event, mode: str, tenant: str) -> RawAlert:
    """The ``alerts.raw`` record the bridge writes for the IDS alert, received at its time."""
    return raw_alert(
        "api", payload(event, mode), {}, tenant=tenant, received_at=ms_time(event.at_ms)
    )
