"""Operations endpoints: health and Prometheus metrics."""

from __future__ import annotations

from faust.exceptions import ConsumerNotStarted
from faust.web import Request, Response, View
from prometheus_client import generate_latest

from app.faust_app import app
from app.metrics import REGISTRY
from app.web.http import answer, guarded

PROMETHEUS_TEXT = "text/plain; version=0.0.4"


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
    if app.tables.recovery.in_recovery:
        return "tables are recovering from their changelogs"
    return None


@app.page("/api/v1/health")
class Health(View):
    """``GET /api/v1/health``: 200 while consuming, 503 with the reason otherwise."""

    @guarded()
    async def get(self, request: Request) -> Response:
        """The worker's health."""
        problem = consuming_problem()
        if problem:
            return answer(self, {"status": "unavailable", "reason": problem}, 503)
        return answer(self, {"status": "ok", "partitions": len(app.consumer.assignment())})


@app.page("/metrics")
class Metrics(View):
    """``GET /metrics``: Prometheus text exposition."""

    async def get(self, request: Request) -> Response:
        """Every metric of the pipeline."""
        return self.bytes(generate_latest(REGISTRY), content_type=PROMETHEUS_TEXT)
