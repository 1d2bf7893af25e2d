"""Delivery against a local server that answers 500, 429, 400 or too slowly.

Retries, backoff, Retry-After, the per-receiver rate limit and the circuit breaker are checked
on real HTTP exchanges; waits go through an injected clock so the tests run in milliseconds,
except where the real timing is the point.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from app import metrics
from app.sinks.base import Breaker, Receiver, RetryPolicy, deliver
from app.sinks.webhook import WebhookSink

MESSAGE = {"incident_id": "i1", "status": "firing", "title": "Disk full"}


class Scripted:
    """Answers each POST with the next ``(status, headers, delay)``, then 200."""

    def __init__(self) -> None:
        self.script: list[tuple[int, dict[str, str], float]] = []
        self.arrivals: list[float] = []

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        self.arrivals.append(time.monotonic())
        status, headers, delay = self.script.pop(0) if self.script else (200, {}, 0.0)
        if delay:
            await asyncio.sleep(delay)
        return web.Response(status=status, headers=headers, text=f"answer {status}")


class Clock:
    """A fake monotonic clock; ``sleep`` records the wait and moves time on."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
async def server() -> AsyncIterator[tuple[Scripted, str]]:
    fake = Scripted()
    app = web.Application()
    app.router.add_post("/hook", fake.handle)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    yield fake, str(test_server.make_url("/hook"))
    await test_server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def receiver(url: str, **options: Any) -> Receiver:
    return Receiver(WebhookSink(url, name="hook"), **options)


async def send(target: Receiver, session: Any, clock: Clock, draw: float = 1.0) -> Any:
    return await deliver(
        target, session, MESSAGE, clock=clock.time, sleep=clock.sleep, draw=lambda: draw
    )


async def test_5xx_is_retried_with_exponential_backoff(server: Any, session: Any) -> None:
    fake, url = server
    fake.script = [(500, {}, 0), (502, {}, 0), (503, {}, 0)]
    clock = Clock()
    target = receiver(url, retry=RetryPolicy(attempts=5, base_delay=0.5, max_delay=30))
    delivery = await send(target, session, clock)
    assert delivery.ok and delivery.attempts == 4
    assert clock.sleeps == [0.5, 1.0, 2.0]  # draw 1.0: the top of each full-jitter window
    assert len(fake.arrivals) == 4


async def test_full_jitter_draws_within_the_window(server: Any, session: Any) -> None:
    fake, url = server
    fake.script = [(500, {}, 0), (500, {}, 0)]
    clock = Clock()
    target = receiver(url, retry=RetryPolicy(attempts=3, base_delay=1.0))
    assert (await send(target, session, clock, draw=0.25)).ok
    assert clock.sleeps == [0.25, 0.5]


async def test_429_honours_retry_after(server: Any, session: Any) -> None:
    fake, url = server
    fake.script = [(429, {"Retry-After": "7"}, 0)]
    clock = Clock()
    delivery = await send(receiver(url), session, clock, draw=0.0)
    assert delivery.ok and delivery.attempts == 2
    assert clock.sleeps == [7.0]


async def test_retry_after_beyond_max_delay_gives_up(server: Any, session: Any) -> None:
    fake, url = server
    fake.script = [(503, {"Retry-After": "3600"}, 0)]
    clock = Clock()
    delivery = await send(receiver(url), session, clock)
    assert not delivery.ok and delivery.outcome == "retries_exhausted"
    assert delivery.attempts == 1 and clock.sleeps == []
    assert delivery.error == "HTTP 503: answer 503"


async def test_other_4xx_is_not_retried(server: Any, session: Any) -> None:
    fake, url = server
    fake.script = [(404, {}, 0)]
    clock = Clock()
    target = receiver(url, breaker=Breaker(failures=1))
    delivery = await send(target, session, clock)
    assert (delivery.ok, delivery.outcome, delivery.attempts) == (False, "rejected", 1)
    assert len(fake.arrivals) == 1
    assert target.breaker.state == "closed"  # the service is up; it disliked the request


async def test_timeouts_are_retried_then_given_up(server: Any, session: Any) -> None:
    fake, url = server
    fake.script = [(200, {}, 2.0)] * 3
    policy = RetryPolicy(attempts=3, timeout=0.2, base_delay=0.01)
    started = time.monotonic()
    delivery = await deliver(receiver(url, retry=policy), session, MESSAGE)
    elapsed = time.monotonic() - started
    assert not delivery.ok and delivery.outcome == "retries_exhausted"
    assert delivery.attempts == 3 and delivery.error == "TimeoutError"
    assert len(fake.arrivals) == 3
    assert elapsed < 1.5  # three attempts of 0.2 s, not three of 2 s


async def test_unreachable_receiver_is_retried(session: Any) -> None:
    clock = Clock()
    target = receiver("http://127.0.0.1:9/hook", retry=RetryPolicy(attempts=2))
    delivery = await send(target, session, clock)
    assert not delivery.ok and delivery.attempts == 2
    assert "ClientConnectorError" in (delivery.error or "")


async def test_circuit_breaker_opens_fails_fast_and_recovers(server: Any, session: Any) -> None:
    fake, url = server
    fake.script = [(500, {}, 0)] * 3
    clock = Clock()
    target = receiver(
        url, retry=RetryPolicy(attempts=5), breaker=Breaker(failures=3, reset_after=60)
    )

    first = await send(target, session, clock)
    assert first.outcome == "circuit_open" and first.attempts == 3
    assert target.breaker.state == "open" and len(fake.arrivals) == 3

    second = await send(target, session, clock)  # no request while open
    assert second.outcome == "circuit_open" and second.attempts == 0
    assert len(fake.arrivals) == 3

    clock.now += 60  # half-open: one trial, which the (now healthy) server answers 200
    third = await send(target, session, clock)
    assert third.ok and third.attempts == 1
    assert target.breaker.state == "closed" and len(fake.arrivals) == 4


async def test_failed_trial_reopens_the_breaker(server: Any, session: Any) -> None:
    fake, url = server
    fake.script = [(500, {}, 0)] * 3
    clock = Clock()
    target = receiver(url, retry=RetryPolicy(attempts=2), breaker=Breaker(failures=2))
    await send(target, session, clock)
    clock.now += 30
    trial = await send(target, session, clock)
    assert trial.outcome == "circuit_open" and trial.attempts == 1  # the trial failed
    assert target.breaker.state == "open"


async def test_rate_limit_spaces_sends(server: Any, session: Any) -> None:
    fake, url = server
    clock = Clock()
    target = receiver(url, rate=2.0, burst=2)
    for _ in range(5):
        assert (await send(target, session, clock)).ok
    assert clock.sleeps == [0.0, 0.0, 0.5, 0.5, 0.5]  # a burst of 2, then 2 a second
    assert len(fake.arrivals) == 5


async def test_rate_limit_refuses_a_wait_longer_than_max_delay(server: Any, session: Any) -> None:
    fake, url = server
    clock = Clock()
    target = receiver(url, rate=0.01, burst=1, retry=RetryPolicy(max_delay=30))
    assert (await send(target, session, clock)).ok
    refused = await deliver(target, session, MESSAGE, clock=clock.time, sleep=clock.sleep)
    assert refused.outcome == "rate_limited" and refused.attempts == 0
    assert len(fake.arrivals) == 1


async def test_rate_limit_in_real_time(server: Any, session: Any) -> None:
    fake, url = server
    target = receiver(url, rate=20.0, burst=1)
    started = time.monotonic()
    results = await asyncio.gather(*(deliver(target, session, MESSAGE) for _ in range(6)))
    assert all(r.ok for r in results)
    # 20 a second: the i-th send cannot reach the server before i × 50 ms
    offsets = [arrival - started for arrival in sorted(fake.arrivals)]
    assert all(offset >= i * 0.05 - 0.005 for i, offset in enumerate(offsets)), offsets
    assert len(offsets) == 6


async def test_a_refusal_during_the_trial_closes_the_breaker(server: Any, session: Any) -> None:
    fake, url = server
    fake.script = [(500, {}, 0), (400, {}, 0)]
    clock = Clock()
    target = receiver(url, retry=RetryPolicy(attempts=1), breaker=Breaker(failures=1))
    assert (await send(target, session, clock)).outcome == "retries_exhausted"
    assert target.breaker.state == "open"
    clock.now += 30
    assert (await send(target, session, clock)).outcome == "rejected"  # the service answered
    assert target.breaker.state == "closed"
    assert (await send(target, session, clock)).ok


async def test_metrics_count_each_delivery_by_its_outcome(server: Any, session: Any) -> None:
    fake, url = server
    name = f"hook-{uuid.uuid4().hex[:8]}"
    clock = Clock()

    async def count(target: Receiver) -> str:
        delivery = await send(target, session, clock)
        metrics.count_notification(name, delivery.outcome)
        return delivery.outcome

    assert await count(receiver(url)) == "success"
    fake.script = [(400, {}, 0)]
    assert await count(receiver(url)) == "rejected"
    fake.script = [(500, {}, 0)] * 2
    assert await count(receiver(url, retry=RetryPolicy(attempts=2))) == "retries_exhausted"
    fake.script = [(500, {}, 0)]
    broken = receiver(url, retry=RetryPolicy(attempts=3), breaker=Breaker(failures=1))
    assert await count(broken) == "circuit_open"
    slow = receiver(url, rate=0.01, burst=1)
    assert await count(slow) == "success"
    assert await count(slow) == "rate_limited"

    def counted(metric: str, **labels: str) -> float | None:
        return metrics.REGISTRY.get_sample_value(metric, {"receiver": name, **labels})

    assert counted("alertflow_notifications_sent_total") == 2.0  # failures are not "sent"
    failed = ("rejected", "retries_exhausted", "circuit_open", "rate_limited")
    assert {r: counted("alertflow_notifications_failed_total", reason=r) for r in failed} == {
        "rejected": 1.0,
        "retries_exhausted": 1.0,
        "circuit_open": 1.0,
        "rate_limited": 1.0,
    }
