"""Which incidents of a partition are due to wake up: a heap of due times, lazily cleaned."""

from __future__ import annotations

import heapq


class DueIndex:
    """Incident id → due time (event-time ms), answering "what is due by ``now``" cheaply.

    >>> index = DueIndex()
    >>> index.set("a", 10); index.set("b", 5); index.set("a", 20)  # a moved to 20
    >>> index.pop_due(10)
    ['b']
    >>> index.set("b", None); index.pop_due(30)
    ['a']
    >>> index.pop_due(99)
    []
    """

    def __init__(self) -> None:
        self._due: dict[str, int] = {}
        self._heap: list[tuple[int, str]] = []

    def set(self, incident_id: str, due_ms: int | None) -> None:
        """Record the incident's next due time; ``None`` when nothing is pending."""
        if due_ms is None:
            self._due.pop(incident_id, None)
        elif self._due.get(incident_id) != due_ms:
            self._due[incident_id] = due_ms
            heapq.heappush(self._heap, (due_ms, incident_id))

    def pop_due(self, now_ms: int) -> list[str]:
        """The incidents due at or before ``now_ms``, in due order; they leave the index."""
        ready = []
        while self._heap and self._heap[0][0] <= now_ms:
            due, incident_id = heapq.heappop(self._heap)
            if self._due.get(incident_id) == due:  # else a stale entry of a moved due time
                del self._due[incident_id]
                ready.append(incident_id)
        return ready
