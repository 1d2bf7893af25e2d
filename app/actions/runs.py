"""A run of an action: its states, what each event does to it, and when to look at it again.

A run is one (incident, action receiver, notification state): its id is the notification's id,
so the notification log's "once per state" is the run's "once". Its statuses::

    requested ─┬─► dry_run                       (mode: dry_run: recorded, nothing executed)
               ├─► refused | blocked | rate_limited
               ├─► awaiting_approval ─┬─► rejected | expired | blocked
               │                      └─► running
               └─► running ─┬─► succeeded
                            ├─► failed ──────► rolling_back (when it has rollback steps)
                            ├─► killed                       (the kill switch stopped it)
                            └─► unknown      (its worker died mid-run: not run again, unless
                                              the action is idempotent)
    succeeded | failed | unknown | killed ──(a person asks)──► rolling_back
    rolling_back ─► rolled_back | rollback_failed | rollback_unknown

``running`` and ``rolling_back`` are written (and made durable) *before* anything executes:
the in-flight marker that makes a crash visible instead of a silent re-run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.actions.spec import ActionSpec
from app.records import ms_time

FINAL = ("dry_run", "refused", "blocked", "rate_limited", "rejected", "expired")
IN_FLIGHT = ("running", "rolling_back")
ROLLBACK_FROM = ("succeeded", "failed", "unknown", "killed")
RETENTION_MS = 7 * 86_400_000  # a finished run is kept (and shown) this long
ORPHAN_GRACE_MS = 5_000  # beyond its steps' timeouts, before a silent run counts as lost
MAX_ATTEMPTS = 3  # an idempotent run cut short by crashes is started at most this often
MAX_HISTORY = 32

Run = dict[str, Any]


def new_run(request: Mapping[str, Any], spec: ActionSpec, route: str, now_ms: int) -> Run:
    """The run a request starts, before any decision.

    >>> from app.actions.spec import parse_action
    >>> spec = parse_action("r", {"command": ["/usr/bin/true"]})
    >>> run = new_run({"run_id": "n1", "receiver": "fix", "notification": {
    ...     "incident_id": "i1", "tenant": "t", "change": "firing", "title": "Disk full"}},
    ...     spec, "root", 0)
    >>> run["status"], run["mode"], run["history"]
    ('requested', 'dry_run', [])
    """
    notification = request["notification"]
    return {
        "id": request["run_id"],
        "receiver": request["receiver"],
        "route": route,
        "incident_id": notification["incident_id"],
        "tenant": notification.get("tenant"),
        "change": notification.get("change"),
        "title": notification.get("title"),
        "mode": spec.mode,
        "idempotent": spec.idempotent,
        "approval": None,
        "plan": None,
        "status": "requested",
        "phase": None,
        "attempt": 0,
        "steps": 0,
        "step_timeout_s": spec.step_timeout_s,
        "started_ms": None,
        "boot": None,
        "requested_ms": now_ms,
        "updated_ms": now_ms,
        "finished_ms": None,
        "result": None,
        "rollback_result": None,
        "history": [],
    }


def moved(run: Run, status: str, now_ms: int, detail: str, by: str | None = None) -> Run:
    """The run in ``status``, with the change in its history (the newest ``MAX_HISTORY``).

    >>> run = moved({"history": [], "status": "requested"}, "dry_run", 0, "would run x")
    >>> run["status"], run["finished_ms"], run["history"][0]["detail"]
    ('dry_run', 0, 'would run x')
    """
    entry: dict[str, Any] = {"at": ms_time(now_ms), "status": status, "detail": detail}
    if by:
        entry["by"] = by
    finished = status not in ("requested", "approved", "awaiting_approval", *IN_FLIGHT)
    return {
        **run,
        "status": status,
        "updated_ms": now_ms,
        "finished_ms": now_ms if finished else None,
        "history": [*run["history"], entry][-MAX_HISTORY:],
    }


def started(run: Run, phase: str, now_ms: int, boot: str, steps: int) -> Run:
    """The in-flight marker: ``phase`` (``action`` or ``rollback``) runs from now on ``boot``."""
    status = "running" if phase == "action" else "rolling_back"
    attempt = run["attempt"] + 1 if run["phase"] == phase else 1
    detail = f"{phase}: attempt {attempt}" if attempt > 1 else f"{phase} started"
    return {
        **moved(run, status, now_ms, detail),
        "phase": phase,
        "attempt": attempt,
        "steps": steps,
        "started_ms": now_ms,
        "boot": boot,
    }


def finished(run: Run, result: Mapping[str, Any], now_ms: int) -> Run:
    """The run once its phase's result came back (``result`` from :mod:`app.actions.execute`).

    >>> from app.actions.spec import parse_action
    >>> spec = parse_action("r", {"command": ["/usr/bin/true"]})
    >>> run = started(new_run({"run_id": "n", "receiver": "r", "notification": {
    ...     "incident_id": "i"}}, spec, "root", 0), "action", 0, "b", 1)
    >>> finished(run, {"ok": False, "outcome": "failed"}, 5)["status"]
    'failed'
    >>> finished(run, {"ok": True, "outcome": "succeeded"}, 5)["status"]
    'succeeded'
    """
    action = run["phase"] == "action"
    if result["outcome"] == "killed":
        status = "killed" if action else "rollback_failed"
    elif result["ok"]:
        status = "succeeded" if action else "rolled_back"
    else:
        status = "failed" if action else "rollback_failed"
    late = run["status"] not in IN_FLIGHT
    detail = f"{run['phase']}: {result['outcome']}" + (
        " (after it was reported lost)" if late else ""
    )
    field = "result" if action else "rollback_result"
    return {**moved(run, status, now_ms, detail), field: dict(result)}


def lost(run: Run, now_ms: int) -> Run:
    """The run whose worker died mid-phase, when it may not run again: outcome unknown."""
    status = "unknown" if run["phase"] == "action" else "rollback_unknown"
    detail = (
        f"{run['phase']} started {ms_time(run['started_ms'])} by a worker that went away before "
        "reporting; not run again (the action is not declared idempotent)"
        if not run["idempotent"]
        else f"{run['phase']} lost {run['attempt']} times; not run again"
    )
    return moved(run, status, now_ms, detail)


def orphaned(run: Run, now_ms: int, boot: str, running_here: bool) -> bool:
    """Whether an in-flight phase was lost: no task runs it here and, if another process
    started it, every step's timeout and a grace have passed without a result.

    >>> run = {"status": "running", "started_ms": 0, "steps": 1, "step_timeout_s": 10,
    ...        "boot": "old"}
    >>> orphaned(run, 14_000, "new", False), orphaned(run, 15_000, "new", False)
    (False, True)
    >>> orphaned(run, 99_000, "new", True), orphaned({**run, "boot": "new"}, 1, "new", False)
    (False, True)
    """
    if run["status"] not in IN_FLIGHT or running_here:
        return False
    if run["boot"] == boot:
        return True  # started by this process, whose task is gone without a word
    return now_ms >= deadline_ms(run)


def deadline_ms(run: Run) -> int:
    """When a phase in flight must have reported at the latest (its steps' timeouts, a grace)."""
    return int(run["started_ms"] + run["steps"] * run["step_timeout_s"] * 1000 + ORPHAN_GRACE_MS)


def rerun(run: Run) -> bool:
    """Whether a lost phase is started again: only for an idempotent action, a few times."""
    return bool(run["idempotent"]) and run["attempt"] < MAX_ATTEMPTS


def needs_check(run: Run, now_ms: int, boot: str, running_here: bool) -> bool:
    """Whether the watcher should send the run a ``check`` (lost, expired, or due to go)."""
    if orphaned(run, now_ms, boot, running_here):
        return True
    if run["status"] == "awaiting_approval":
        approval = run["approval"]
        return now_ms >= approval["expires_ms"] or (
            approval.get("asked") is None and approval.get("asking") != boot
        )
    return run["finished_ms"] is not None and now_ms - run["finished_ms"] >= RETENTION_MS


def within_limit(starts: list[int], limit: tuple[int, int] | None, now_ms: int) -> list[int] | None:
    """The run starts kept for the route's window with this one added, or ``None`` if full.

    >>> within_limit([0, 10], (2, 100), 50) is None, within_limit([0, 10], (2, 100), 105)
    (True, [10, 105])
    >>> within_limit([], None, 5)
    []
    """
    if limit is None:
        return []
    runs, per = limit
    recent = [at for at in starts if now_ms - at < per]
    return None if len(recent) >= runs else [*recent, now_ms]


def rollback_allowed(run: Mapping[str, Any]) -> bool:
    """Whether a person may ask for the run's rollback now: it ran (or may have), it has
    rollback steps, and they have not run yet.

    >>> run = {"status": "succeeded", "plan": {"rollback": [{}]}, "rollback_result": None}
    >>> rollback_allowed(run), rollback_allowed({**run, "status": "dry_run"})
    (True, False)
    """
    return (
        run["status"] in ROLLBACK_FROM
        and bool(run["plan"] and run["plan"]["rollback"])
        and run["rollback_result"] is None
    )


def view(run: Run) -> dict[str, Any]:
    """A run as the API and the incident view show it."""
    approval = run["approval"]
    return {
        "id": run["id"],
        "action": run["receiver"],
        "route": run["route"],
        "incident_id": run["incident_id"],
        "change": run["change"],
        "mode": run["mode"],
        "status": run["status"],
        "requested_at": ms_time(run["requested_ms"]),
        "updated_at": ms_time(run["updated_ms"]),
        "plan": run["plan"],
        "approval": None
        if approval is None
        else {
            "approvers": approval["approvers"],
            "expires_at": ms_time(approval["expires_ms"]),
            "decided_by": approval.get("by"),
        },
        "attempt": run["attempt"],
        "result": run["result"],
        "rollback_result": run["rollback_result"],
        "history": run["history"],
    }
