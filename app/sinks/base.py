"""The one interface every receiver implements, and delivery: retries, rate limit, breaker.

The policies are pure values (``RetryPolicy``, ``TokenBucket``, ``Breaker``, ``classify``);
:func:`deliver` is the thin async edge that applies them around one sink's ``send``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal, Protocol

import aiohttp
import orjson

from app.links import DEFAULT_LIFETIME_S, LinkSigner
from app.sinks.templates import MessageTemplates


class Sink(Protocol):
    """A receiver of notifications: builds the service's payload and sends it."""

    @property
    def name(self) -> str:
        """The receiver's name: unique, in metrics and the notification log."""

    async def send(
        self, session: aiohttp.ClientSession, notification: dict[str, Any]
    ) -> str | None:
        """Deliver one notification or raise (:class:`SendError` says whether to retry).

        It may answer the service's reference of the message it created (Slack's ``ts``),
        which later notifications of the incident get as ``thread``.
        """


class SendError(Exception):
    """One failed attempt: whether another attempt may succeed, and not before when."""

    def __init__(self, detail: str, *, retry: bool, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.retry = retry
        self.retry_after = retry_after


def classify(status: int, body: str = "", retry_after: str | None = None) -> SendError | None:
    """The verdict on an HTTP answer: ``None`` for 2xx, else an error that may be retried.

    429 and 5xx are retried (after ``Retry-After`` seconds when given); other 4xx are not.

    >>> classify(204) is None
    True
    >>> e = classify(429, "slow down", "7"); (e.retry, e.retry_after, str(e))
    (True, 7.0, 'HTTP 429: slow down')
    >>> classify(503).retry, classify(400, "invalid_payload").retry
    (True, False)
    """
    if 200 <= status < 300:
        return None
    detail = f"HTTP {status}: {body.strip()[:200]}" if body.strip() else f"HTTP {status}"
    retry = status == 429 or status == 408 or status >= 500
    return SendError(detail, retry=retry, retry_after=parse_retry_after(retry_after))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date.

    >>> parse_retry_after("2.5"), parse_retry_after(None), parse_retry_after("soon")
    (2.5, None, None)
    >>> now = datetime(2015, 10, 21, 7, 28, tzinfo=UTC)
    >>> parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now)
    30.0
    """
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts per notification, the time limit of each, and exponential backoff."""

    attempts: int = 4
    timeout: float = 10.0
    base_delay: float = 0.5
    max_delay: float = 30.0

    def delay(self, attempt: int, draw: float, retry_after: float | None = None) -> float | None:
        """Seconds before attempt ``attempt + 1``: full jitter, ``Retry-After`` as a floor.

        ``None`` when the service asks for a longer pause than ``max_delay`` (give up now
        rather than stall the stream).

        >>> p = RetryPolicy(base_delay=1, max_delay=10)
        >>> p.delay(1, 0.5), p.delay(3, 1.0), p.delay(9, 1.0)
        (0.5, 4.0, 10.0)
        >>> p.delay(1, 0.0, retry_after=3), p.delay(1, 0.0, retry_after=60)
        (3, None)
        """
        if retry_after is not None and retry_after > self.max_delay:
            return None
        backoff = draw * min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        return max(backoff, retry_after or 0.0)


@dataclass(frozen=True)
class TokenBucket:
    """Per-receiver rate limit: ``rate`` sends a second on average, bursts up to ``burst``.

    :meth:`take` reserves a token and says how long to wait for it; tokens below zero are
    reservations of sends already promised.

    >>> b = TokenBucket(rate=1, burst=2, tokens=2, updated=0)
    >>> b, wait = b.take(now=0); wait
    0.0
    >>> b, wait = b.take(now=0); wait
    0.0
    >>> b, wait = b.take(now=0.5); wait
    0.5
    >>> b.take(now=0.5, max_wait=1.0)[1] is None  # would wait 1.5 s
    True
    """

    rate: float
    burst: float
    tokens: float
    updated: float

    @classmethod
    def full(cls, rate: float, burst: float, now: float) -> TokenBucket:
        """A bucket with every token available."""
        return cls(rate, burst, burst, now)

    def take(self, now: float, max_wait: float = float("inf")) -> tuple[TokenBucket, float | None]:
        """The bucket after reserving one token, and the wait; ``None``: wait too long."""
        tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        wait = max(0.0, (1 - tokens) / self.rate)
        if wait > max_wait:
            return replace(self, tokens=tokens, updated=now), None
        return replace(self, tokens=tokens - 1, updated=now), wait


BreakerState = Literal["closed", "open", "half-open"]


@dataclass(frozen=True)
class Breaker:
    """Circuit breaker: after ``failures`` failed attempts in a row the receiver is skipped
    for ``reset_after`` seconds; then one trial attempt decides (closed again, or open).

    >>> b = Breaker(failures=2, reset_after=10)
    >>> b = b.record(False, now=0).record(False, now=1); b.state
    'open'
    >>> b.allow(now=5)
    (Breaker(failures=2, reset_after=10, state='open', failed=2, since=1), False)
    >>> b, ok = b.allow(now=11); b.state, ok
    ('half-open', True)
    >>> b.allow(now=11)[1]  # one trial at a time
    False
    >>> b.record(True, now=12).state, b.record(False, now=12).state
    ('closed', 'open')
    """

    failures: int = 5
    reset_after: float = 30.0
    state: BreakerState = "closed"
    failed: int = 0
    since: float = 0.0

    def allow(self, now: float) -> tuple[Breaker, bool]:
        """Whether an attempt may go out now (and the breaker after saying so)."""
        if self.state == "closed":
            return self, True
        if self.state == "open" and now - self.since >= self.reset_after:
            return replace(self, state="half-open", since=now), True
        return self, False

    def record(self, ok: bool, now: float) -> Breaker:
        """The breaker after an attempt succeeded or failed (failures the service's own)."""
        if ok:
            return replace(self, state="closed", failed=0, since=now)
        failed = self.failed + 1
        if self.state == "half-open" or failed >= self.failures:
            return replace(self, state="open", failed=failed, since=now)
        return replace(self, failed=failed)


@dataclass
class Receiver:
    """A named sink with its delivery policy and the live state of its limiter and breaker."""

    sink: Sink
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    rate: float | None = None  # sends per second; None: unlimited
    burst: float = 1.0
    breaker: Breaker = field(default_factory=Breaker)
    bucket: TokenBucket | None = None
    links: LinkSigner = field(default_factory=lambda: LinkSigner(None, DEFAULT_LIFETIME_S))
    send_resolved: bool = True  # False: a resolved notification is not sent (Alertmanager's)
    templates: MessageTemplates = field(default_factory=MessageTemplates)

    @property
    def name(self) -> str:
        """The receiver's name (the sink's)."""
        return self.sink.name

    async def send(
        self, session: aiohttp.ClientSession, notification: dict[str, Any]
    ) -> str | None:
        """One attempt, without the policies (:func:`deliver` applies them).

        A resolved notification to a receiver with ``send_resolved: false`` is done without
        being sent; the receiver's ``title``/``body`` templates are rendered here.
        """
        if not self.send_resolved and notification.get("status") == "resolved":
            return None
        rendered = self.templates.apply(notification)
        return await self.sink.send(
            session, with_actions(rendered, self.links, time.time(), by=f"link:{self.name}")
        )


def with_actions(
    notification: dict[str, Any], links: LinkSigner, now: float, by: str = "signed link"
) -> dict[str, Any]:
    """The notification with signed Acknowledge/Resolve links (``actions``) when a token is set.

    Built at each attempt, so a re-send after a crash carries links valid from then on.

    >>> n = {"incident_id": "i1", "status": "firing", "url": "https://af/api/v1/incidents/i1"}
    >>> with_actions(n, LinkSigner(None), now=0) is n
    True
    >>> with_actions(n, LinkSigner("t", 60), now=0, by="ops")["actions"]["resolve"].split("&")[1:]
    ['exp=60', 'by=ops']
    """
    if links.token is None or not notification.get("url") or not notification.get("incident_id"):
        return notification
    actions = links.actions(notification["url"], str(notification["incident_id"]), now, by)
    return {**notification, "actions": actions}


Outcome = Literal["success", "rejected", "retries_exhausted", "circuit_open", "rate_limited"]


@dataclass(frozen=True)
class Delivery:
    """How one notification ended after its retries."""

    ok: bool
    attempts: int
    error: str | None = None
    outcome: Outcome = "success"
    reference: str | None = None  # the service's id of the message it created (Slack's ts)


async def deliver(
    sink: Sink,
    session: aiohttp.ClientSession,
    notification: dict[str, Any],
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    draw: Callable[[], float] = random.random,
) -> Delivery:
    """Send with the receiver's rate limit, breaker, timeout and retries; never raise.

    A plain sink gets the default policy and no rate limit.
    """
    receiver = sink if isinstance(sink, Receiver) else Receiver(sink)
    policy = receiver.retry
    if receiver.rate is not None:
        now = clock()
        bucket = receiver.bucket or TokenBucket.full(receiver.rate, receiver.burst, now)
        receiver.bucket, wait = bucket.take(now, max_wait=policy.max_delay)
        if wait is None:
            return Delivery(False, 0, "rate limit: no send slot soon enough", "rate_limited")
        await sleep(wait)
    error = ""
    for attempt in range(1, policy.attempts + 1):
        receiver.breaker, allowed = receiver.breaker.allow(clock())
        if not allowed:
            detail = f"circuit open after {receiver.breaker.failed} failed attempts"
            return Delivery(
                False, attempt - 1, f"{detail}; last: {error}" if error else detail, "circuit_open"
            )
        try:
            async with asyncio.timeout(policy.timeout):
                reference = await receiver.send(session, notification)
        except SendError as exc:
            failure = exc
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            failure = SendError(
                f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, retry=True
            )
        else:
            receiver.breaker = receiver.breaker.record(True, clock())
            return Delivery(True, attempt, reference=reference)
        error = str(failure)
        if not failure.retry:  # the service is up and refuses this message: no retry
            receiver.breaker = receiver.breaker.record(True, clock())
            return Delivery(False, attempt, error, "rejected")
        receiver.breaker = receiver.breaker.record(False, clock())
        pause = policy.delay(attempt, draw(), failure.retry_after)
        if pause is None or attempt == policy.attempts:
            return Delivery(False, attempt, error, "retries_exhausted")
        await sleep(pause)
    return Delivery(False, policy.attempts, error, "retries_exhausted")


async def post_json(
    session: aiohttp.ClientSession,
    url: str,
    payload: Any,
    headers: Mapping[str, str] | None = None,
) -> str:
    """POST ``payload`` as JSON; return the answer's text or raise :class:`SendError`."""
    return await post_bytes(session, url, orjson.dumps(payload), headers)


async def post_bytes(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: Mapping[str, str] | None = None,
) -> str:
    """POST a JSON body already encoded (e.g. because it is signed)."""
    all_headers = {"Content-Type": "application/json", "User-Agent": "alertflow", **(headers or {})}
    async with session.post(url, data=body, headers=all_headers) as answer:
        text = await answer.text(errors="replace")
        if error := classify(answer.status, text, answer.headers.get("Retry-After")):
            raise error
        return text
