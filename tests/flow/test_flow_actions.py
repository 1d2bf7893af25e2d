"""Remediation actions on the real broker: dry run, approval, SIGKILLs, rollback, limits.

The module restarts the session worker with action receivers routed to ``act-*`` tenants. The
command they run is a small script on the allow-list that appends one line per execution to the
file named by the alert's ``log`` label, so a test counts executions by counting lines. HTTP
actions call a local stand-in of an automation system that can hold its first request.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from confluent_kafka import Producer

from tests.harness import (
    REPO,
    TopicReader,
    Worker,
    accepted,
    eventually,
    free_port,
    http,
    reading,
    unique,
)

SCRIPT = """#!{python}
import os, sys, time
log, what = sys.argv[1], sys.argv[2]
run, phase = os.environ["ALERTFLOW_RUN_ID"], os.environ["ALERTFLOW_ACTION_PHASE"]
token = os.environ.get("ALERTFLOW_API_TOKEN")
with open(log, "a") as out:
    out.write(f"{{what}} {{run}} {{phase}} token={{token}} pid={{os.getpid()}}\\n")
if "sleep" in sys.argv[3:]:
    time.sleep(120)
if "fail" in sys.argv[3:]:
    print("it broke", file=sys.stderr)
    sys.exit(3)
print("done", what)
"""


class Service:
    """An automation system stand-in: records every request; can hold the first one."""

    def __init__(self, hold_first: float = 0.0) -> None:
        self.requests: list[dict[str, Any]] = []
        self.hold_first = hold_first
        self.arrived = threading.Event()
        service = self
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                first = not service.requests
                service.requests.append(
                    {"headers": dict(self.headers), "body": json.loads(body) if body else None}
                )
                service.arrived.set()
                if first and service.hold_first:
                    time.sleep(service.hold_first)
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b'{"job": "started"}')

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/run"

    def bodies(self) -> list[dict[str, Any]]:
        return [r["body"] for r in self.requests if r["body"]]


@pytest.fixture(scope="module")
def services() -> Iterator[dict[str, Service]]:
    found = {
        "approvers": Service(),
        "held": Service(hold_first=30.0),
        "held_again": Service(hold_first=30.0),
    }
    yield found
    for service in found.values():
        service.server.shutdown()


def _command(script: Path, what: str, *more: str) -> list[str]:
    return [str(script), "{{ labels.log }}", what, *more]


def _config(script: Path, services: dict[str, Service]) -> dict[str, Any]:
    run = {"type": "action", "mode": "run"}
    receivers = [
        {"name": "approvers", "type": "webhook", "url": services["approvers"].url},
        {"name": "fix-dry", "type": "action", "command": _command(script, "dry-{{ labels.host }}")},
        {
            "name": "fix-approved",
            **run,
            "approval": "required",
            "approvers": ["approvers"],
            "command": _command(script, "approved-{{ labels.host }}"),
        },
        {
            "name": "fix-failing",
            **run,
            "command": _command(script, "action", "fail"),
            "rollback": [{"command": _command(script, "rollback")}],
        },
        {
            "name": "fix-manual",
            **run,
            "command": _command(script, "manual"),
            "rollback": [{"command": _command(script, "undo")}],
            "limit": {"runs": 1, "per": "1h"},
        },
        {
            "name": "fix-slow",
            **run,
            "command": _command(script, "slow", "sleep"),
            "step_timeout": 300,
        },
        {
            "name": "fix-held",
            **run,
            "step_timeout": 20,  # the kill may come seconds after the call began
            "http": {
                "url": services["held"].url,
                "body": {"incident": "{{ incident.incident_id }}"},
            },
        },
        {
            "name": "fix-held-idempotent",
            **run,
            "step_timeout": 20,  # the kill may come seconds after the call began
            "idempotent": True,
            "http": {"url": services["held_again"].url, "body": {"host": "{{ labels.host }}"}},
        },
    ]
    routes = [
        {"matchers": [f'tenant=~"act-{kind}-.*"'], "receivers": [f"fix-{kind}"]}
        for kind in ("dry", "approved", "failing", "manual", "held", "slow")
    ]
    routes.insert(0, {"matchers": ['tenant=~"act-idem-.*"'], "receivers": ["fix-held-idempotent"]})
    return {
        "receivers": receivers,
        "routes": {"receiver": "webhook", "routes": routes},
        "notify": {"tick_interval": "1s", "reload_interval": "1s"},
    }


@pytest.fixture(scope="module")
def script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("actions") / "act.py"
    path.write_text(SCRIPT.format(python=sys.executable))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture(scope="module")
def configured(
    worker: Worker,
    services: dict[str, Service],
    script: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Path]:
    """The session worker, restarted with this module's action receivers."""
    path = tmp_path_factory.mktemp("actions-config") / "alertflow.yaml"
    path.write_text(yaml.safe_dump(_config(script, services)))
    # SIGKILL, not Ctrl-C: on SIGINT the worker writes a plain "-INT-" line to its JSON log
    # (tests/flow/test_logs.py reads the session worker's log); its state is durable either way.
    worker.stop(kill=True)
    worker.env.update({"ALERTFLOW_CONFIG": str(path), "ALERTFLOW_ACTIONS_ALLOW": str(script)})
    worker.start()
    yield path
    worker.stop(kill=True)
    for name in ("ALERTFLOW_CONFIG", "ALERTFLOW_ACTIONS_ALLOW"):
        del worker.env[name]
    worker.start()


@pytest.fixture(scope="module")
def actions_log(bootstrap: str, worker: Worker) -> Iterator[TopicReader]:
    yield from reading(bootstrap, "actions.log")


def _fire(worker: Worker, enriched: TopicReader, kind: str, log: Path, host: str = "web-1") -> str:
    """Post a critical alert that the route of ``fix-<kind>`` takes; its incident id."""
    tenant = unique(f"act-{kind}")
    labels = {"alertname": "DiskFull", "host": host, "log": str(log)}
    (alert_id,) = accepted(
        worker,
        f"/api/v1/alerts?tenant={tenant}",
        {"title": "Disk full", "severity": "critical", "service": "web", "labels": labels},
    )
    found = enriched.wait(lambda key, value: key == alert_id, timeout=60)
    return str(found[-1][1]["incident_id"])


def _runs(worker: Worker, incident_id: str) -> list[dict[str, Any]]:
    answer = http("GET", f"{worker.url}/api/v1/incidents/{incident_id}")
    if answer.status == 404:  # its alert is published a moment before the incident is written
        return []
    assert answer.status == 200, answer.body
    return list(answer.body["actions"])


def _run_when(
    worker: Worker, incident_id: str, *statuses: str, timeout: float = 60
) -> dict[str, Any]:
    """The incident's one run, once its status is one of ``statuses`` (seen through the API)."""
    found = eventually(
        lambda: [r for r in _runs(worker, incident_id) if r["status"] in statuses],
        timeout,
        f"a run of incident {incident_id} to be {' or '.join(statuses)}",
    )
    assert len(_runs(worker, incident_id)) == 1
    return dict(found[0])


def _lines(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def _link_path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_a_dry_run_records_what_would_run_and_executes_nothing(
    configured: Path,
    worker: Worker,
    enriched: TopicReader,
    actions_log: TopicReader,
    tmp_path: Path,
) -> None:
    log = tmp_path / "dry.log"
    incident_id = _fire(worker, enriched, "dry", log, host="web-7")
    run = _run_when(worker, incident_id, "dry_run")
    assert run["mode"] == "dry_run" and run["action"] == "fix-dry"
    assert run["plan"]["action"][0]["argv"][1:] == [str(log), "dry-web-7"]
    assert (
        "would run" in run["history"][-1]["detail"] and "dry-web-7" in run["history"][-1]["detail"]
    )
    (record,) = actions_log.wait(lambda key, value: key == incident_id)
    assert record[1]["status"] == "dry_run" and record[1]["result"] is None
    time.sleep(2)
    assert not log.exists(), "a dry run executed the command"


def test_an_approval_runs_it_once_only_after_the_signed_link(
    configured: Path,
    worker: Worker,
    enriched: TopicReader,
    services: dict[str, Service],
    tmp_path: Path,
) -> None:
    log = tmp_path / "approved.log"
    incident_id = _fire(worker, enriched, "approved", log)
    asked = eventually(
        lambda: [b for b in services["approvers"].bodies() if b.get("incident_id") == incident_id],
        60,
        "the approval request",
    )[0]
    approval = asked["approval"]
    assert asked["change"] == "approval" and approval["action"] == "fix-approved"
    assert any(approval["approve"] in reason for reason in asked["reasons"])
    run = _run_when(worker, incident_id, "awaiting_approval")
    assert run["approval"]["approvers"] == ["approvers"]
    time.sleep(1)
    assert _lines(log) == [], "it ran before anyone approved"

    page = http("GET", f"{worker.url}{_link_path(approval['approve'])}", token=None)
    assert page.status == 200 and b"approved-web-1" in page.body
    assert page.headers["Cache-Control"] == "no-store"
    forged = approval["approve"].replace("sig=", "sig=00")
    assert http("POST", f"{worker.url}{_link_path(forged)}", token=None).status == 401
    assert (
        http(
            "POST",
            f"{worker.url}{_link_path(approval['reject'].replace('reject', 'approve'))}",
            token=None,
        ).status
        == 401
    )
    approved = http("POST", f"{worker.url}{_link_path(approval['approve'])}", token=None)
    assert approved.status == 202, approved.body
    assert approved.body["by"] == "signed link"

    run = _run_when(worker, incident_id, "succeeded")
    (step,) = run["result"]["steps"]
    assert step["exit_code"] == 0 and step["stdout"].strip() == "done approved-web-1"
    assert [h["status"] for h in run["history"]][-3:] == ["approved", "running", "succeeded"]
    (line,) = _lines(log)
    assert line.startswith(f"approved-web-1 {run['id']} action")
    assert " token=None " in line, "the worker's environment leaked into the command"
    again = http("POST", f"{worker.url}{_link_path(approval['approve'])}", token=None)
    assert again.status == 409


def test_a_rejected_action_never_runs(
    configured: Path,
    worker: Worker,
    enriched: TopicReader,
    services: dict[str, Service],
    tmp_path: Path,
) -> None:
    log = tmp_path / "rejected.log"
    incident_id = _fire(worker, enriched, "approved", log)
    asked = eventually(
        lambda: [b for b in services["approvers"].bodies() if b.get("incident_id") == incident_id],
        60,
        "the approval request",
    )[0]
    rejected = http("POST", f"{worker.url}{_link_path(asked['approval']['reject'])}", token=None)
    assert rejected.status == 202
    run = _run_when(worker, incident_id, "rejected")
    assert run["history"][-1]["by"] == "signed link"
    late = http("POST", f"{worker.url}{_link_path(asked['approval']['approve'])}", token=None)
    assert late.status == 409
    time.sleep(1)
    assert _lines(log) == []


def test_exactly_once_across_a_sigkill_between_approval_and_execution(
    configured: Path,
    worker: Worker,
    bootstrap: str,
    enriched: TopicReader,
    services: dict[str, Service],
    tmp_path: Path,
) -> None:
    log = tmp_path / "killed.log"
    incident_id = _fire(worker, enriched, "approved", log)
    eventually(
        lambda: [b for b in services["approvers"].bodies() if b.get("incident_id") == incident_id],
        60,
        "the approval request",
    )
    run = _run_when(worker, incident_id, "awaiting_approval")
    worker.stop(kill=True)
    # The approval is in Kafka (what a 202 from the approve link means) while no worker runs:
    # exactly the record the endpoint writes.
    producer = Producer({"bootstrap.servers": bootstrap})
    decision = {"kind": "decision", "run_id": run["id"], "decision": "approve", "by": "ann"}
    producer.produce("actions.events", key=run["id"], value=json.dumps({**decision, "at": "now"}))
    assert producer.flush(10) == 0
    worker.start()
    run = _run_when(worker, incident_id, "succeeded")
    assert run["approval"]["decided_by"] == "ann"
    assert len(_lines(log)) == 1
    worker.stop(kill=True)  # once more, after it ran: reading the approval again runs nothing
    worker.start()
    time.sleep(3)
    assert _run_when(worker, incident_id, "succeeded")["attempt"] == 1
    assert len(_lines(log)) == 1


def test_a_sigkill_mid_run_is_reported_unknown_and_not_run_again_unless_idempotent(
    configured: Path, worker: Worker, enriched: TopicReader, services: dict[str, Service]
) -> None:
    held, again = services["held"], services["held_again"]
    plain = _fire(worker, enriched, "held", Path("/nonexistent"))
    idempotent = _fire(worker, enriched, "idem", Path("/nonexistent"))
    assert held.arrived.wait(60) and again.arrived.wait(60), "the calls never started"
    worker.stop(kill=True)  # while both automation calls are still being answered
    worker.start()
    lost = _run_when(worker, plain, "unknown", timeout=90)
    assert "not run again" in lost["history"][-1]["detail"]
    redone = _run_when(worker, idempotent, "succeeded", timeout=90)
    assert redone["attempt"] == 2
    time.sleep(2)
    assert len(held.requests) == 1
    assert held.bodies() == [{"incident": plain}]
    keys = {r["headers"]["Idempotency-Key"] for r in again.requests}
    assert len(again.requests) == 2 and keys == {f"{redone['id']}:action:0"}


def test_a_failing_action_runs_its_rollback(
    configured: Path,
    worker: Worker,
    enriched: TopicReader,
    actions_log: TopicReader,
    tmp_path: Path,
) -> None:
    log = tmp_path / "failing.log"
    incident_id = _fire(worker, enriched, "failing", log)
    run = _run_when(worker, incident_id, "rolled_back")
    (step,) = run["result"]["steps"]
    assert step["exit_code"] == 3 and step["stderr"].strip() == "it broke"
    assert run["rollback_result"]["ok"] is True
    assert [line.split()[0] for line in _lines(log)] == ["action", "rollback"]
    actions_log.wait(lambda key, value: key == incident_id and value["status"] == "rolled_back")
    statuses = [
        v["status"] for _, v, _ in actions_log.matching(lambda key, value: key == incident_id)
    ]
    assert statuses[-3:] == ["failed", "rolling_back", "rolled_back"]


def test_a_person_asks_for_the_rollback_once_and_the_route_limit_holds(
    configured: Path, worker: Worker, enriched: TopicReader, tmp_path: Path
) -> None:
    log = tmp_path / "manual.log"
    first = _fire(worker, enriched, "manual", log)
    run = _run_when(worker, first, "succeeded")
    asked = http("POST", f"{worker.url}/api/v1/actions/{run['id']}/rollback", {"by": "ann"})
    assert asked.status == 202
    run = _run_when(worker, first, "rolled_back")
    assert [line.split()[0] for line in _lines(log)] == ["manual", "undo"]
    assert http("POST", f"{worker.url}/api/v1/actions/{run['id']}/rollback").status == 409
    unsigned = http("POST", f"{worker.url}/api/v1/actions/{run['id']}/rollback", token=None)
    assert unsigned.status == 401
    # The tenants differ, but every act-manual-* incident takes the same route: 1 run an hour.
    second = _fire(worker, enriched, "manual", tmp_path / "manual2.log")
    limited = _run_when(worker, second, "rate_limited")
    assert "1 run(s) per 3600s" in limited["history"][-1]["detail"]
    assert not (tmp_path / "manual2.log").exists()


def test_the_kill_switch_stops_what_runs_and_blocks_new_runs_until_released(
    configured: Path, worker: Worker, enriched: TopicReader, tmp_path: Path
) -> None:
    slow_log = tmp_path / "slow.log"
    running = _fire(worker, enriched, "slow", slow_log)
    _run_when(worker, running, "running")
    eventually(lambda: _lines(slow_log), what="the command to start")
    pid = int(_lines(slow_log)[0].rsplit("pid=", 1)[1])
    engaged = http(
        "PUT", f"{worker.url}/api/v1/actions/kill-switch", {"engaged": True, "reason": "drill"}
    )
    assert engaged.status == 202
    try:
        killed = _run_when(worker, running, "killed")
        assert killed["result"]["outcome"] == "killed"
        eventually(lambda: not _alive(pid), 10, "the command to be killed")
        switch = http("GET", f"{worker.url}/api/v1/actions/kill-switch").body
        assert switch["engaged"] is True and switch["reason"] == "drill"
        log = tmp_path / "blocked.log"
        incident_id = _fire(worker, enriched, "failing", log)
        run = _run_when(worker, incident_id, "blocked")
        assert "drill" in run["history"][-1]["detail"]
        assert not log.exists()
    finally:
        released = http("PUT", f"{worker.url}/api/v1/actions/kill-switch", {"engaged": False})
        assert released.status == 202
    eventually(
        lambda: not http("GET", f"{worker.url}/api/v1/actions/kill-switch").body["engaged"],
        what="the kill switch to be released",
    )
    bad = http("PUT", f"{worker.url}/api/v1/actions/kill-switch", {"engaged": "yes"})
    assert bad.status == 400 and bad.body["error"] == "invalid_body"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/status").read_text().find("State:\tZ") < 0


def test_a_worker_refuses_an_action_whose_program_is_not_allowed(
    bootstrap: str, tmp_path: Path
) -> None:
    config = tmp_path / "alertflow.yaml"
    action = {"name": "fix", "type": "action", "command": ["/usr/bin/touch", "/tmp/x"]}
    config.write_text(yaml.safe_dump({"receivers": [action], "routes": {"receiver": "fix"}}))
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP": bootstrap,
        "ALERTFLOW_CONFIG": str(config),
        "ALERTFLOW_DATA_DIR": str(tmp_path),
        "ALERTFLOW_HTTP_PORT": str(free_port()),
    }
    env.pop("ALERTFLOW_ACTIONS_ALLOW", None)
    done = subprocess.run(
        [str(REPO / ".venv" / "bin" / "alertflow"), "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "receivers.fix.command: /usr/bin/touch is not on the allow-list" in done.stderr
