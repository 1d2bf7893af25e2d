"""A partition held back by a full stage buffer is read again at once (app.kafka_fetch)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.consumer.fetcher import Fetcher
from faust.transport.consumer import Consumer

from app import kafka_fetch

LONG_POLL_MS = 1500


class _Fetcher:
    """What the patches touch of aiokafka's fetcher."""

    _notify = Fetcher._notify

    def __init__(self, records: dict[str, Any], waiters: set[asyncio.Future[None]]) -> None:
        self._records = records
        self._fetch_max_wait_ms = LONG_POLL_MS
        self._fetch_waiters = waiters


def test_both_patches_are_applied_once() -> None:
    assert Consumer.on_buffer_drop is kafka_fetch._on_buffer_drop_and_wake
    assert Fetcher._get_actions_per_node is kafka_fetch._actions_without_long_poll_while_held


@pytest.mark.parametrize(("records", "expected_ms"), [({"tp": "held"}, 50), ({}, LONG_POLL_MS)])
def test_a_request_waits_briefly_only_while_fetched_records_wait(
    monkeypatch: pytest.MonkeyPatch, records: dict[str, Any], expected_ms: int
) -> None:
    fetcher = _Fetcher(records, set())
    seen: list[int] = []

    def unpatched(self: _Fetcher, assignment: object) -> str:
        seen.append(self._fetch_max_wait_ms)
        return "actions"

    monkeypatch.setattr(kafka_fetch, "_unpatched_actions", unpatched)
    assert kafka_fetch._actions_without_long_poll_while_held(fetcher, None) == "actions"
    assert seen == [expected_ms]
    assert fetcher._fetch_max_wait_ms == LONG_POLL_MS  # the consumer's own setting is kept


def _consumer(loop: asyncio.AbstractEventLoop, fetcher: _Fetcher, held: set[str]) -> Any:
    thread = SimpleNamespace(thread_loop=loop, _consumer=SimpleNamespace(_fetcher=fetcher))
    return SimpleNamespace(_thread=thread, _buffered_partitions=held)


def _faust_drop(self: Any, tp: str) -> None:
    self._buffered_partitions.discard(tp)


@pytest.mark.parametrize(("held", "woken"), [({"tp"}, True), (set(), False)])
def test_a_partition_put_back_wakes_the_waiting_fetch(
    monkeypatch: pytest.MonkeyPatch, held: set[str], woken: bool
) -> None:
    monkeypatch.setattr(kafka_fetch, "_unpatched_drop", _faust_drop)
    loop = asyncio.new_event_loop()
    try:
        waiter: asyncio.Future[None] = loop.create_future()
        consumer = _consumer(loop, _Fetcher({}, {waiter}), held)
        kafka_fetch._on_buffer_drop_and_wake(consumer, "tp")
        loop.run_until_complete(asyncio.sleep(0))  # the thread's loop runs the wake-up
        assert waiter.done() is woken
        assert consumer._buffered_partitions == set()
    finally:
        loop.close()


def test_no_wake_before_the_consumer_thread_started_or_after_its_loop_closed() -> None:
    kafka_fetch.wake_fetch(SimpleNamespace())  # no thread yet
    loop = asyncio.new_event_loop()
    loop.close()
    kafka_fetch.wake_fetch(_consumer(loop, _Fetcher({}, set()), set()))  # stopping: nothing raised
