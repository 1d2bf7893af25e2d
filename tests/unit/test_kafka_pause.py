"""Between rebalances, a changelog partition Faust pauses is paused in aiokafka too
(app.kafka_pause)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from faust import App
from faust.transport.consumer import Consumer
from faust.types import TP

from app import kafka_pause

CHANGELOG = "alertflow-dedup-changelog"
OWN = TP(CHANGELOG, 0)  # assigned to this worker
OTHER = TP(CHANGELOG, 1)  # not assigned here
STREAM = TP("alerts.normalized", 0)


@asynccontextmanager
async def _assigned_client() -> AsyncIterator[AIOKafkaConsumer]:
    """A real aiokafka consumer with a manual assignment (never started: pausing needs no
    broker)."""
    client = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:1")
    client.assign([TopicPartition(*OWN), TopicPartition(*STREAM)])
    try:
        yield client
    finally:
        await client.stop()


def _faust_consumer(client: AIOKafkaConsumer | None, *, rebalancing: bool = False) -> Any:
    thread = None if client is None else SimpleNamespace(_consumer=client)
    app = SimpleNamespace(tables=SimpleNamespace(changelog_topics={CHANGELOG}))
    app.rebalancing = rebalancing
    return SimpleNamespace(_thread=thread, app=app, faust=[], _paused_partitions=set())


def _faust_records(self: Any, tps: set[TP]) -> None:
    self.faust.append(tps)


def test_the_patch_is_applied_once() -> None:
    assert Consumer.pause_partitions is kafka_pause._pause_changelogs_too
    assert Consumer.resume_partitions is kafka_pause._resume_changelogs_too
    assert App.on_rebalance_end is kafka_pause._rebalance_end_and_pause


def test_an_assigned_changelog_partition_is_paused_and_resumed_in_aiokafka(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(kafka_pause, "_unpatched_pause", _faust_records)
    monkeypatch.setattr(kafka_pause, "_unpatched_resume", _faust_records)

    async def scenario() -> None:
        async with _assigned_client() as client:
            consumer = _faust_consumer(client)
            kafka_pause._pause_changelogs_too(consumer, [OWN, OTHER, STREAM])
            assert client.paused() == {TopicPartition(*OWN)}  # a stream's is Faust's alone
            kafka_pause._resume_changelogs_too(consumer, [OWN, OTHER, STREAM])
            assert client.paused() == set()
            assert consumer.faust == [{OWN, OTHER, STREAM}] * 2  # Faust's bookkeeping too

    asyncio.run(scenario())


def test_before_the_consumer_started_only_faust_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kafka_pause, "_unpatched_pause", _faust_records)
    consumer = _faust_consumer(None)
    kafka_pause._pause_changelogs_too(consumer, iter([OWN]))  # an iterator: read once
    assert consumer.faust == [{OWN}]


def test_in_a_rebalance_aiokafka_fetches_changelogs_until_it_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(kafka_pause, "_unpatched_pause", _faust_records)
    monkeypatch.setattr(kafka_pause, "_unpatched_rebalance_end", lambda app: None)

    async def scenario() -> None:
        async with _assigned_client() as client:
            consumer = _faust_consumer(client, rebalancing=True)
            kafka_pause._pause_changelogs_too(consumer, [OWN, STREAM])
            assert client.paused() == set()  # Faust's recovery may resume it any moment
            consumer._paused_partitions = {OWN, STREAM}  # what Faust holds paused at the end
            kafka_pause._rebalance_end_and_pause(SimpleNamespace(consumer=consumer))
            assert client.paused() == {TopicPartition(*OWN)}

    asyncio.run(scenario())
