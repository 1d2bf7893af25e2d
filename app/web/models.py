"""``GET /api/v1/models/{tenant}``: a tenant's online model, answered by the worker that owns it."""

from __future__ import annotations

from typing import Any

from faust.web import Request, Response, View

from app.faust_app import app, settings
from app.learning.features import ack_ratio
from app.learning.model import Learner
from app.learning.store import read
from app.runtime.partitions import partition_of
from app.topics import PARTITIONS
from app.web.http import answer, guarded, require_tenant
from app.web.routing import routed
from tables.triage import triage


def model_view(tenant: str, learner: Learner) -> dict[str, Any]:
    """What the API shows of a tenant's model: progressive validation and per-kind labels.

    >>> view = model_view("t", Learner(0.35))
    >>> view["samples"], view["roc_auc"], view["kinds"]
    (0, None, {})
    """
    kinds = {
        kind: {
            "actionable": stats["actionable"],
            "noise": stats["noise"],
            "ack_ratio": round(ack_ratio(stats), 4),
        }
        for kind, stats in learner.kinds.items()
    }
    return {
        "tenant": tenant,
        "model": "hashed features → online logistic regression (River), severity prior",
        **learner.report(),
        "digest_threshold": settings.digest_threshold,
        "kinds": kinds,
    }


@app.page("/api/v1/models/{tenant}")
class ModelView(View):
    """``GET /api/v1/models/{tenant}``: samples seen, ROC AUC, precision/recall at the threshold."""

    @routed(triage, "tenant")
    @guarded("read")
    async def get(self, request: Request, tenant: str) -> Response:
        """The model of the tenant (a tenant without feedback has an untrained one)."""
        require_tenant(tenant)
        partition = partition_of(tenant, PARTITIONS)
        learner = read(lambda key: triage.read(partition, key), tenant, settings.notify_threshold)
        return answer(self, model_view(tenant, learner))
