"""``GET /api/v1/models/{tenant}``: what triage learned of a tenant, answered by the worker that
owns it — the online model (progressive validation, per-kind labels), the rules that page
whatever the score says with their parameters, the tenant's phases and storms, and with
``?kind=&service=`` when that kind last fired on that service (the novelty rule)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from faust.web import Request, Response, View

from app.correlation import phase, storm
from app.faust_app import app, settings
from app.learning import novelty, scoring
from app.learning.features import ack_ratio
from app.learning.model import Learner
from app.learning.store import read
from app.runtime.partitions import partition_of
from app.topics import PARTITIONS
from app.triage.handler import head_key, phase_key, rates_key
from app.web.http import ApiError, answer, guarded, require_tenant
from app.web.routing import routed
from tables.triage import triage

RULES = {
    "critical": "critical severity always pages",
    "unlabelled_kind": "a kind nobody has labelled pages",
    "first_on_service": "a kind that fires on a service for the first time (in "
    f"{novelty.KEEP_MS // 86_400_000} days) pages",
    "quiet_on_service": "a kind that fires on a service after a silence of at least "
    f"{novelty.NOVEL_AFTER_MS // 3_600_000}h and {novelty.NOVEL_FACTOR:g}x its longest before "
    "pages",
    "acted_on": f"a kind people acted on at least {scoring.ACTED_ON:g} of the time pages",
    "phase": f"a pause longer than {phase.PAUSE_FACTOR}x a scope's mean gap (at least "
    f"{phase.MIN_PAUSE_MS // 1000}s, at most {phase.MAX_PAUSE_MS // 60_000}m, after "
    f"{phase.MIN_ALERTS} alerts) starts a new phase: nothing joins across it",
    "storm": f"at least {storm.STORM_MIN} new alerts a minute and {storm.STORM_FACTOR:g}x the "
    "scope's baseline + 3 sd start a storm, which lasts one phase",
}


def model_view(
    tenant: str,
    learner: Learner,
    head: dict[str, Any] | None = None,
    phases: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What the API shows of a tenant's model and of what triage keeps of its alerts: the
    storms of its head row, the phases of its scopes.

    >>> view = model_view("t", Learner(0.35), {}, {"service db": [0, 9_000, 2.0, 60]})
    >>> view["samples"], view["roc_auc"], view["kinds"], view["phases"]["service db"]
    (0, None, {}, {'since_ms': 0, 'newest_ms': 9000, 'mean_gap_ms': 2.0, 'alerts': 60, \
'pause_limit_ms': 5000})
    """
    kinds = {
        kind: {
            "actionable": stats["actionable"],
            "noise": stats["noise"],
            "ack_ratio": round(ack_ratio(stats), 4),
        }
        for kind, stats in learner.kinds.items()
    }
    head = head or {}
    shown = {
        scope: {
            "since_ms": int(p[0]),
            "newest_ms": int(p[1]),
            "mean_gap_ms": p[2],
            "alerts": int(p[3]) if len(p) > 3 else None,
            "pause_limit_ms": int(phase.pause_limit(p)),
        }
        for scope, p in (phases or {}).items()
    }
    storms = {
        scope: {"incident_id": s[0], "started_ms": s[1], "newest_ms": s[2]}
        for scope, s in head.get("storms", {}).items()
    }
    return {
        "tenant": tenant,
        "model": "hashed features → online logistic regression (River), severity prior",
        **learner.report(),
        "digest_threshold": settings.digest_threshold,
        "kinds": kinds,
        "rules": RULES,
        "phases": shown,
        "storms": storms,
    }


def quiet_view(row: dict[str, Any] | None, kind: str, service: str) -> dict[str, Any]:
    """When a kind last fired on a service, and the longest it was quiet there before.

    >>> quiet_view({"seen": 5, "gap": 7_200_000}, "W-400", "web")
    {'kind': 'W-400', 'service': 'web', 'last_fired_ms': 5, 'longest_quiet_ms': 7200000}
    >>> quiet_view(None, "W-400", "web")["last_fired_ms"] is None
    True
    """
    return {
        "kind": kind,
        "service": service,
        "last_fired_ms": None if row is None else row["seen"],
        "longest_quiet_ms": None if row is None else row.get("gap", 0),
    }


@app.page("/api/v1/models/{tenant}")
class ModelView(View):
    """``GET /api/v1/models/{tenant}``: samples seen, ROC AUC, precision/recall at the threshold,
    the rules, phases and storms; ``?kind=&service=``: the novelty of one kind on one service."""

    @routed(triage, "tenant")
    @guarded("read")
    async def get(self, request: Request, tenant: str) -> Response:
        """The model of the tenant (a tenant without feedback has an untrained one)."""
        require_tenant(tenant)
        partition = partition_of(tenant, PARTITIONS)

        def get(key: str) -> Any:
            return triage.read(partition, key)

        kind, service = request.query.get("kind"), request.query.get("service")
        if kind is not None or service is not None:
            if not kind or service is None:
                raise ApiError(400, "invalid", "kind and service: give both (service may be '')")
            row = get(novelty.quiet_key(tenant, kind, service))
            return answer(self, quiet_view(row, kind, service))
        learner = read(get, tenant, settings.notify_threshold)
        head = get(head_key(tenant))
        return answer(self, model_view(tenant, learner, head, _phases(get, tenant, head)))


def _phases(get: Callable[[str], Any], tenant: str, head: dict[str, Any] | None) -> dict[str, Any]:
    """The phases of a tenant's scopes: a row each, for the scopes of its rates row (in the
    head row written before they were split)."""
    counts = get(rates_key(tenant))
    if counts is None:
        return dict((head or {}).get("phases", {}))
    rows = {scope: get(phase_key(tenant, scope)) for scope in counts["rates"]}
    return {scope: row["phase"] for scope, row in rows.items() if row is not None}
