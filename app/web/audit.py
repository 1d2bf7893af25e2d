"""The audit log: every state-changing call (POST, PUT, PATCH, DELETE) → topic ``audit.log``.

One record per call, whatever its outcome (a refused token is worth knowing about)::

    {"at", "who" (token id), "role", "via" (bearer, dsn, link, open), "method", "path",
     "resource" (the path's ids), "tenant", "peer" (remote address), "status"}

The path is recorded without its query string: a signed link's ``sig`` is a capability. The
topic is kept forever (``retention.ms=-1``, not compacted) in one partition, so its offsets
order every call; ``GET /api/v1/audit`` (admin) reads it newest first.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.web import Request, Response, View

from app import topics
from app.access import Principal
from app.faust_app import app, settings
from app.records import utc_now
from app.stages import send
from app.web.http import ApiError, answer, guarded, on_every_call, query_time

TOPIC = topics.audit.name
CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_LIMIT = 1000
SCAN_CHUNK = 1000  # records read per step back through the topic
MAX_SCAN = 50_000  # records one request reads at most; next_before continues from there

log = logging.getLogger(__name__)
_pending: set[asyncio.Task[None]] = set()


def audit_record(request: Request, who: Principal, status: int) -> dict[str, Any]:
    """What the audit log keeps of one call."""
    tenant = request.query.get("tenant") or request.headers.get("X-Alertflow-Tenant")
    return {
        "at": utc_now(),
        "who": who.id,
        "role": who.role,
        "via": who.via,
        "method": request.method,
        "path": request.url.path,
        "resource": dict(request.match_info),
        "tenant": tenant if isinstance(tenant, str) and tenant.isprintable() else None,
        "peer": getattr(request, "remote", None),
        "status": status,
    }


@on_every_call
async def audit(request: Request, who: Principal, status: int) -> None:
    """Write a state-changing call to ``audit.log`` without holding up its answer."""
    if request.method not in CHANGES:
        return
    record = audit_record(request, who, status)
    task = asyncio.ensure_future(_send(record))
    _pending.add(task)
    task.add_done_callback(_pending.discard)


async def _send(record: dict[str, Any]) -> None:
    try:
        await send(topics.audit, record["who"], record)
    except Exception as exc:  # the call is done either way: say that its record is missing
        log.error("audit record not written (%r): %s", exc, record)


def keep_filter(query: Any) -> Any:
    """The predicate of ``who``, ``method``, ``path`` (prefix), ``status``, ``since``, ``until``.

    >>> keep = keep_filter({"who": "ops", "path": "/api/v1/silences"})
    >>> keep({"who": "ops", "method": "POST", "path": "/api/v1/silences/s1", "status": 202,
    ...       "at": "2026-01-01T00:00:00.000Z"})
    True
    """
    who, method, path = query.get("who"), query.get("method"), query.get("path")
    status = query.get("status")
    since, until = query_time(query.get("since"), "since"), query_time(query.get("until"), "until")

    def keep(entry: dict[str, Any]) -> bool:
        return (
            (who is None or entry.get("who") == who)
            and (method is None or entry.get("method") == method.upper())
            and (path is None or str(entry.get("path", "")).startswith(path))
            and (status is None or str(entry.get("status")) == status)
            and (since is None or str(entry.get("at", "")) >= since)
            and (until is None or str(entry.get("at", "")) <= until)
        )

    return keep


@app.page("/api/v1/audit")
class AuditLog(View):
    """``GET /api/v1/audit?who=&method=&path=&status=&since=&until=&limit=&before=``.

    Newest first; ``before`` (an offset) pages back: the answer's ``next_before`` continues
    (``null`` at the beginning of the log). Each entry carries its ``offset``.
    """

    @guarded("admin")
    async def get(self, request: Request) -> Response:
        """Entries of the audit log matching the filters."""
        keep = keep_filter(request.query)
        limit = _number(request.query.get("limit", "100"), "limit", 1, MAX_LIMIT)
        before = request.query.get("before")
        entries, next_before = await read_back(
            keep, limit, None if before is None else _number(before, "before", 0, 2**62)
        )
        return answer(self, {"entries": entries, "next_before": next_before})


async def read_back(keep: Any, limit: int, before: int | None) -> tuple[list[Any], int | None]:
    """Up to ``limit`` kept entries older than offset ``before``, newest first."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap, enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    try:
        part = TopicPartition(TOPIC, 0)
        consumer.assign([part])
        first = (await consumer.beginning_offsets([part]))[part]
        end = (await consumer.end_offsets([part]))[part]
        high = end if before is None else min(before, end)
        found: list[Any] = []
        scanned = 0
        while high > first and len(found) < limit and scanned < MAX_SCAN:
            low = max(first, high - SCAN_CHUNK)
            chunk = await _read(consumer, part, low, high)
            scanned += high - low
            for offset, value in reversed(chunk):
                if isinstance(value, dict) and keep(value):
                    found.append({**value, "offset": offset})
                    if len(found) == limit:
                        return found, offset if offset > first else None
            high = low
        return found, high if high > first else None
    finally:
        await consumer.stop()


async def _read(consumer: Any, part: Any, low: int, high: int) -> list[tuple[int, Any]]:
    consumer.seek(part, low)
    found: list[tuple[int, Any]] = []
    while True:
        batch = await consumer.getmany(part, timeout_ms=2000, max_records=SCAN_CHUNK)
        messages = batch.get(part, [])
        if not messages:
            return found  # compacted away or not readable: what there is
        for message in messages:
            if message.offset >= high:
                return found
            found.append((message.offset, _decode(message.value)))
        if messages[-1].offset + 1 >= high:
            return found


def _decode(value: bytes | None) -> Any:
    try:
        return None if value is None else orjson.loads(value)
    except orjson.JSONDecodeError:
        return None


def _number(text: str, name: str, low: int, high: int) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 19 or not low <= int(text) <= high:
        raise ApiError(400, "invalid_query", f"{name}: expected {low} to {high}, got {text[:20]!r}")
    return int(text)
