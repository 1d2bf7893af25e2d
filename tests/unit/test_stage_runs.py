"""A run of waiting messages of one partition is handled in one call (app.runtime.stage): its
records in order, an undecodable message dead-lettered on its own, every message acknowledged
once the window is sent; a long run in slices, the event loop serving others between them."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from app.runtime import bulk
from app.runtime.batches import Message, Place
from app.runtime.stage import (
    FLUSH_AFTER,
    POSITIONS_PER_OFFSET,
    SLICE_RECORDS,
    Context,
    Record,
    Stage,
    _handle_run,
    _Window,
)


class SentMessages:
    """The producer's side of a test: what was sent, acknowledged at once."""

    def __init__(self) -> None:
        self.sent: dict[Place, list[Message]] = {}

    async def send(self, messages: dict[Place, list[Message]]) -> dict[Place, int]:
        for place, queued in messages.items():
            self.sent.setdefault(place, []).extend(queued)
        return {place: len(queued) - 1 for place, queued in messages.items()}


class Acks:
    """The stream's side: the events acknowledged."""

    def __init__(self) -> None:
        self.acked: list[int] = []

    async def ack(self, event: Any) -> bool:
        self.acked.append(event.message.offset)
        return True


def message(offset: int, value: bytes) -> Any:
    tp = ("alerts.deduped", 2)
    return SimpleNamespace(
        key=None,
        value=value,
        message=SimpleNamespace(topic=tp[0], partition=tp[1], offset=offset, tp=tp),
    )


def batch(*keys: str) -> bytes:
    return orjson.dumps({"batch": [[key, {"id": key}] for key in keys]})


def handled(run: list[Any], *, beside: Any = None) -> tuple[list[list[Record]], SentMessages, Acks]:
    producer, source = SentMessages(), Acks()
    stage = Stage(
        "probe",
        producer=producer,  # type: ignore[arg-type]
        deadletter=SimpleNamespace(name="alerts.deadletter", partitions=1, batched=False),
        observe=lambda *_: None,
        dead_lettered=lambda _: None,
        fault=lambda *_: None,
    )
    calls: list[list[Record]] = []

    def handle(ctx: Context, records: Sequence[Record]) -> None:
        assert (ctx.topic, ctx.partition) == ("alerts.deduped", 2)
        calls.append(list(records))

    async def main() -> None:
        window = _Window(stage, source, [])  # type: ignore[arg-type]
        others = asyncio.create_task(beside(calls)) if beside else None
        await _handle_run(stage, run, handle, window)
        await asyncio.sleep(FLUSH_AFTER * 10)  # the window's timer sends it
        if others:
            await others

    asyncio.run(main())
    return calls, producer, source


def test_the_records_of_a_run_reach_the_handler_in_one_call_in_order() -> None:
    calls, _, source = handled([message(7, batch("a", "b")), message(8, batch("c"))])
    assert len(calls) == 1
    assert [(r.key, r.position) for r in calls[0]] == [
        ("a", 7 * POSITIONS_PER_OFFSET),
        ("b", 7 * POSITIONS_PER_OFFSET + 1),
        ("c", 8 * POSITIONS_PER_OFFSET),
    ]
    assert source.acked == [7, 8]


def test_an_undecodable_message_of_a_run_is_dead_lettered_and_the_others_handled() -> None:
    calls, producer, source = handled(
        [message(1, batch("a")), message(2, b"not json"), message(3, batch("b"))]
    )
    assert [[r.key for r in records] for records in calls] == [["a", "b"]]
    letters = [orjson.loads(value) for _, value, _ in producer.sent[("alerts.deadletter", 0)]]
    assert [(letter["topic"], letter["value"]) for letter in letters] == [
        ("alerts.deduped", "not json")
    ]
    assert source.acked == [1, 2, 3]


def test_a_long_run_is_one_call_while_no_bulk_request_is_accepted() -> None:
    keys = [f"k{n}" for n in range(SLICE_RECORDS[1] * 3)]
    calls, _, source = handled([message(1, batch(*keys))])
    assert [[r.key for r in records] for records in calls] == [keys]
    assert source.acked == [1]


def test_a_long_run_is_sliced_while_a_bulk_request_is_accepted() -> None:
    first = SLICE_RECORDS[1]
    keys = [f"k{n}" for n in range(first * 3)]
    seen_between: list[int] = []

    async def other_task(calls: list[list[Record]]) -> None:
        seen_between.append(len(calls))  # how many calls were made when this task ran

    with bulk.accepting(bulk=True):
        calls, _, source = handled([message(1, batch(*keys))], beside=other_task)
    assert len(calls) > 1  # sliced: the first call takes SLICE_RECORDS[1] records
    assert len(calls[0]) == first
    assert [r.key for records in calls for r in records] == keys  # all, once, in order
    assert seen_between and seen_between[0] < len(calls)  # it ran before the last slice
    assert source.acked == [1]  # acknowledged once, after the last slice


def test_held_back_waits_while_a_bulk_request_is_accepted() -> None:
    async def main() -> tuple[bool, bool, bool]:
        await asyncio.wait_for(bulk.held_back(), 0.01)  # no request: at once
        with bulk.accepting(bulk=False):
            await asyncio.wait_for(bulk.held_back(), 0.01)  # a small one: at once
        with bulk.accepting(bulk=True):
            waiting = asyncio.create_task(bulk.held_back())
            await asyncio.sleep(bulk.HOLD_SECONDS / 10)
            held = not waiting.done()
        await asyncio.wait_for(waiting, bulk.HOLD_SECONDS / 10)  # released, not timed out
        return held, not bulk._waiting, bulk._accepting == 0

    assert asyncio.run(main()) == (True, True, True)


def test_held_back_never_waits_longer_than_the_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk, "HOLD_SECONDS", 0.01)

    async def main() -> bool:
        with bulk.accepting(bulk=True):  # a request that takes forever
            await asyncio.wait_for(bulk.held_back(), 1.0)
            return True

    assert asyncio.run(main())
