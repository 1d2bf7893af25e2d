"""Delivery results that finish together are reported to ``notify.events`` together: one
produce request and one batch message per partition, not one of each per result."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from app.notify.delivery import Deliveries
from app.runtime.batches import MAX_RECORD_BYTES, Message, Place, unpack
from app.runtime.outbox import RecordTooLarge
from app.runtime.partitions import partition_of
from app.runtime.stage import Topic

EVENTS = Topic("notify.events", 4, batched=True)


class Broker:
    """A producer that records every send and, like Kafka, refuses a message over 1 MB."""

    def __init__(self) -> None:
        self.sends: list[dict[Place, list[Message]]] = []

    async def send(self, messages: dict[Place, list[Message]]) -> dict[Place, int]:
        self.sends.append(messages)
        sizes = [len(value or b"") for sent in messages.values() for _, value, _ in sent]
        if max(sizes, default=0) > MAX_RECORD_BYTES:
            raise RecordTooLarge("too large for the broker")
        return {}


async def results(receivers: list[str]) -> tuple[Broker, list[str]]:
    """Deliver one message to each receiver (none exists: each result comes at once,
    "rejected"); the sends the broker saw and the keys reported lost."""
    broker, lost = Broker(), []
    deliveries = Deliveries(
        broker,  # type: ignore[arg-type]
        EVENTS,
        session=lambda: None,  # type: ignore[arg-type,return-value]
        lost=lambda key, incident_id: lost.append(key),
    )
    config = SimpleNamespace(receivers={}, options=SimpleNamespace(max_in_flight=8))
    for name, receiver in zip("abc", receivers, strict=True):
        message = {"receiver": receiver, "state": "firing", "notification_id": name}
        deliveries.start("inc-1", f"inc-1|{name}", message, config)  # type: ignore[arg-type]
    for _ in range(200):  # until the first send, a second at most
        if broker.sends:
            break
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.05)  # long past the linger: any later send would have happened
    return broker, lost


def test_results_that_finish_together_go_in_one_send_and_one_message() -> None:
    broker, lost = asyncio.run(results(["nobody"] * 3))
    assert lost == []
    assert len(broker.sends) == 1
    [(place, sent)] = broker.sends[0].items()
    assert place == (EVENTS.name, partition_of("inc-1", EVENTS.partitions))
    [(key, value, _)] = sent
    records = unpack(key, value)
    assert [incident for incident, _ in records] == ["inc-1"] * 3
    assert sorted(event["notification_id"] for _, event in records) == ["a", "b", "c"]
    assert {(event["kind"], event["outcome"]) for _, event in records} == {
        ("delivered", "rejected")
    }


def test_a_result_too_large_to_send_is_lost_alone_not_with_its_round() -> None:
    huge = "x" * 600_000  # the result names the receiver twice: over 1 MB
    broker, lost = asyncio.run(results(["nobody", huge, "nobody"]))
    assert lost == ["inc-1|b"]  # in flight, to be looked at again as an orphan
    assert len(broker.sends) == 1
    [sent] = broker.sends[0].values()
    assert sorted(event["notification_id"] for _, event in unpack(None, sent[0][1])) == ["a", "c"]
