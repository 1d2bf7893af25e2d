"""A run of waiting messages of one partition is handled in one call (app.runtime.stage): its
records in order, an undecodable message dead-lettered on its own, every message acknowledged
once the window is sent."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import orjson

from app.runtime.outbox import Message, Place
from app.runtime.stage import (
    FLUSH_AFTER,
    POSITIONS_PER_OFFSET,
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


def handled(run: list[Any]) -> tuple[list[list[Record]], SentMessages, Acks]:
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
        await _handle_run(stage, run, handle, window)
        await asyncio.sleep(FLUSH_AFTER * 10)  # the window's timer sends it

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
