"""When an incident must be decided again, and which sends a dead worker left in flight.

Timer rows (table ``timers``, key incident id) hold an incident's next due time in event time
and its notifications in flight: ``{"due_ms", "in_flight": [log keys]}``; only incidents with
something pending have one, so they survive restarts and move with their partition. Per
partition this worker keeps, in memory, a :class:`Timers`: the partition's event-time clock,
a :class:`DueIndex` that answers "what is due by now" without reading a row, and the sends to
check for orphans (by wall-clock time, ``resend_after`` after they started). Both indexes are
built from the partition's timer rows the first time the partition is handled after an
assignment — the one scan — and kept up to date by every call after that.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypedDict


class Timer(TypedDict):
    """A timer row."""

    due_ms: int | None
    in_flight: list[str]


class DueIndex:
    """Incident id → due time (event-time ms), answering "what is due by ``now``" cheaply.

    :meth:`due` leaves the entries in place: the caller sets each incident's next due time
    once it decided it (so a call that fails leaves them due).

    >>> index = DueIndex()
    >>> index.set("a", 10); index.set("b", 5); index.set("a", 20)  # a moved to 20
    >>> index.due(10)
    ['b']
    >>> index.due(10), len(index)
    (['b'], 2)
    >>> index.set("b", None); index.due(30)
    ['a']
    """

    def __init__(self) -> None:
        self._due: dict[str, int] = {}
        self._heap: list[tuple[int, str]] = []

    def __len__(self) -> int:
        return len(self._due)

    def set(self, incident_id: str, due_ms: int | None) -> None:
        """Record the incident's next due time; ``None`` when nothing is pending."""
        if due_ms is None:
            self._due.pop(incident_id, None)
        elif self._due.get(incident_id) != due_ms:
            self._due[incident_id] = due_ms
            heapq.heappush(self._heap, (due_ms, incident_id))

    def due(self, now_ms: int) -> list[str]:
        """The incidents due at or before ``now_ms``, in due order (stale entries go)."""
        ready: list[tuple[int, str]] = []
        while self._heap and self._heap[0][0] <= now_ms:
            due, incident_id = heapq.heappop(self._heap)
            if self._due.get(incident_id) == due and (due, incident_id) not in ready:
                ready.append((due, incident_id))
        for entry in ready:
            heapq.heappush(self._heap, entry)
        return [incident_id for _, incident_id in ready]


@dataclass
class Timers:
    """One partition's clock, due index and sends to watch for orphans (in memory)."""

    clock_ms: int = 0  # the latest event time seen in the partition
    index: DueIndex = field(default_factory=DueIndex)
    watch: list[tuple[int, str, str]] = field(default_factory=list)  # (check at ms, key, id)

    def advance(self, at_ms: int) -> int:
        """Move the partition's event time forward to ``at_ms``; return it.

        >>> t = Timers(); t.advance(5), t.advance(3)
        (5, 5)
        """
        self.clock_ms = max(self.clock_ms, at_ms)
        return self.clock_ms

    @classmethod
    def rebuilt(
        cls,
        rows: Iterable[tuple[str, Timer]],
        entry: Callable[[str], Any],
        resend_after_ms: int,
    ) -> Timers:
        """A partition's timers from its timer rows: due times, and the sends still in flight
        (``entry(key)``: their log entries) to look at ``resend_after_ms`` after they started —
        a dead worker's send is then an orphan.

        >>> t = Timers.rebuilt([("i1", {"due_ms": 50, "in_flight": ["i1|ops|firing"]})],
        ...     lambda key: {"status": "in_flight", "started_ms": 1000}, 500)
        >>> t.index.due(60), t.watch
        (['i1'], [(1500, 'i1|ops|firing', 'i1')])
        """
        found = cls()
        for incident_id, timer in rows:
            found.index.set(incident_id, timer["due_ms"])
            for key in timer["in_flight"]:
                logged = entry(key)
                if logged is not None and logged["status"] == "in_flight":
                    found.check_later(logged["started_ms"] + resend_after_ms, key, incident_id)
        return found

    def check_later(self, at_ms: int, key: str, incident_id: str) -> None:
        """Look at the send ``key`` again at wall-clock ``at_ms`` (is it an orphan?)."""
        heapq.heappush(self.watch, (at_ms, key, incident_id))

    def to_check(self, wall_ms: int) -> list[tuple[str, str]]:
        """The (key, incident id) of sends whose time to be looked at came.

        >>> t = Timers(); t.check_later(10, "k", "i"); t.to_check(5), t.to_check(10)
        ([], [('k', 'i')])
        """
        found = []
        while self.watch and self.watch[0][0] <= wall_ms:
            _, key, incident_id = heapq.heappop(self.watch)
            found.append((key, incident_id))
        return found


def updated(timer: Timer | None, due_ms: int | None, in_flight: list[str]) -> Timer | None:
    """The timer row to keep (``None``: nothing pending).

    >>> updated(None, None, []) is None, updated(None, 5, [])
    (True, {'due_ms': 5, 'in_flight': []})
    """
    if due_ms is None and not in_flight:
        return None
    return {"due_ms": due_ms, "in_flight": in_flight}


def without(timer: Any, key: str) -> Timer | None:
    """The timer row once ``key`` is no longer in flight.

    >>> without({"due_ms": None, "in_flight": ["k"]}, "k") is None
    True
    """
    if timer is None:
        return None
    return updated(timer, timer["due_ms"], [k for k in timer["in_flight"] if k != key])
