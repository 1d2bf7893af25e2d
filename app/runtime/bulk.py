"""Bulk requests first: while a large request is being accepted, the stages hold back.

The HTTP bridge and the stages share one event loop. During a storm's bulk posts the stages
have a backlog and take most of the loop, and a request needs many turns of it (the body, the
parse, the produce, the broker's answer), so accepting slowed to a third of what the loop
allows. While a bulk request is being accepted (:func:`accepting`), a stage waits before each
call until none is, but never longer than ``HOLD_SECONDS``: the storm gets into Kafka first
(Prometheus drops alerts when its queue to us is full) and the stages still advance.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

HOLD_SECONDS = 0.05  # a stage waits at most this long before a call while bulk requests run

_accepting = 0  # bulk requests being accepted
_waiting: set[asyncio.Future[None]] = set()  # stages holding back


@contextlib.contextmanager
def accepting(bulk: bool) -> Iterator[None]:
    """The stages hold back while this block runs, when ``bulk``."""
    global _accepting
    if not bulk:
        yield
        return
    _accepting += 1
    try:
        yield
    finally:
        _accepting -= 1
        if not _accepting:
            for waiter in _waiting:
                if not waiter.done():
                    waiter.set_result(None)


def accepting_now() -> bool:
    """Whether a bulk request is being accepted."""
    return _accepting > 0


async def held_back() -> None:
    """Wait (at most ``HOLD_SECONDS``) until no bulk request is being accepted."""
    if not _accepting:
        return
    waiter = asyncio.get_running_loop().create_future()
    _waiting.add(waiter)
    try:
        await asyncio.wait_for(waiter, HOLD_SECONDS)
    except TimeoutError:
        pass
    finally:
        _waiting.discard(waiter)
