"""Operations endpoints: readiness, liveness and Prometheus metrics; the consumer-lag gauge."""

from __future__ import annotations

from faust.exceptions import ConsumerNotStarted
from faust.tables.manager import TableManager
from faust.transport.consumer import Consumer
from faust.web import Request, Response, View
from prometheus_client import generate_latest

from app import health, metrics
from app.faust_app import app, at_start, every, settings
from app.metrics import REGISTRY
from app.runtime.state import store_memory
from app.web.http import answer, guarded

PROMETHEUS_TEXT = "text/plain; version=0.0.4"
LAG_INTERVAL = 5.0  # seconds between two readings of the consumer lag


def consuming_problem() -> str | None:
    """Why this worker is not consuming, or ``None`` when it is."""
    if app.rebalancing:
        return "the consumer group is rebalancing"
    try:
        assigned = app.consumer.assignment()
    except ConsumerNotStarted:
        return "the Kafka consumer has not started"
    if not assigned:
        return "no partitions are assigned to this worker"
    if isinstance(app.tables, TableManager) and app.tables.recovery.in_recovery:
        return "tables are recovering from their changelogs"
    return None


@at_start
async def probe_broker() -> None:
    """Keep the ``broker`` fault of :mod:`app.health` up to date while the worker runs."""
    await health.BrokerProbe(settings.bootstrap).run()


@app.page("/api/v1/health")
class Health(View):
    """``GET /api/v1/health`` (readiness): 200 while consuming, 503 with the reasons otherwise.

    Not ready: the broker does not answer, a part reported a fault (``app.health``), or the
    consumer is not consuming (rebalancing, starting, recovering tables).
    """

    @guarded("any")
    async def get(self, request: Request) -> Response:
        """The worker's readiness."""
        faults = health.faults()
        if problem := consuming_problem():
            faults["consumer"] = problem
        if faults:
            reason = "; ".join(faults.values())
            return answer(self, {"status": "unavailable", "reason": reason, "faults": faults}, 503)
        return answer(self, {"status": "ok", "partitions": len(app.consumer.assignment())})


@app.page("/api/v1/health/live")
class Liveness(View):
    """``GET /api/v1/health/live``: 200 whenever the event loop runs, ready or not.

    No token needed (a kubelet's httpGet probe sends none): it says nothing but "alive".
    """

    @guarded("none")
    async def get(self, request: Request) -> Response:
        """Alive."""
        return answer(self, {"status": "alive"})


@app.page("/metrics")
class Metrics(View):
    """``GET /metrics``: Prometheus text exposition."""

    async def get(self, request: Request) -> Response:
        """Every metric of the pipeline."""
        return self.bytes(generate_latest(REGISTRY), content_type=PROMETHEUS_TEXT)


@every(LAG_INTERVAL)
async def export_store_memory() -> None:
    """RocksDB's memory for the tables, by kind (memtables, block cache, table readers)."""
    for kind, size in store_memory().items():
        metrics.rocksdb_memory.labels(kind).set(size)


@every(LAG_INTERVAL)
async def export_consumer_lag() -> None:
    """Lag of each partition the agents read here: high-water mark - committed offset.

    The tables' changelogs (and Faust's leader topic) are left out: the group never commits
    them, they are read only while recovering. Before the group's first commit of a
    partition its lag counts from offset 0.
    """
    consumer = app.consumer
    if not isinstance(consumer, Consumer):
        return
    try:
        assigned = consumer.assignment()
    except ConsumerNotStarted:
        return
    own = {table.changelog_topic.get_topic_name() for table in app.tables.values()}
    committed = consumer._committed_offset  # Faust keeps no public copy before a commit
    lags = {}
    for tp in assigned:
        if tp.topic in own or "__assignor" in tp.topic:
            continue
        value = metrics.lag(consumer.highwater(tp), committed.get(tp) or 0)
        if value is not None:
            lags[(tp.topic, tp.partition)] = value
    metrics.set_consumer_lag(lags)
