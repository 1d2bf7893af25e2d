"""Faust's aiokafka consumer runs on the worker's event loop (app.kafka_inline)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from faust.transport.drivers import aiokafka as faust_aiokafka

from app import kafka_inline
from app.faust_app import app


def test_the_workers_consumer_is_served_on_its_own_loop() -> None:
    consumer: Any = app.consumer
    assert isinstance(consumer._thread, kafka_inline.LoopConsumer)
    assert consumer._thread.thread_loop is consumer.loop


def _loop_consumer() -> kafka_inline.LoopConsumer:
    consumer: Any = app.consumer
    return kafka_inline.LoopConsumer(consumer, loop=consumer.loop, thread_loop=consumer.loop)


def test_a_call_runs_in_the_callers_thread_and_loop() -> None:
    service = _loop_consumer()

    async def where() -> tuple[threading.Thread, asyncio.AbstractEventLoop]:
        return threading.current_thread(), asyncio.get_running_loop()

    async def call() -> tuple[Any, Any]:
        return await service.call_thread(where), (threading.current_thread(), service.loop)

    done, expected = service.loop.run_until_complete(call())
    assert done == expected


def test_start_raises_what_stopped_the_service_from_starting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def refuse(self: Any) -> None:
        raise ConnectionError("no broker")

    monkeypatch.setattr(faust_aiokafka.AIOKafkaConsumerThread, "on_start", refuse)
    service = _loop_consumer()
    with pytest.raises(ConnectionError, match="no broker"):
        service.loop.run_until_complete(asyncio.wait_for(service.start(), 5))
