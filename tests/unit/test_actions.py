"""Remediation actions without Kafka: configuration, templates, execution, run states, links."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import sys
import time
import types
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from app import links
from app.actions import runs
from app.actions.approval import decision_links, verify
from app.actions.execute import OUTPUT_BYTES, call_http, run_command, run_steps
from app.actions.plan import plan_of
from app.actions.render import RenderError, render
from app.actions.sink import ActionSink
from app.actions.spec import ActionConfigError, allowed, parse_action
from app.config import ConfigError, from_document

RUN = {"id": "r1", "phase": "action", "incident_id": "i1"}


@pytest.mark.parametrize(
    ("item", "error"),
    [
        ({}, "a: give either command"),
        ({"command": ["/bin/true"], "http": {"url": "https://x"}}, "a: give either command"),
        ({"command": "/bin/rm -rf /"}, "a.command: expected an argv list"),
        ({"command": ["rm", "x"]}, "a.command[0]: expected an absolute path"),
        ({"command": ["/bin/{{ labels.x }}"]}, "a.command[0]: expected an absolute path"),
        ({"command": ["/bin/echo", "{{ x "]}, "a.command[1]: invalid template"),
        ({"command": ["/bin/echo"], "env": {"A": 1}}, "a.env: expected a mapping"),
        ({"http": {"url": "ftp://x"}}, "a.http.url: expected an http(s) URL"),
        ({"http": {"url": "https://{{ labels.host }}/x"}}, "a.http.url: fixed, not a template"),
        ({"http": {"url": "https://x", "method": "TRACE"}}, "a.http.method"),
        ({"http": {"url": "https://x", "body": {"a": "{% if %}"}}}, "a.http.body.a: invalid"),
        ({"http": {"url": "https://x"}, "env": {}}, "a.env: only for a command"),
        ({"command": ["/bin/true"], "mode": "live"}, "a.mode: expected dry_run or run"),
        ({"command": ["/bin/true"], "approval": "required"}, "a.approvers: approval: required"),
        ({"command": ["/bin/true"], "on": ["fired"]}, "a.on: 'fired' is not one of"),
        ({"command": ["/bin/true"], "limit": {"runs": 0, "per": "1h"}}, "a.limit.runs"),
        ({"command": ["/bin/true"], "limit": {"runs": 1}}, "a.limit: expected"),
        ({"command": ["/bin/true"], "step_timeout": 0}, "a.step_timeout"),
        ({"command": ["/bin/true"], "idempotent": "yes"}, "a.idempotent"),
        ({"command": ["/bin/true"], "rollback": [{"command": ["x"]}]}, "a.rollback[0].command[0]"),
        ({"command": ["/bin/true"], "rollback": [{"shell": "x"}]}, "a.rollback[0].shell: unknown"),
        ({"command": ["/bin/true"], "script": "x"}, "a.script: unknown setting"),
    ],
)
def test_a_misconfigured_action_is_refused_naming_the_path(
    item: dict[str, Any], error: str
) -> None:
    with pytest.raises(ActionConfigError) as caught:
        parse_action("a", item)
    assert str(caught.value).startswith(error), caught.value


def test_an_action_receiver_is_configured_like_the_others() -> None:
    config = from_document(
        {
            "receivers": [
                {
                    "name": "fix",
                    "type": "action",
                    "command": ["/usr/bin/true", "${REGION}"],
                    "attempts": 2,
                    "timeout": 3,
                }
            ]
        },
        {"REGION": "eu"},
    )
    sink = config.receivers["fix"].sink
    assert isinstance(sink, ActionSink) and sink.name == "fix"
    assert sink.spec.action.argv == ("/usr/bin/true", "eu")  # type: ignore[union-attr]
    assert sink.spec.mode == "dry_run" and sink.spec.on == ("firing",)
    assert config.receivers["fix"].retry.attempts == 2
    assert config.receivers["fix"].retry.timeout == 3
    with pytest.raises(ConfigError) as caught:
        from_document(
            {
                "receivers": [
                    {"name": "a", "type": "action", "command": ["rm", "x"]},
                    {"name": "b", "type": "action", "http": {"url": "https://x"}, "shell": "x"},
                ]
            }
        )
    assert caught.value.errors == (
        "receivers[0]: command[0]: expected an absolute path, got 'rm'",
        "receivers[1].shell: unknown key",
    )


async def test_the_sink_requests_runs_only_for_the_changes_it_is_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    requested: list[tuple[str, dict[str, Any]]] = []

    async def submit(receiver: str, notification: dict[str, Any]) -> None:
        requested.append((receiver, notification))

    fake = types.ModuleType("app.actions.submit")
    fake.submit = submit  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "app.actions.submit", fake)
    sink = ActionSink(name="fix", command=["/bin/true"], on=["resolved"])
    await sink.send(None, {"change": "firing", "notification_id": "n1"})  # type: ignore[arg-type]
    await sink.send(None, {"change": "resolved", "notification_id": "n2"})  # type: ignore[arg-type]
    assert [(r, n["notification_id"]) for r, n in requested] == [("fix", "n2")]


def test_templates_render_per_incident_in_a_sandbox() -> None:
    spec = parse_action(
        "a",
        {
            "command": [
                "/usr/bin/x",
                "--host={{ labels.host }}",
                "{{ incident.alert_ids | length }}",
            ],
            "env": {"TITLE": "{{ incident.title | upper }}"},
        },
    )
    context = {"labels": {"host": "web-1"}, "incident": {"alert_ids": ["a", "b"], "title": "down"}}
    plan = plan_of(spec, context)
    assert plan["action"] == [
        {"kind": "command", "argv": ["/usr/bin/x", "--host=web-1", "2"], "env": {"TITLE": "DOWN"}}
    ]
    with pytest.raises(RenderError, match="unsafe"):
        render("{{ incident.title.__class__.__init__.__globals__ }}", context)
    with pytest.raises(RenderError, match="no attribute 'region'"):
        render("{{ labels.region }}", context)
    with pytest.raises(RenderError, match="longer than"):
        render("{{ 'x' * 5000 }}", context)


async def test_a_command_gets_its_own_environment_and_its_output() -> None:
    os.environ["ALERTFLOW_API_TOKEN_CANARY"] = "secret"
    try:
        result = await run_command(
            {"argv": ["/usr/bin/env"], "env": {"REGION": "eu"}},
            timeout_s=5,
            allow=["/usr/bin/env"],
            run=RUN,
        )
    finally:
        del os.environ["ALERTFLOW_API_TOKEN_CANARY"]
    assert result["ok"] is True and result["exit_code"] == 0
    env = dict(line.split("=", 1) for line in result["stdout"].splitlines())
    assert env["REGION"] == "eu" and env["ALERTFLOW_RUN_ID"] == "r1"
    assert (
        env["ALERTFLOW_ACTION_PHASE"] == "action" and env["PATH"] == "/usr/local/bin:/usr/bin:/bin"
    )
    assert "ALERTFLOW_API_TOKEN_CANARY" not in env
    assert not Path(env["HOME"]).exists(), "its scratch directory was left behind"


async def test_a_command_past_its_timeout_is_killed_and_its_output_cut() -> None:
    started = time.monotonic()
    result = await run_command(
        {"argv": ["/usr/bin/yes"]}, timeout_s=0.5, allow=["/usr/bin/yes"], run=RUN
    )
    assert time.monotonic() - started < 3
    assert result["ok"] is False and result["timed_out"] is True
    assert "step timeout of 0.5s" in result["error"]
    assert result["stdout"].startswith("y\ny\n") and result["stdout"].endswith("more bytes cut)")
    assert len(result["stdout"].split("…")[0]) == OUTPUT_BYTES


async def test_a_cancelled_command_dies_with_its_children(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    step = {"argv": ["/bin/sh", "-c", f"echo $$ > {pid_file}; sleep 30"]}
    task = asyncio.create_task(run_command(step, timeout_s=60, allow=["/bin/sh"], run=RUN))
    while not pid_file.exists() or not pid_file.read_text().strip():
        await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    pid = int(pid_file.read_text())
    await asyncio.sleep(0.3)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_a_program_off_the_allow_list_or_setuid_never_starts(tmp_path: Path) -> None:
    refused = await run_command(
        {"argv": ["/usr/bin/touch", str(tmp_path / "x")]}, timeout_s=5, allow=[], run=RUN
    )
    assert refused["ok"] is False and "not on the allow-list" in refused["error"]
    assert not (tmp_path / "x").exists()
    program = tmp_path / "true"
    shutil.copy("/bin/true", program)
    program.chmod(program.stat().st_mode | stat.S_ISUID)
    if not program.stat().st_mode & stat.S_ISUID:
        pytest.skip("this file system does not keep the setuid bit")
    assert "setuid" in (allowed(str(program), [str(program)]) or "")
    assert "No such file" in (allowed(str(tmp_path / "nope"), [str(tmp_path / "nope")]) or "")


async def test_steps_stop_at_the_first_failure() -> None:
    results: list[dict[str, Any]] = []
    outcome = await run_steps(
        [{"kind": "command", "argv": ["/bin/false"]}, {"kind": "command", "argv": ["/bin/true"]}],
        session=None,  # type: ignore[arg-type]  # no HTTP step
        timeout_s=5,
        allow=["/bin/false", "/bin/true"],
        run=RUN,
        results=results,
    )
    assert outcome["ok"] is False and outcome["outcome"] == "failed"
    assert [r["exit_code"] for r in outcome["steps"]] == [1] and results == outcome["steps"]


async def test_an_http_step_sends_its_idempotency_key_and_follows_no_redirect() -> None:
    seen: list[dict[str, Any]] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append({"headers": dict(request.headers), "body": await request.json()})
        if request.path == "/moved":
            raise web.HTTPFound("https://example.org/")
        return web.Response(status=500 if request.path == "/broken" else 200, text="x" * 20_000)

    server = web.Application()
    server.router.add_post("/{name}", handle)
    runner = web.AppRunner(server)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with aiohttp.ClientSession() as session:
            results = [
                await call_http(
                    session,
                    {
                        "method": "POST",
                        "url": f"http://127.0.0.1:{port}/{name}",
                        "body": {"n": name},
                    },
                    timeout_s=5,
                    key=f"r1:action:{i}",
                    run_id="r1",
                )
                for i, name in enumerate(("ok", "broken", "moved"))
            ]
    finally:
        await runner.cleanup()
    assert [(r["ok"], r["status"]) for r in results] == [(True, 200), (False, 500), (False, 302)]
    assert results[0]["response"].endswith("… (the rest cut)")
    assert [s["headers"]["Idempotency-Key"] for s in seen] == [
        "r1:action:0",
        "r1:action:1",
        "r1:action:2",
    ]
    assert seen[0]["body"] == {"n": "ok"} and len(seen) == 3


def _run(**fields: Any) -> runs.Run:
    spec = parse_action("a", {"command": ["/bin/true"], "rollback": [{"command": ["/bin/true"]}]})
    request = {"run_id": "r1", "receiver": "fix", "notification": {"incident_id": "i1"}}
    run = runs.new_run(request, spec, "root", 0)
    run["plan"] = {"action": [{}], "rollback": [{}]}
    return {**run, **fields}


def test_a_run_lost_mid_phase_is_unknown_unless_the_action_is_idempotent() -> None:
    run = runs.started(_run(), "action", 1_000, "boot-1", 2)
    assert runs.deadline_ms(run) == 1_000 + 2 * 60_000 + runs.ORPHAN_GRACE_MS
    assert not runs.orphaned(run, 100_000, "boot-2", False)  # its steps may still be running
    assert runs.orphaned(run, runs.deadline_ms(run), "boot-2", False)
    assert runs.orphaned(run, 2_000, "boot-1", False)  # this process's task is gone
    assert not runs.orphaned(run, 10**9, "boot-1", True)
    lost = runs.lost(run, 200_000)
    assert lost["status"] == "unknown" and "not run again" in lost["history"][-1]["detail"]
    assert not runs.rerun(run)
    again = runs.started({**run, "idempotent": True}, "action", 2_000, "boot-2", 2)
    assert runs.rerun({**run, "idempotent": True}) and again["attempt"] == 2
    assert not runs.rerun({**again, "attempt": runs.MAX_ATTEMPTS})


def test_a_result_finishes_the_phase_and_a_late_one_is_still_recorded() -> None:
    run = runs.started(_run(), "action", 0, "b", 1)
    failed = runs.finished(run, {"ok": False, "outcome": "timeout"}, 5)
    assert failed["status"] == "failed" and failed["result"]["outcome"] == "timeout"
    assert runs.finished(run, {"ok": False, "outcome": "killed"}, 5)["status"] == "killed"
    late = runs.finished(runs.lost(run, 9), {"ok": True, "outcome": "succeeded"}, 10)
    assert late["status"] == "succeeded" and "reported lost" in late["history"][-1]["detail"]
    back = runs.started(failed, "rollback", 6, "b", 1)
    assert back["status"] == "rolling_back" and back["attempt"] == 1
    done = runs.finished(back, {"ok": True, "outcome": "succeeded"}, 7)
    assert done["status"] == "rolled_back" and done["result"] == failed["result"]
    assert not runs.rollback_allowed(done)


def test_the_watcher_looks_again_at_expired_unasked_and_old_runs() -> None:
    waiting = _run(
        status="awaiting_approval",
        approval={"approvers": ["ops"], "expires_ms": 10_000, "asked": {"ops": "success"}},
    )
    assert not runs.needs_check(waiting, 5_000, "b", False)
    assert runs.needs_check(waiting, 10_000, "b", False)
    unasked = {**waiting, "approval": {**waiting["approval"], "asked": None, "asking": "old"}}
    assert runs.needs_check(unasked, 5_000, "b", False)
    assert not runs.needs_check(
        {**unasked, "approval": {**unasked["approval"], "asking": "b"}}, 5_000, "b", False
    )
    done = runs.moved(_run(), "dry_run", 0, "would")
    assert not runs.needs_check(done, runs.RETENTION_MS - 1, "b", False)
    assert runs.needs_check(done, runs.RETENTION_MS, "b", False)


def test_approval_links_grant_one_decision_on_one_run_until_they_expire() -> None:
    found = decision_links("t", "https://af", "r1", 100)
    sig = found["approve"].split("sig=")[1].split("&")[0]
    verify("t", "r1", "approve", sig, "100", now=99)
    with pytest.raises(links.LinkError):
        verify("t", "r1", "reject", sig, "100", now=99)
    with pytest.raises(links.LinkError):
        verify("t", "r2", "approve", sig, "100", now=99)
    with pytest.raises(links.LinkError, match="expired"):
        verify("t", "r1", "approve", sig, "100", now=101)
    incident_link = links.signature("t", "r1", "approve", 100)  # never the same as a run's
    assert incident_link != sig
