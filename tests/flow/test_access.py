"""Tokens, roles and tenants (issue G.12) and the audit log (G.14), on a worker of their own.

Its ALERTFLOW_CONFIG declares one token per role for tenant A, a reader of tenant B and an
admin of every tenant, each stored as its SHA-256 only.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.access import digest
from tests.endpoints import endpoints
from tests.harness import (
    API_TOKEN,
    REPO,
    TopicReader,
    Worker,
    eventually,
    http,
    running,
    unique,
)

A, B = unique("tenant-a"), unique("tenant-b")
SECRETS = {  # token → (id, role, tenants)
    "ingest-a-secret": ("ingest-a", "ingest", [A]),
    "read-a-secret": ("read-a", "read", [A]),
    "operate-a-secret": ("operate-a", "operate", [A]),
    "admin-secret": ("admin", "admin", "*"),
    "read-b-secret": ("read-b", "read", [B]),
}
ROLE_TOKENS = {role: secret for secret, (_, role, tenants) in SECRETS.items() if tenants != [B]}
GRANTED = {
    "ingest": {"ingest", "any"},
    "read": {"read", "any"},
    "operate": {"read", "operate", "any"},
    "admin": {"ingest", "read", "operate", "admin", "any"},
}


@pytest.fixture(scope="module")
def scoped(own_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    directory = tmp_path_factory.mktemp("scoped")
    config = directory / "alertflow.yaml"
    entries = [
        {"id": ident, "sha256": digest(secret), "role": role, "tenants": tenants}
        for secret, (ident, role, tenants) in SECRETS.items()
    ]
    config.write_text(yaml.safe_dump({"tokens": entries}))
    process = Worker(
        own_bootstrap,
        directory,
        env={"ALERTFLOW_CONFIG": str(config), "ALERTFLOW_API_TOKEN": API_TOKEN},
    )
    yield from running(process)


FILL = {
    "alert_id": "nope",
    "incident_id": "nope",
    "action": "acknowledge",
    "tenant": A,
    "project_id": "7",
    "silence_id": "nope",
    "fingerprint": "nope",
}


def _concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: FILL.get(m.group(1), "x"), path)


ENDPOINTS = endpoints()


def test_every_endpoint_declares_what_it_needs() -> None:
    undeclared = {path for _, path, need in ENDPOINTS if need is None}
    assert undeclared == {"/metrics"}  # open by the contract (Prometheus scrapes it)
    paths = {path for _, path, _ in ENDPOINTS}
    assert {"/api/v1/alerts", "/api/v1/incidents", "/api/v1/audit", "/api/v1/health"} <= paths
    declared = {need for _, _, need in ENDPOINTS}
    assert declared <= {"ingest", "read", "operate", "admin", "any", "none", None}


@pytest.mark.parametrize("role", sorted(ROLE_TOKENS))
def test_each_role_gets_exactly_what_it_is_granted(scoped: Worker, role: str) -> None:
    for method, path, need in ENDPOINTS:
        url = scoped.url + _concrete(path)
        answer = http(method, url, token=ROLE_TOKENS[role])
        refused = answer.status == 403 and answer.body.get("error") == "forbidden"
        if need in ("none", None) or need in GRANTED[role]:
            assert not refused and answer.status != 401, (role, method, path, answer.body)
        else:
            assert refused, (role, method, path, answer.status, answer.body)
        if need not in ("none", None):
            assert http(method, url, token=None).status == 401, (method, path)
            assert http(method, url, token="wrong").status == 401, (method, path)


def test_a_token_acts_only_for_its_tenants(scoped: Worker, own_bootstrap: str) -> None:
    enriched = TopicReader(own_bootstrap, "alerts.enriched")
    try:
        (a_id,) = _ingest(scoped, "ingest-a-secret", {"title": "disk A"})  # its one tenant
        (b_id,) = _ingest(scoped, "admin-secret", {"title": "disk B", "tenant": B})
        found = enriched.wait_keys((a_id, b_id), timeout=90)
    finally:
        enriched.close()
    incident = {value["tenant"]: value["incident_id"] for _, value, _ in found}
    assert incident.keys() == {A, B}

    smuggled = http(
        "POST", f"{scoped.url}/api/v1/alerts", {"title": "x", "tenant": B}, token="ingest-a-secret"
    )
    assert smuggled.status == 403 and smuggled.body["error"] == "forbidden_tenant"
    header = {"X-Alertflow-Tenant": B}
    assert (
        http(
            "POST",
            f"{scoped.url}/api/v1/alerts",
            {"title": "x"},
            headers=header,
            token="ingest-a-secret",
        ).status
        == 403
    )

    listed = _incidents(scoped, "read-a-secret")
    assert incident[A] in listed and incident[B] not in listed
    assert {incident[A], incident[B]} <= _incidents(scoped, "admin-secret")
    for query in (f"?tenant={B}", ""):
        refused = http(
            "GET", f"{scoped.url}/api/v1/incidents{query}", headers=header, token="read-a-secret"
        )
        assert refused.status == 403 and refused.body["error"] == "forbidden_tenant"
    eventually(
        lambda: (
            http(
                "GET", f"{scoped.url}/api/v1/incidents/{incident[B]}", token="read-b-secret"
            ).status
            == 200
        )
    )
    other = http("GET", f"{scoped.url}/api/v1/incidents/{incident[B]}", token="read-a-secret")
    assert other.status == 403 and other.body["error"] == "forbidden_tenant"
    assert http("GET", f"{scoped.url}/api/v1/alerts/{b_id}", token="read-a-secret").status == 403
    ack = http(
        "POST",
        f"{scoped.url}/api/v1/incidents/{incident[B]}/acknowledge",
        {},
        token="operate-a-secret",
    )
    assert ack.status == 403 and ack.body["error"] == "forbidden_tenant"
    silence = {"matchers": [f'tenant="{B}"'], "ends_at": "2099-01-01T00:00:00Z"}
    assert (
        http("POST", f"{scoped.url}/api/v1/silences", silence, token="operate-a-secret").status
        == 403
    )
    silence["matchers"] = [f'tenant="{A}"']
    assert (
        http("POST", f"{scoped.url}/api/v1/silences", silence, token="operate-a-secret").status
        == 202
    )


def test_the_alertmanager_api_keeps_tenants_apart(scoped: Worker, own_bootstrap: str) -> None:
    name = unique("AmTenants")

    def post(token: str, **labels: str) -> int:
        alert = {"labels": {"alertname": name, **labels}}
        return http("POST", f"{scoped.url}/api/v2/alerts", [alert], token=token).status

    assert post("ingest-a-secret") == 200  # its one tenant
    assert post("ingest-a-secret", tenant=B) == 403  # an alert naming another tenant
    assert post("admin-secret", tenant=B) == 200

    def listed(token: str, query: str = "") -> Any:
        url = f"{scoped.url}/api/v2/alerts?filter=alertname%3D{name}{query}"
        answer = http("GET", url, token=token)
        if answer.status != 200:
            return answer.status, answer.body
        return answer.status, sorted(a["labels"].get("tenant", A) for a in answer.body)

    eventually(lambda: listed("admin-secret") == (200, [A, B]), 90, "both tenants' alerts")
    assert listed("read-a-secret") == (200, [A])
    assert listed("read-b-secret") == (200, [B])
    refused = listed("read-a-secret", f"&tenant={B}")
    assert refused[0] == 403 and refused[1]["error"] == "forbidden_tenant"

    silence = {
        "matchers": [{"name": "tenant", "value": B, "isRegex": False}],
        "startsAt": "2020-01-01T00:00:00Z",
        "endsAt": "2099-01-01T00:00:00Z",
        "createdBy": "a",
        "comment": "not ours",
    }
    url = f"{scoped.url}/api/v2/silences"
    assert http("POST", url, silence, token="operate-a-secret").status == 403
    made = http("POST", url, silence, token="admin-secret")
    assert made.status == 200
    eventually(
        lambda: (
            made.body["silenceID"] in {s["id"] for s in http("GET", url, token="admin-secret").body}
        ),
        30,
        "the silence listed",
    )
    assert made.body["silenceID"] not in {
        s["id"] for s in http("GET", url, token="read-a-secret").body
    }
    assert (
        http(
            "GET", f"{scoped.url}/api/v2/silence/{made.body['silenceID']}", token="read-a-secret"
        ).status
        == 403
    )


def _ingest(worker: Worker, token: str, body: dict) -> list[str]:
    answer = http("POST", f"{worker.url}/api/v1/alerts", body, token=token)
    assert answer.status == 202, answer.body
    return answer.body["ids"]


def _incidents(worker: Worker, token: str) -> set[str]:
    answer = http("GET", f"{worker.url}/api/v1/incidents?limit=1000", token=token)
    assert answer.status == 200, answer.body
    return {incident["id"] for incident in answer.body["incidents"]}


def test_a_dsn_key_only_ingests_and_never_a_reader(scoped: Worker) -> None:
    envelope = b'{}\n{"type": "event"}\n{"message": "from the SDK"}\n'
    url = f"{scoped.url}/api/7/envelope/?sentry_key="
    assert http("POST", url + "ingest-a-secret", raw=envelope, token=None).status == 200
    assert http("POST", url + "read-a-secret", raw=envelope, token=None).status == 403
    listing = f"{scoped.url}/api/v1/incidents?sentry_key=admin-secret"
    assert http("GET", listing, token=None).status == 401  # a DSN key is no bearer token


def test_tokens_are_stored_hashed(scoped: Worker) -> None:
    stored = digest("read-a-secret")
    assert http("GET", f"{scoped.url}/api/v1/incidents", token=stored).status == 401
    assert http("GET", f"{scoped.url}/api/v1/incidents", token="read-a-secret").status == 200


def test_state_changes_are_audited_and_only_admins_read_the_log(scoped: Worker) -> None:
    marker = unique("audited")
    _ingest(scoped, "ingest-a-secret", {"title": marker})
    http("POST", f"{scoped.url}/api/v1/incidents/nope/resolve", {}, token="read-a-secret")
    http("DELETE", f"{scoped.url}/api/v1/silences/nope", token="wrong")
    assert http("GET", f"{scoped.url}/api/v1/audit", token="operate-a-secret").status == 403

    def entries(query: str) -> list[dict]:
        answer = http("GET", f"{scoped.url}/api/v1/audit?{query}", token="admin-secret")
        assert answer.status == 200, answer.body
        return answer.body["entries"]

    ingest = eventually(lambda: entries("who=ingest-a&path=/api/v1/alerts"), 60, "audit")[0]
    assert ingest["role"] == "ingest" and ingest["method"] == "POST"
    assert ingest["status"] == 202 and ingest["peer"] == "127.0.0.1" and ingest["at"]
    refused = eventually(lambda: entries("who=read-a&path=/api/v1/incidents/nope"), 60)[0]
    assert refused["status"] == 403 and refused["resource"]["incident_id"] == "nope"
    stranger = eventually(lambda: entries("method=DELETE&status=401"), 60)[0]
    assert stranger["who"] == "anonymous"
    assert not entries("method=GET")  # reads are not state changes
    first, *_ = entries("limit=1")
    older = http(
        "GET", f"{scoped.url}/api/v1/audit?limit=1&before={first['offset']}", token="admin-secret"
    ).body
    assert older["entries"][0]["offset"] < first["offset"]


def test_a_worker_refuses_to_listen_beyond_loopback_without_a_token(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ALERTFLOW_")},
        "ALERTFLOW_HTTP_BIND": "0.0.0.0",
        "ALERTFLOW_DATA_DIR": str(tmp_path),
        "KAFKA_BOOTSTRAP": "127.0.0.1:1",
    }
    done = subprocess.run(
        [str(REPO / ".venv" / "bin" / "alertflow"), "worker"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 2 and "ALERTFLOW_HTTP_BIND" in done.stderr, done.stderr[-2000:]
    assert "ALERTFLOW_INSECURE" in done.stderr
