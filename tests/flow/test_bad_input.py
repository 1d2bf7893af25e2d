"""Bad input gets a clear 4xx with the contract's error shape, and nothing of it reaches Kafka."""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import time
from pathlib import Path

import pytest

from tests.harness import SENTRY_SECRET, TopicReader, Worker, http, unique

JSON = {"Content-Type": "application/json"}


def _error(answer, status: int, code: str | None = None) -> None:
    assert answer.status == status, answer.body
    assert set(answer.body) == {"error", "detail"} and answer.body["detail"]
    if code:
        assert answer.body["error"] == code


@pytest.mark.parametrize(
    "path",
    [
        "/webhooks/alertmanager",
        "/webhooks/sentry",
        "/api/v1/alerts",
    ],
)
def test_invalid_json_is_400(worker: Worker, path: str) -> None:
    headers = {**JSON, "Sentry-Hook-Resource": "issue"}
    body = b'{"alerts": ['
    signature = hmac.new(SENTRY_SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers["Sentry-Hook-Signature"] = signature
    _error(http("POST", worker.url + path, raw=body, headers=headers), 400, "invalid_json")


@pytest.mark.parametrize("path", ["/webhooks/alertmanager", "/webhooks/sentry", "/api/v1/alerts"])
def test_wrong_media_type_is_415(worker: Worker, path: str) -> None:
    answer = http(
        "POST",
        worker.url + path,
        raw=b"title=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    _error(answer, 415, "unsupported_media_type")


@pytest.mark.parametrize("path", ["/webhooks/alertmanager", "/api/v1/alerts", "/api/v1/incidents"])
def test_missing_or_wrong_token_is_401(worker: Worker, path: str) -> None:
    method = "GET" if path.endswith("incidents") else "POST"
    body = None if method == "GET" else {"title": "x"}
    _error(http(method, worker.url + path, body, token=None), 401, "unauthorized")
    _error(http(method, worker.url + path, body, token="wrong"), 401, "unauthorized")


def test_body_over_the_limit_is_413(worker: Worker) -> None:
    big = json.dumps({"title": "x" * (17 * 1024 * 1024)}).encode()
    answer = http("POST", worker.url + "/api/v1/alerts", raw=big)
    _error(answer, 413)


def test_alertmanager_wrong_version_and_missing_fields_are_400(worker: Worker) -> None:
    url = worker.url + "/webhooks/alertmanager"
    _error(http("POST", url, {"version": "3", "alerts": []}), 400)
    answer = http("POST", url, {"version": "4", "alerts": [{"status": "firing", "labels": {}}]})
    _error(answer, 400)
    assert "startsAt" in answer.body["detail"]


def test_api_wrong_types_name_the_field(worker: Worker) -> None:
    answer = http(
        "POST",
        worker.url + "/api/v1/alerts",
        [{"title": "ok"}, {"title": "bad", "labels": {"team": 7}}],
    )
    _error(answer, 400)
    assert "[1]" in answer.body["detail"] and "team" in answer.body["detail"]


def test_sentry_unsigned_or_badly_signed_is_401(worker: Worker, fixtures_dir: Path) -> None:
    body = (fixtures_dir / "sentry-webhooks" / "issue-created.json").read_bytes()
    headers = {**JSON, "Sentry-Hook-Resource": "issue"}
    _error(http("POST", worker.url + "/webhooks/sentry", raw=body, headers=headers), 401)
    headers["Sentry-Hook-Signature"] = "0" * 64
    _error(http("POST", worker.url + "/webhooks/sentry", raw=body, headers=headers), 401)


def test_envelope_garbage_is_400_and_bomb_is_413(worker: Worker) -> None:
    url = worker.url + "/api/42/envelope/"
    headers = {"Content-Type": "application/x-sentry-envelope", "Content-Encoding": "gzip"}
    _error(http("POST", url, raw=b"\x1f\x8bnot gzip at all", headers=headers), 400)
    _error(http("POST", url, raw=b'{}\n{"type": "event"}\n{broken\n'), 400)
    bomb = gzip.compress(b"{}\n" + b" " * (64 * 1024 * 1024))
    _error(http("POST", url, raw=bomb, headers=headers), 413)


def test_feedback_for_unknown_alert_or_bad_body(worker: Worker) -> None:
    _error(http("POST", worker.url + "/api/v1/alerts/nope/acknowledge", {}), 404, "not_found")
    _error(http("POST", worker.url + "/api/v1/incidents/nope/resolve", {}), 404, "not_found")
    _error(http("GET", worker.url + "/api/v1/alerts/nope"), 404, "not_found")
    _error(http("GET", worker.url + "/api/v1/incidents?limit=0"), 400, "invalid_query")
    _error(http("GET", worker.url + "/api/v1/incidents?status=open"), 400, "invalid_query")


def test_refused_input_never_reaches_kafka(worker: Worker, raw_topic: TopicReader) -> None:
    marker = unique("refused")
    http("POST", worker.url + "/api/v1/alerts", [{"title": marker}, {"title": 5}])
    http("POST", worker.url + "/api/v1/alerts", {"title": marker}, token=None)
    probe = unique("probe")
    (probe_id,) = http("POST", worker.url + "/api/v1/alerts", {"title": probe}).body["ids"]
    raw_topic.wait(lambda key, value: probe in str(value))
    time.sleep(0.5)
    assert raw_topic.matching(lambda key, value: marker in str(value)) == []
    assert probe_id
