"""``/api/v1/actions``: the runs of action receivers, their approvals, rollbacks, the kill switch.

Every run lives on the worker that owns ``actions.events`` (one partition); reads are answered
there (forwarded when another worker is asked), writes go to ``actions.events`` as records the
``actions`` agent decides on (:mod:`agents.actions`).

- ``GET /api/v1/actions?incident_id=&status=`` — runs, oldest first; ``GET /api/v1/actions/{id}``
- ``GET /api/v1/actions/{id}/approve|reject?sig=&exp=`` — the page of a signed approval link:
  what would run, and a button; it never acts by itself (chat apps fetch links to preview them)
- ``POST /api/v1/actions/{id}/approve|reject`` — with the link's ``sig``/``exp`` or the token
- ``POST /api/v1/actions/{id}/rollback`` — a person asks for the rollback (token only)
- ``GET`` / ``PUT /api/v1/actions/kill-switch`` — ``{engaged, reason?, by?}``
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from functools import wraps
from html import escape
from typing import Any
from urllib.parse import urlencode

from faust.web import Request, Response, View
from yarl import URL

from app.actions import runs
from app.actions.approval import DECISIONS, verify
from app.actions.plan import describe
from app.actions.submit import send_event
from app.faust_app import app, settings
from app.links import LinkError
from app.records import ms_time
from app.web.http import ApiError, act_as, answer, authenticate, guarded, read_json
from app.web.pages import CAPABILITY_HEADERS, page
from app.web.routing import forward, owner_of, routed
from tables.actions import actions as actions_table

RUNS_KEY = "runs"  # any key: the table has one partition, so one owner
STATUSES = (
    *(*runs.FINAL, "requested", "awaiting_approval", *runs.IN_FLIGHT, *runs.ROLLBACK_FROM),
    *("rolled_back", "rollback_failed", "rollback_unknown"),
)
Handler = Callable[..., Awaitable[Response]]


async def actions_of(incident_id: str) -> list[dict[str, Any]]:
    """The runs of the incident's actions, oldest first (``GET /api/v1/incidents/{id}``)."""
    owner = await _owner()
    if owner is None:
        return local_runs(incident_id=incident_id)
    target = owner.with_path("/api/v1/actions").with_query({"incident_id": incident_id})
    token = settings.api_token
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with app.http_client.get(target, headers=headers) as response:
        if response.status != 200:
            raise ApiError(503, "worker_unavailable", f"{owner} answered {response.status}")
        found: list[dict[str, Any]] = (await response.json())["actions"]
        return found


def local_runs(
    *, incident_id: str | None = None, status: str | None = None
) -> list[dict[str, Any]]:
    """This worker's runs (all of them, on the owner), oldest first."""
    chosen = [
        run
        for key, run in actions_table.items(0)
        if key.startswith("run|")
        and (incident_id is None or run["incident_id"] == incident_id)
        and (status is None or run["status"] == status)
    ]
    chosen.sort(key=lambda run: (run["requested_ms"], run["id"]))
    return [runs.view(run) for run in chosen]


def on_owner(handler: Handler) -> Handler:
    """Serve the request on the worker that owns the runs (forward it there)."""

    @wraps(handler)
    async def owned(view: View, request: Request, **kwargs: Any) -> Response:
        try:
            owner = await _owner()
        except ApiError as exc:
            return answer(view, {"error": exc.code, "detail": exc.detail}, exc.status)
        if owner is None:
            return await handler(view, request, **kwargs)
        return await forward(view, request, owner)

    return owned


@app.page("/api/v1/actions")
class ActionRuns(View):
    """``GET`` the runs (``?incident_id=&status=``)."""

    @on_owner
    @guarded("read")
    async def get(self, request: Request) -> Response:
        """Oldest first."""
        status = request.query.get("status")
        if status is not None and status not in STATUSES:
            raise ApiError(400, "invalid_query", f"status: expected one of {', '.join(STATUSES)}")
        found = local_runs(incident_id=request.query.get("incident_id"), status=status)
        return answer(self, {"actions": found})


@app.page("/api/v1/actions/kill-switch")
class KillSwitch(View):
    """``GET`` the kill switch; ``PUT {engaged: bool, reason?, by?}`` to change it."""

    @on_owner
    @guarded("read")
    async def get(self, request: Request) -> Response:
        """Engaged or not, by whom, and whether the setting holds it engaged."""
        state = dict(actions_table.find("kill_switch") or {"engaged": False})
        setting = settings.actions_kill_switch
        return answer(
            self, {**state, "engaged": setting or bool(state["engaged"]), "setting": setting}
        )

    @guarded("operate")
    async def put(self, request: Request) -> Response:
        """202 once the change is in Kafka; engaging it stops the runs in flight."""
        body = await read_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("engaged"), bool):
            raise ApiError(400, "invalid_body", "expected {engaged: true|false, reason?, by?}")
        reason, by = body.get("reason"), body.get("by", "api")
        if not isinstance(by, str) or (reason is not None and not isinstance(reason, str)):
            raise ApiError(400, "invalid_field", "reason, by: expected strings")
        change = {"kind": "kill_switch", "engaged": body["engaged"], "reason": reason, "by": by}
        await send_event("kill_switch", change)
        return answer(self, {k: change[k] for k in ("engaged", "reason", "by")}, 202)


@app.page("/api/v1/actions/{run_id}")
class ActionRun(View):
    """``GET`` one run."""

    @routed(actions_table, "run_id")
    @guarded("read")
    async def get(self, request: Request, run_id: str) -> Response:
        """The run or 404."""
        return answer(self, runs.view(_find(run_id)))


@app.page("/api/v1/actions/{run_id}/{decision}")
class ActionDecision(View):
    """Approve, reject (signed link or token) or roll back (token) one run."""

    @routed(actions_table, "run_id")
    @guarded("operate", link=True)
    async def get(self, request: Request, run_id: str, decision: str) -> Response:
        """The page of an approval link: what would run, and one button."""
        signed = _grant(request, run_id, decision)
        if decision == "rollback":
            raise ApiError(405, "method_not_allowed", "POST a rollback with the API token")
        run = _find(run_id)
        query = {k: request.query[k] for k in ("sig", "exp") if signed and k in request.query}
        return self.html(decision_page(run, decision, query), headers=dict(CAPABILITY_HEADERS))

    @routed(actions_table, "run_id")
    @guarded("operate", link=True)
    async def post(self, request: Request, run_id: str, decision: str) -> Response:
        """202 once the decision is in Kafka; 409 when the run is not waiting for it."""
        signed = _grant(request, run_id, decision)
        run = _find(run_id)
        if decision in DECISIONS and run["status"] != "awaiting_approval":
            raise ApiError(
                409, "conflict", f"run {run_id} is {run['status']}, not awaiting approval"
            )
        if decision == "rollback" and not runs.rollback_allowed(run):
            raise ApiError(
                409, "conflict", f"run {run_id} ({run['status']}) has nothing to roll back"
            )
        body = await read_json(request, optional=True)
        by = body.get("by") if isinstance(body, dict) and body.get("by") else None
        by = by or ("signed link" if signed else "api")
        if not isinstance(by, str):
            raise ApiError(400, "invalid_field", "by: expected a string")
        await send_event(
            run_id, {"kind": "decision", "run_id": run_id, "decision": decision, "by": by}
        )
        if "text/html" in request.headers.get("Accept", ""):
            done = page(
                "Recorded",
                f"<p>{escape(decision)}: {escape(run['receiver'])} — you can close this page.</p>",
                width_em=36,
            )
            return self.html(done, status=202, headers=dict(CAPABILITY_HEADERS))
        return answer(self, {"run_id": run_id, "decision": decision, "by": by}, 202)


def decision_page(run: dict[str, Any], decision: str, query: dict[str, str]) -> str:
    """What an approval link opens: the run's plan and one button (no script).

    >>> run = {"receiver": "fix", "title": "Disk <full>", "status": "awaiting_approval",
    ...        "plan": {"action": [{"kind": "command", "argv": ["/bin/x", "a"]}], "rollback": []},
    ...        "approval": {"expires_ms": 0}}
    >>> page = decision_page(run, "approve", {"sig": "s", "exp": "1"})
    >>> "Disk &lt;full&gt;" in page, "run /bin/x a" in page, 'action="?sig=s&amp;exp=1"' in page
    (True, True, True)
    """
    steps = "".join(f"<li><code>{escape(describe(s))}</code></li>" for s in run["plan"]["action"])
    undo = "".join(f"<li><code>{escape(describe(s))}</code></li>" for s in run["plan"]["rollback"])
    word = "Approve: run it" if decision == "approve" else "Reject: do not run it"
    waiting = run["status"] == "awaiting_approval"
    button = (
        f'<form method="post" action="?{escape(urlencode(query))}">'
        f'<button type="submit">{escape(word)}</button></form>'
        if waiting
        else f"<p>Already {escape(run['status'])}: nothing to decide.</p>"
    )
    return page(
        f"{decision.capitalize()} {run['receiver']}?",
        f"<p><b>{escape(str(run['title']))}</b></p><p>It would:</p><ol>{steps}</ol>"
        + (f"<p>Rollback if it fails:</p><ol>{undo}</ol>" if undo else "")
        + f"<p>Until {escape(ms_time(run['approval']['expires_ms']))}. Nothing happens "
        f"until you press the button.</p>{button}",
        width_em=36,
    )


def _grant(request: Request, run_id: str, decision: str) -> bool:
    """A valid signed link (approve/reject only) or the bearer token; whether a link did it."""
    if decision not in (*DECISIONS, "rollback"):
        raise ApiError(
            404, "not_found", f"unknown decision {decision!r}: approve, reject, rollback"
        )
    token, query = settings.api_token, request.query
    linked = "sig" in query or "exp" in query
    if token is not None and decision in DECISIONS and linked:
        try:
            verify(token, run_id, decision, query.get("sig"), query.get("exp"), time.time())
        except LinkError as exc:
            raise ApiError(401, exc.code, exc.detail) from None
        return True
    if linked:  # @guarded let the request through for its link: a token decides instead
        act_as(authenticate(request, "operate"))
    return False


def _find(run_id: str) -> dict[str, Any]:
    run = actions_table.find(f"run|{run_id}")
    if run is None:
        raise ApiError(404, "not_found", f"no action run {run_id}")
    return dict(run)


async def _owner() -> URL | None:
    try:
        return owner_of(actions_table, RUNS_KEY)
    except KeyError:
        raise ApiError(
            503, "rebalancing", "partitions are being reassigned; try again shortly"
        ) from None
