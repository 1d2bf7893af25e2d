"""Parsing one ingest request: split, tenants checked, alerts prepared — in the worker or in a
parse process (:mod:`app.parse_pool`).

A parse process imports this module and what it needs only (the parsers, not Faust, the
stages or the configuration), and gets what the worker decides with — the caller's tenants,
the heartbeats, the partition counts — with each request, so both places decide alike. Given
where to write (``Decided.kafka``), a parse process also writes the request it prepared, with
a producer of its own (:mod:`app.runtime.blocking_producer`), and sends back only the ids.
Refusals keep their order: the body's (400) and the tenant's (403) come back at once, the
alerts' (400, 413) with the prepared request, to be raised when it is written (after a broker
outage's 503, as before).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from app import logs
from app.heartbeats import Heartbeat
from app.prepare import Partitions, Request, Topics, messages, prepare
from app.records import RawAlert
from app.runtime.blocking_producer import BlockingProducer
from app.sources import SourceError, split_alertmanager, split_alertmanager_v2, split_api

Source = Literal["alertmanager", "alertmanager_v2", "api"]


@dataclass(frozen=True)
class Refused:
    """A :class:`SourceError`, as it crosses back from a pool process."""

    code: str
    detail: str
    status: int

    def error(self) -> SourceError:
        """The error to raise."""
        return SourceError(self.code, self.detail, status=self.status)


@dataclass(frozen=True)
class Written:
    """A request its parse process wrote to Kafka itself, every message acknowledged."""

    ids: list[str]
    sources: dict[str, int]  # alerts by source, for the metrics


@dataclass(frozen=True)
class Unwritten:
    """A request the broker did not acknowledge (``why``): nothing of it is accepted."""

    why: str


@dataclass
class Parsed:
    """A request split and checked: its alerts prepared (or why they cannot be; or, in a
    parse process that writes, written), and the alerts the source refused on their own
    (Alertmanager's API v2 accepts the valid alerts of a body and names the others)."""

    prepared: Request | Refused | Written | Unwritten
    alerts: int  # alerts the source accepted
    refused: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Forbidden:
    """The caller may not act for ``tenant``, which an alert of the body names."""

    tenant: str


Result = Parsed | Forbidden | Refused


def _split(
    source: Source, body: bytes, options: dict[str, Any]
) -> tuple[list[RawAlert], list[str]]:
    """The source's alerts of ``body``, and the alerts it refused on their own."""
    if source == "alertmanager_v2":
        return split_alertmanager_v2(body, **options)
    if source == "alertmanager":
        return split_alertmanager(body, **options), []
    return split_api(body, **options), []


@dataclass(frozen=True)
class Kafka:
    """Where a parse process writes the requests it prepared."""

    bootstrap: str
    topics: Topics


@dataclass(frozen=True)
class Decided:
    """What the worker decides a request with, sent along to a parse process; ``kafka`` set,
    the parse process writes the prepared request itself."""

    tenants: frozenset[str] | None  # the caller may act for these (``None``: every tenant)
    heartbeats: Mapping[str, Heartbeat]
    partitions: Partitions
    kafka: Kafka | None = None


def parse(source: Source, body: bytes, decided: Decided, options: dict[str, Any]) -> Result:
    """Split ``body``, check its tenants (the first the caller may not act for, in sorted
    order), prepare its alerts.

    >>> decided = Decided(frozenset({"a"}), {}, Partitions(4, 4))
    >>> options = {"tenant": "a", "received_at": "2026-12-03T00:00:00Z"}
    >>> parse("api", b'{"title": "disk full", "tenant": "b"}', decided, options)
    Forbidden(tenant='b')
    >>> parse("api", b"[]", decided, options).code
    'invalid_field'
    """
    try:
        raws, refused = _split(source, body, options)
    except SourceError as error:
        return Refused(error.code, error.detail, error.status)
    for tenant in sorted({raw["tenant"] for raw in raws}):
        if decided.tenants is not None and tenant not in decided.tenants:
            return Forbidden(tenant)
    try:
        prepared: Request | Refused = prepare(raws, decided.heartbeats, decided.partitions)
    except SourceError as error:
        prepared = Refused(error.code, error.detail, error.status)
    if decided.kafka is not None and isinstance(prepared, Request) and prepared.ids:
        return Parsed(_write(prepared, decided.kafka), len(raws), refused)
    return Parsed(prepared, len(raws), refused)


_producers: dict[str, BlockingProducer] = {}  # a parse process's, by bootstrap


def _write(request: Request, kafka: Kafka) -> Written | Unwritten:
    """Write a prepared request from a parse process, as the bridge would (one batch message
    per partition); once every message is acknowledged, what the worker answers with."""
    why = _producer(kafka.bootstrap).send(messages([request], kafka.topics))
    return Written(request.ids, request.sources) if why is None else Unwritten(why)


def _producer(bootstrap: str) -> BlockingProducer:
    """This process's producer for ``bootstrap``: a new one the first time, and after a fatal
    error (a broken one's sends have failed)."""
    producer = _producers.get(bootstrap)
    if producer is None or producer.broken:
        producer = _producers[bootstrap] = BlockingProducer(bootstrap)
    return producer


def serve(parent: int, log_format: str, log_level: str, kafka: Kafka | None = None) -> None:
    """Set up a parse process: the worker's logging, Ctrl-C and SIGTERM to its process group
    left to the worker (which stops the pool), an end within a second of the worker's, even
    one killed with SIGKILL, and with ``kafka`` its producer, which learns the request topics
    on a thread of its own while the process waits for its first request."""
    logs.configure(log_format, log_level)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
    if kafka is not None:
        producer = _producer(kafka.bootstrap)
        threading.Thread(
            target=producer.learn, args=(kafka.topics,), name="producer-warm-up", daemon=True
        ).start()
