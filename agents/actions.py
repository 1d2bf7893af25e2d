"""Remediation runs: requests, approvals, results and checks on ``actions.events`` → runs.

``actions.events`` has one partition, so one worker at a time owns every run: rate limits per
route are exact, the kill switch stops what runs, and a run's state changes are serial. Its
records (all keyed by run id):

- ``request`` — the action receiver was notified (:mod:`app.actions.sink`): a new run is
  decided (refused, blocked by the kill switch, rate-limited, dry run, awaiting approval, or
  started); a request for a run that exists (a re-send after a crash) changes nothing;
- ``decision`` — approve / reject (a signed link or the API) or rollback (a person asks);
- ``result`` / ``asked`` — what an execution or an approval request returned;
- ``check`` — sent by this worker's watcher for runs that may need attention (lost, expired,
  due to be deleted);
- ``kill_switch`` — engaged or released over the API.

**Exactly once across a crash.** Before a phase (the action or its rollback) executes, the run
is written ``running`` / ``rolling_back`` with this process's boot id, and the execution task
waits until the producer has flushed that write — so no step starts without a durable in-flight
marker. The result comes back as a ``result`` record. A crash:

- after the approval (or request) is in Kafka but before the marker: the record is read again
  after the restart (its offset was never committed) and the run starts then, once;
- after the marker, before the result: the restarted owner finds the run in flight, started by
  another process, and once every step's timeout and a grace have passed reports it
  ``unknown`` — the outcome is unknown, and it is **not run again**, because running a
  non-idempotent remediation twice (a second restart, a second failover) can do harm that a
  person must judge. An action declared ``idempotent: true`` is started again instead (at
  most 3 attempts; HTTP steps carry the same ``Idempotency-Key``);
- after the result: reading the request or decision again finds the run finished: nothing.

(About 400 lines, most of them this docstring and the handlers of the six record kinds, which
share the in-flight bookkeeping above; the rules themselves are in :mod:`app.actions`.)
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import faust

from app import topics
from app.actions import runs
from app.actions.approval import decision_links, request_message
from app.actions.configured import action_specs, approver_sinks, check_actions
from app.actions.execute import run_steps
from app.actions.plan import describe, plan_of
from app.actions.render import RenderError
from app.actions.spec import allowed
from app.actions.submit import send_event
from app.config import Reloader, match
from app.faust_app import app, every, settings
from app.records import ms_time
from app.runtime import Context, Record, run_stage
from app.runtime.state import Rows
from app.settings import SettingsError
from app.sinks.base import deliver
from app.stages import periodic, stage
from tables.actions import actions as actions_table

log = logging.getLogger(__name__)

BOOT = uuid.uuid4().hex  # this process: who wrote an in-flight marker
WATCH_SECONDS = 1.0
KILL_SWITCH = "kill_switch"
NOTIFICATION_FIELDS = (
    *("incident_id", "tenant", "title", "severity", "score", "url"),
    *("alert_count", "first_seen", "last_seen"),
)
MAX_ALERT_IDS = 50

_running: dict[str, asyncio.Task[None]] = {}  # run id → the task executing it here
_asking: dict[str, asyncio.Task[None]] = {}  # run id → the task sending its approval request


CONFIG = Reloader()  # the same files as the notify agent's (raises ConfigError)
check_actions(CONFIG.current, settings.actions_allow)


class _Call:
    """What one handler call works with: the runs' rows and where its outputs go."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.rows: Rows = ctx.rows(actions_table)


async def handle(ctx: Context, records: Sequence[Record]) -> None:
    """Act on each record of ``actions.events``."""
    call = _Call(ctx)
    for record in records:
        await _handle(call, record.value)


async def _handle(call: _Call, event: dict[str, Any]) -> None:
    kind, now = event.get("kind"), _now_ms()
    if kind == "request":
        await _on_request(call, event, now)
    elif kind == "decision":
        await _on_decision(call, event, now)
    elif kind == "result":
        await _on_result(call, event, now)
    elif kind == "asked":
        await _on_asked(call, event, now)
    elif kind == "check":
        await _on_check(call, str(event["run_id"]), now)
    elif kind == "kill_switch":
        _on_kill_switch(call, event)
    else:
        raise ValueError(f"actions.events: unknown kind {kind!r}")


async def _on_request(call: _Call, event: dict[str, Any], now: int) -> None:
    run_id, name = str(event["run_id"]), str(event["receiver"])
    if _run(call, run_id) is not None:
        return  # the same incident state again: a re-send after a crash
    config = CONFIG.current
    spec = action_specs(config).get(name)
    notification: dict[str, Any] = event["notification"]
    labels = notification.get("labels") or {}
    named = [route.name for route in match(config.route, labels) if name in route.receivers]
    if spec is None or not named:  # a route that names no receiver pages every receiver:
        log.info("no run of %s for %s: no route names it", name, notification.get("incident_id"))
        return  # an action runs only where a route names it
    run = runs.new_run(event, spec, named[0], now)
    run["notification"] = _kept(notification)
    context = {"incident": notification, "labels": labels, "run": {"id": run_id, "receiver": name}}
    try:
        run["plan"] = plan_of(spec, context)
    except RenderError as exc:
        await _save(call, runs.moved(run, "refused", now, f"a template did not render: {exc}"))
        return
    steps = run["plan"]["action"] + run["plan"]["rollback"]
    refusals = [
        allowed(s["argv"][0], settings.actions_allow) for s in steps if s["kind"] == "command"
    ]
    if any(refusals):
        await _save(call, runs.moved(run, "refused", now, next(r for r in refusals if r)))
        return
    if (switch := kill_switch(call)) is not None:
        await _save(call, runs.moved(run, "blocked", now, _kill_detail(switch)))
        return
    limit_key = f"limit|{run['route']}|{name}"
    starts = runs.within_limit(call.rows.get(limit_key) or [], spec.limit, now)
    if starts is None:
        count, per = spec.limit or (0, 0)
        detail = f"rate limit: {count} run(s) per {per // 1000}s on route {run['route']}"
        await _save(call, runs.moved(run, "rate_limited", now, detail))
        return
    if spec.limit is not None:
        call.rows.put(limit_key, starts)
    would = "; then ".join(describe(step) for step in run["plan"]["action"])
    if spec.mode == "dry_run":
        asked = f" after approval by {', '.join(spec.approvers)}" if spec.approval else ""
        await _save(call, runs.moved(run, "dry_run", now, f"dry run: would {would}{asked}"))
    elif spec.approval:
        run["approval"] = {
            "approvers": list(spec.approvers),
            "expires_ms": now + spec.approval_timeout_ms,
            "asked": None,
            "asking": BOOT,
        }
        detail = f"would {would}; asking {', '.join(spec.approvers)}"
        run = await _save(call, runs.moved(run, "awaiting_approval", now, detail))
        _start(_asking, run_id, _ask(run))
    else:
        await _execute(call, run, "action", now)


async def _on_decision(call: _Call, event: dict[str, Any], now: int) -> None:
    run = _run(call, str(event["run_id"]))
    decision, by = event["decision"], str(event.get("by") or "api")
    if run is None:
        return
    if decision in ("approve", "reject"):
        if run["status"] != "awaiting_approval":
            return  # decided already (a second click, a replay)
        if now >= run["approval"]["expires_ms"]:
            await _save(
                call, runs.moved(run, "expired", now, "the approval expired before the answer")
            )
            return
        run = {**run, "approval": {**run["approval"], "by": by}}
        if decision == "reject":
            await _save(call, runs.moved(run, "rejected", now, "rejected", by))
            return
        await _execute(call, runs.moved(run, "approved", now, "approved", by), "action", now)
    elif decision == "rollback" and runs.rollback_allowed(run):
        run = runs.moved(run, run["status"], now, "rollback requested", by)
        await _execute(call, run, "rollback", now)


async def _on_result(call: _Call, event: dict[str, Any], now: int) -> None:
    run = _run(call, str(event["run_id"]))
    if run is None or event["phase"] != run["phase"] or event["attempt"] != run["attempt"]:
        return  # an older attempt's, or a run gone
    late = run["status"] in ("unknown", "rollback_unknown")
    if run["status"] not in runs.IN_FLIGHT and not late:
        return  # recorded already (a replay)
    run = await _save(call, runs.finished(run, event["result"], now))
    if run["status"] == "failed" and run["plan"]["rollback"]:
        await _execute(
            call, runs.moved(run, "failed", now, "the action failed: rolling back"), "rollback", now
        )


async def _on_asked(call: _Call, event: dict[str, Any], now: int) -> None:
    run = _run(call, str(event["run_id"]))
    if run is None or run["status"] != "awaiting_approval":
        return
    outcomes: dict[str, str] = event["outcomes"]
    said = ", ".join(f"{name}: {outcome}" for name, outcome in outcomes.items())
    run = {**run, "approval": {**run["approval"], "asked": outcomes}}
    await _save(call, runs.moved(run, "awaiting_approval", now, f"approval asked ({said})"))


async def _on_check(call: _Call, run_id: str, now: int) -> None:
    run = _run(call, run_id)
    if run is None:
        return
    if runs.orphaned(run, now, BOOT, run_id in _running):
        if runs.rerun(run):
            await _execute(call, run, run["phase"], now)
        else:
            await _save(call, runs.lost(run, now))
    elif run["status"] == "awaiting_approval":
        approval = run["approval"]
        if now >= approval["expires_ms"]:
            await _save(
                call, runs.moved(run, "expired", now, "nobody approved or rejected it in time")
            )
        elif approval["asked"] is None and approval.get("asking") != BOOT:
            run = {**run, "approval": {**approval, "asking": BOOT}}  # asked by a process gone
            call.rows.put(_key(run_id), run)
            _start(_asking, run_id, _ask(run))
    elif run["finished_ms"] is not None and now - run["finished_ms"] >= runs.RETENTION_MS:
        call.rows.delete(_key(run_id))


def _on_kill_switch(call: _Call, event: dict[str, Any]) -> None:
    call.rows.put(KILL_SWITCH, {k: event.get(k) for k in ("engaged", "by", "reason", "at")})
    if event.get("engaged"):
        log.warning("kill switch engaged by %s: stopping %d run(s)", event.get("by"), len(_running))
        for task in list(_running.values()):
            task.cancel()


def kill_switch(call: _Call | None = None) -> dict[str, Any] | None:
    """Who engaged the kill switch and why, or ``None`` when actions may run (as ``call``
    sees it when given: it may have just changed it)."""
    if settings.actions_kill_switch:
        return {"engaged": True, "by": "setting ALERTFLOW_ACTIONS_KILL_SWITCH", "reason": None}
    state = call.rows.get(KILL_SWITCH) if call else actions_table.find(KILL_SWITCH)
    return dict(state) if state and state.get("engaged") else None


async def _execute(call: _Call, run: runs.Run, phase: str, now: int) -> None:
    """Write the in-flight marker and start the phase (unless the kill switch is engaged)."""
    if (switch := kill_switch(call)) is not None:
        if phase == "action":
            await _save(call, runs.moved(run, "blocked", now, _kill_detail(switch)))
        else:
            await _save(
                call,
                runs.moved(run, run["status"], now, f"rollback not run: {_kill_detail(switch)}"),
            )
        return
    steps = run["plan"][phase]
    run = await _save(call, runs.started(run, phase, now, BOOT, len(steps)))
    # the in-flight marker is in Kafka before anything runs
    call.ctx.after_sent(lambda: _start(_running, run["id"], _execute_task(run)))


async def _execute_task(run: runs.Run) -> None:
    """Execute one phase off the agent's loop, once its marker is durable; report the result."""
    phase, results = run["phase"], list[dict[str, Any]]()
    started = time.monotonic()
    try:
        result = await run_steps(
            run["plan"][phase],
            session=app.http_client,
            timeout_s=run["step_timeout_s"],
            allow=settings.actions_allow,
            run={"id": run["id"], "phase": phase, "incident_id": run["incident_id"]},
            results=results,
        )
    except asyncio.CancelledError:  # the kill switch
        result = {"ok": False, "outcome": "killed", "steps": results}
    except Exception as exc:  # a bug here must still end the run, not leave it in flight
        log.exception("run %s: %s failed to execute", run["id"], phase)
        result = {"ok": False, "outcome": "failed", "steps": results, "error": repr(exc)}
    result.setdefault("duration_ms", int((time.monotonic() - started) * 1000))
    event = {"kind": "result", "run_id": run["id"], "phase": phase, "attempt": run["attempt"]}
    await send_event(run["id"], {**event, "result": result})


async def _ask(run: runs.Run) -> None:
    """Send the approval request, with its signed links, to each approver; report back."""
    approval, outcomes = run["approval"], {}
    expires = ms_time(approval["expires_ms"])
    links = decision_links(
        settings.api_token, settings.base_url, run["id"], approval["expires_ms"] // 1000
    )
    config = CONFIG.current
    for approver in approval["approvers"]:
        for name in approver_sinks(config, approver) or (approver,):
            receiver = config.receivers.get(name)
            if receiver is None:
                outcomes[name] = "no such receiver"
                continue
            message = request_message(run, run["notification"], name, links, expires)
            outcomes[name] = (await deliver(receiver, app.http_client, message)).outcome
    await send_event(run["id"], {"kind": "asked", "run_id": run["id"], "outcomes": outcomes})


def _start(tasks: dict[str, asyncio.Task[None]], run_id: str, work: Any) -> None:
    task: asyncio.Task[None] = app.loop.create_task(work)
    tasks[run_id] = task
    task.add_done_callback(lambda done: _finished_task(tasks, run_id, done))


def _finished_task(
    tasks: dict[str, asyncio.Task[None]], run_id: str, task: asyncio.Task[None]
) -> None:
    if tasks.get(run_id) is task:
        del tasks[run_id]
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("run %s: its task ended without reporting: %r", run_id, error)


async def _save(call: _Call, run: runs.Run) -> runs.Run:
    """Keep the run and put its latest change on ``actions.log`` (key: incident id)."""
    call.rows.put(_key(run["id"]), run)
    change = run["history"][-1] if run["history"] else {}
    record = {
        "run_id": run["id"],
        "incident_id": run["incident_id"],
        "tenant": run["tenant"],
        "action": run["receiver"],
        "route": run["route"],
        "mode": run["mode"],
        "status": run["status"],
        "at": change.get("at"),
        "detail": change.get("detail"),
        "by": change.get("by"),
        "plan": run["plan"],
        "attempt": run["attempt"],
        "result": run["result"],
        "rollback_result": run["rollback_result"],
    }
    call.ctx.emit(topics.actions_log, run["incident_id"], record)
    return run


def _run(call: _Call, run_id: str) -> runs.Run | None:
    found = call.rows.get(_key(run_id))
    return None if found is None else dict(found)


def _key(run_id: str) -> str:
    return f"run|{run_id}"


def _kept(notification: Mapping[str, Any]) -> dict[str, Any]:
    """What a run keeps of its notification (for the approval message)."""
    kept = {k: notification.get(k) for k in NOTIFICATION_FIELDS}
    kept["alert_ids"] = list(notification.get("alert_ids") or [])[:MAX_ALERT_IDS]
    return kept


def _kill_detail(switch: Mapping[str, Any]) -> str:
    reason = f": {switch['reason']}" if switch.get("reason") else ""
    return f"the kill switch is engaged (by {switch.get('by')}{reason})"


def _now_ms() -> int:
    return int(time.time() * 1000)


def _owns_runs() -> bool:
    name = topics.actions_events.name
    return any(tp.topic == name for tp in app.assignor.assigned_actives())


@app.agent(topics.source(topics.actions_events), concurrency=1)
async def actions(stream: faust.StreamT[Any]) -> None:
    """Decide, start and record every run of every action receiver."""
    await run_stage(stage("actions"), stream, handle, [actions_table])


@every(WATCH_SECONDS)
@periodic
async def watch_runs() -> None:
    """On the owner of the runs: send a ``check`` for each run that may need one."""
    if not _owns_runs():
        return
    now = _now_ms()
    for key, run in list(actions_table.items(0)):
        if key.startswith("run|") and runs.needs_check(run, now, BOOT, run["id"] in _running):
            await send_event(run["id"], {"kind": "check", "run_id": run["id"]})


@every(CONFIG.current.options.reload_interval_ms / 1000)
async def reload_actions() -> None:
    """Follow the configuration file, as the notify agent does."""
    if CONFIG.maybe_reload():
        try:
            check_actions(CONFIG.current, settings.actions_allow)
        except SettingsError as exc:  # runs check each program again before executing
            log.error("action receivers: %s", exc)
