"""A Faust GlobalTable that notes what its changelog changes, so that an index kept beside the
table (inhibition sources, compiled silences) follows it instead of reading it whole per use.

Every change reaches a GlobalTable's store through its changelog, applied by Faust's recovery
service (:meth:`apply_changelog_batch`), for this worker's own writes too.
"""

from collections.abc import Iterable
from typing import Any

import faust

CHANGES_MAX = 10_000  # keys noted at most before their follower reads the table whole again


class NotedGlobalTable(faust.GlobalTable):
    """Faust's GlobalTable that also notes the keys its changelog changes, with their values,
    once something follows them (:meth:`taken`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.changes: dict[bytes, bytes | None] = {}
        self.overflowed = False  # more changes went by than were noted
        self.followed = False

    def apply_changelog_batch(self, batch: Iterable[faust.EventT[Any]]) -> None:
        events = list(batch)
        super().apply_changelog_batch(events)
        if not self.followed:
            return
        for event in events:
            if event.message.key is not None:
                self.changes[event.message.key] = event.message.value
        if len(self.changes) > CHANGES_MAX:
            self.changes.clear()
            self.overflowed = True

    def taken(self) -> dict[bytes, bytes | None] | None:
        """The changes noted since the last call, or ``None`` when the follower must read the
        table whole (the first call, or too many went by); either way the notes start again."""
        changes = self.changes if self.followed and not self.overflowed else None
        self.changes, self.overflowed, self.followed = {}, False, True
        return changes
