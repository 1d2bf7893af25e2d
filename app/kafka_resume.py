"""faust-streaming 0.15: messages fetched while a rebalance seeks the streams back to their
committed offsets are read again, not dropped.

Once a rebalance's table recovery is done, Faust resumes the stream partitions, seeks them to
their committed offsets, then resumes the flow, which empties every stream's buffer
(``Recovery.on_recovery_completed``; ``Recovery._resume_streams`` in an app without tables).
Recovery has already restarted the flow to read the tables' changelogs, so the stream
partitions are fetched during that seek. Their messages reach the buffers, and some are
handled. The rest are emptied out with the buffers, and the fetch goes on past them. Faust
takes the offsets it skipped for a gap, and commits over it.

Alerts accepted with 202 were lost this way. A second worker left while 50,000 alerts were
written to a stage: 1,200–4,000 of them never reached it, in 4 of 5 runs of
``tests/flow/test_flow_notify_stage.py``.

Here the flow stops first, as it does when a rebalance starts. Nothing is delivered between
the seek and the emptying, and each stream is read again from its committed offset once the
flow resumes. Importing this module applies it, once.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from functools import wraps
from typing import Any

from faust.tables.recovery import Recovery

Resume = Callable[[Recovery, int], Coroutine[Any, Any, None]]

_unpatched_completed = Recovery.on_recovery_completed
_unpatched_resume = Recovery._resume_streams


def _flow_stopped_first(resume: Resume) -> Resume:
    """``resume`` (which seeks the streams, then empties their buffers and resumes the flow)
    with the flow stopped before it starts."""

    @wraps(resume)
    async def resume_with_flow_stopped(self: Recovery, generation_id: int = 0) -> None:
        self.app.consumer.stop_flow()
        self.app.flow_control.suspend()
        await resume(self, generation_id)

    resume_with_flow_stopped.stops_flow = True  # type: ignore[attr-defined]
    return resume_with_flow_stopped


if not getattr(_unpatched_completed, "stops_flow", False):
    _completed = _flow_stopped_first(_unpatched_completed)
    _resume = _flow_stopped_first(_unpatched_resume)
    Recovery.on_recovery_completed = _completed  # type: ignore[method-assign,assignment]
    Recovery._resume_streams = _resume  # type: ignore[method-assign,assignment]
