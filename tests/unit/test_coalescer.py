"""The coalescer (app.runtime.coalescer), as the bridge uses it: one round is sent at a time, the
requests that arrive meanwhile go together in the next, and a failed round fails only its own
requests."""

from __future__ import annotations

import asyncio
from functools import partial

from app import topics
from app.bridge import REQUEST_TOPICS, ROUND_ITEMS
from app.prepare import Request, messages
from app.runtime.batches import Message, Place, item
from app.runtime.coalescer import Coalescer


class SlowBroker:
    """A producer whose first send waits until ``answer`` is set; records every send."""

    def __init__(self, fail_first: bool = False) -> None:
        self.sends: list[dict[Place, list[Message]]] = []
        self.answer = asyncio.Event()
        self.fail_first = fail_first

    async def send(self, messages: dict[Place, list[Message]]) -> dict[Place, int]:
        self.sends.append(messages)
        if len(self.sends) == 1:
            await self.answer.wait()
            if self.fail_first:
                raise TimeoutError("no answer")
        return {}


def request(name: str) -> Request:
    return Request([name], {0: [item("k", {"id": name})]}, [], 0)


def alert_messages(messages: dict[Place, list[Message]]) -> int:
    return len(messages.get((topics.normalized.name, 0), []))


async def sent_while_busy(fail_first: bool) -> tuple[SlowBroker, list[BaseException | None]]:
    broker = SlowBroker(fail_first)
    coalescer: Coalescer[Request] = Coalescer(
        broker,  # type: ignore[arg-type]
        partial(messages, topics=REQUEST_TOPICS),
        linger=0.001,
        most=ROUND_ITEMS,
        weight=lambda sent: len(sent.ids),
    )
    first = asyncio.ensure_future(coalescer.send(request("a")))
    while not broker.sends:  # round one is with the broker
        await asyncio.sleep(0.001)
    later = [asyncio.ensure_future(coalescer.send(request(n))) for n in ("b", "c", "d")]
    await asyncio.sleep(0.02)  # far past the linger: the broker still has round one
    assert len(broker.sends) == 1
    broker.answer.set()
    results = await asyncio.gather(first, *later, return_exceptions=True)
    return broker, [r if isinstance(r, BaseException) else None for r in results]


def test_requests_that_arrive_while_a_round_is_sent_go_together_in_the_next() -> None:
    broker, errors = asyncio.run(sent_while_busy(fail_first=False))
    assert errors == [None] * 4
    assert len(broker.sends) == 2
    second = broker.sends[1][(topics.normalized.name, 0)]
    assert alert_messages(broker.sends[1]) == 1  # one batch message ...
    assert all(name in second[0][1] for name in (b'"b"', b'"c"', b'"d"'))  # ... with all three


def test_a_failed_round_fails_its_own_requests_only() -> None:
    broker, errors = asyncio.run(sent_while_busy(fail_first=True))
    assert isinstance(errors[0], TimeoutError)
    assert errors[1:] == [None] * 3
    assert len(broker.sends) == 2
