"""Delivery results that finish together are reported to ``notify.events`` together: one
produce request and one batch message per partition, not one of each per result."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from app.notify.delivery import Deliveries
from app.runtime.batches import unpack
from app.runtime.outbox import Message, Place
from app.runtime.partitions import partition_of
from app.runtime.stage import Topic

EVENTS = Topic("notify.events", 4, batched=True)


class Broker:
    """A producer that records every send."""

    def __init__(self) -> None:
        self.sends: list[dict[Place, list[Message]]] = []

    async def send(self, messages: dict[Place, list[Message]]) -> dict[Place, int]:
        self.sends.append(messages)
        return {}


async def three_results() -> Broker:
    broker = Broker()
    deliveries = Deliveries(
        broker,  # type: ignore[arg-type]
        EVENTS,
        session=lambda: None,  # type: ignore[arg-type,return-value]
        lost=lambda key, incident_id: None,
    )
    config = SimpleNamespace(receivers={}, options=SimpleNamespace(max_in_flight=8))
    for name in ("a", "b", "c"):  # no such receiver: each result comes at once, "rejected"
        message = {"receiver": "nobody", "state": "firing", "notification_id": name}
        deliveries.start("inc-1", f"inc-1|{name}", message, config)  # type: ignore[arg-type]
    for _ in range(200):  # until the first send, a second at most
        if broker.sends:
            break
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.05)  # long past the linger: any later send would have happened
    return broker


def test_results_that_finish_together_go_in_one_send_and_one_message() -> None:
    broker = asyncio.run(three_results())
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
