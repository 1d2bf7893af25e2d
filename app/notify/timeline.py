"""An incident's timeline: what happened to it, newest last, the last ``TIMELINE`` entries kept.

>>> t = event([], 1000, "opened")
>>> t = count_alerts(count_alerts(t, 2000, new=True, resolved=False), 3000, new=True, resolved=True)
>>> [(e["kind"], e.get("added"), e.get("resolved")) for e in t]
[('opened', None, None), ('alerts', 2, 1)]
"""

from __future__ import annotations

from typing import Any

from app.records import ms_time

TIMELINE = 50  # timeline entries kept (the oldest go)

Entry = dict[str, Any]  # {"at": RFC 3339, "kind": ..., and the kind's fields}


def appended(timeline: list[Entry], entry: Entry) -> list[Entry]:
    """The timeline with ``entry`` last (the oldest entries beyond ``TIMELINE`` go)."""
    return [*timeline, entry][-TIMELINE:]


def event(timeline: list[Entry], at_ms: int, kind: str, **fields: Any) -> list[Entry]:
    """The timeline with an entry of ``kind`` at event time ``at_ms``."""
    return appended(timeline, {"at": ms_time(at_ms), "kind": kind, **fields})


def count_alerts(timeline: list[Entry], at_ms: int, *, new: bool, resolved: bool) -> list[Entry]:
    """The timeline counting an alert added or resolved: one ``alerts`` entry per run of them."""
    if not new and not resolved:
        return timeline
    last = timeline[-1] if timeline else None
    if last is None or last["kind"] != "alerts":
        last = {"at": ms_time(at_ms), "kind": "alerts", "added": 0, "resolved": 0}
        timeline = appended(timeline, last)
    else:
        last = {**last}
        timeline = [*timeline[:-1], last]
    last["added"] += int(new)
    last["resolved"] += int(resolved)
    return timeline
