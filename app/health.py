"""Readiness of this worker: faults its parts report, and whether the Kafka broker answers.

Any part may report a fault by kind (``report_fault("disk", "RocksDB: No space left")``) and
clear it when it recovers; ``GET /api/v1/health`` answers 503 with every fault's reason while
one is reported. :class:`BrokerProbe` reports the ``broker`` fault itself: it asks the
bootstrap servers for their API versions four times a second; two rounds without an answer
make the broker unreachable; ingest then answers 503 at once instead of waiting on Kafka.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka.conn import AIOKafkaConnection, create_conn
from aiokafka.protocol.admin import ApiVersionRequest

BROKER = "broker"
PROBE_INTERVAL_S = 0.25
PROBE_TIMEOUT_S = 0.75
FAILED_ROUNDS = 2  # consecutive rounds without an answer before the broker counts as gone

log = logging.getLogger(__name__)
_faults: dict[str, str] = {}


def report_fault(kind: str, reason: str) -> None:
    """Mark this worker not ready because of ``kind`` (``broker``, ``disk``...), saying why.

    >>> report_fault("disk", "no space left"); faults()
    {'disk': 'no space left'}
    >>> clear_fault("disk"); faults()
    {}
    """
    if _faults.get(kind) != reason:
        log.warning("not ready: %s: %s", kind, reason)
    _faults[kind] = reason


def clear_fault(kind: str) -> None:
    """The fault of ``kind`` is over (a no-op when none was reported)."""
    if _faults.pop(kind, None) is not None:
        log.warning("ready again: %s recovered", kind)


def faults() -> dict[str, str]:
    """Kind → reason of every fault reported and not cleared."""
    return dict(_faults)


def fault(kind: str) -> str | None:
    """The reason of the fault of ``kind``, or ``None``."""
    return _faults.get(kind)


def servers(bootstrap: str) -> list[tuple[str, int]]:
    """``host:port[,host:port]`` as pairs.

    >>> servers("a:9092, b:9093")
    [('a', 9092), ('b', 9093)]
    """
    pairs = (server.strip().rpartition(":") for server in bootstrap.split(","))
    return [(host, int(port)) for host, _, port in pairs]


class BrokerProbe:
    """Asks the bootstrap servers for their API versions; reports and clears ``broker``."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.servers = servers(bootstrap)
        self.failed_rounds = 0
        self._conn: AIOKafkaConnection | None = None

    async def run(self) -> None:
        """Probe forever (a Faust task of the worker); its connection closed when stopped."""
        try:
            while True:
                await self.probe()
                await asyncio.sleep(PROBE_INTERVAL_S)
        finally:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    async def probe(self) -> None:
        """One round: any server answering clears the fault; rounds of silence report it."""
        problem = await self._ask()
        if problem is None:
            self.failed_rounds = 0
            clear_fault(BROKER)
            return
        self.failed_rounds += 1
        if self.failed_rounds >= FAILED_ROUNDS:
            report_fault(BROKER, f"no Kafka broker of {self.bootstrap} answers: {problem}")

    async def _ask(self) -> str | None:
        problem = "no server"
        for host, port in self.servers:
            try:
                async with asyncio.timeout(PROBE_TIMEOUT_S):
                    if self._conn is None or not self._conn.connected():
                        self._conn = await create_conn(
                            host, port, request_timeout_ms=int(PROBE_TIMEOUT_S * 1000)
                        )
                    await self._conn.send(ApiVersionRequest())
                return None
            except Exception as exc:  # refused, timed out, reset: the server did not answer
                problem = f"{host}:{port}: {exc!r}"
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None
        return problem
