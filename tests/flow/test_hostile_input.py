"""Hostile input (issue G.7): every answer is a 4xx in the contract's error shape, never a 500."""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlsplit

import pytest

from tests.harness import API_TOKEN, Worker, http

JSON = {"Content-Type": "application/json"}
NOT_UTF8 = b"\xff\xfe\xc3"


def _error(answer, status: int, code: str | None = None) -> None:
    assert answer.status == status, (answer.status, answer.body)
    assert isinstance(answer.body, dict), answer.body
    assert set(answer.body) == {"error", "detail"} and answer.body["detail"], answer.body
    if code:
        assert answer.body["error"] == code, answer.body


def _nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize("depth", [256, 600, 1000])
def test_deep_nesting_in_free_form_fields_is_400(worker: Worker, depth: int) -> None:
    deep = _nested(depth)
    alert = '{"status": "firing", "labels": {}, "startsAt": "2026-01-01T00:00:00Z", "more": '
    am = '{"version": "4", "extra": ' + deep + ', "alerts": [' + alert + deep + "}]}"
    _error(http("POST", worker.url + "/webhooks/alertmanager", raw=am.encode()), 400, "too_deep")
    envelope = '{}\n{"type": "event"}\n{"message": "x", "extra": ' + deep + "}\n"
    answer = http("POST", worker.url + "/api/42/envelope/", raw=envelope.encode())
    _error(answer, 400, "too_deep")


def _raw_post(worker: Worker, path: str, headers: list[tuple[bytes, bytes]]) -> tuple[int, dict]:
    """POST a JSON alert with header bytes no HTTP client library would send."""
    body = b'{"title": "hostile headers"}'
    head = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
    request = (
        b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body) + head + b"\r\n"
    ) + body
    port = urlsplit(worker.url).port
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(request)
        reply = b""
        while chunk := connection.recv(65536):
            reply += chunk
    status_line, _, rest = reply.partition(b"\r\n")
    return int(status_line.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2])


BEARER = b"Bearer " + API_TOKEN.encode()


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/api/v1/alerts", [(b"Authorization", BEARER), (b"X-Alertflow-Tenant", NOT_UTF8)]),
        ("/api/v1/alerts", [(b"Authorization", b"Bearer " + NOT_UTF8)]),
        (
            "/webhooks/sentry",
            [
                (b"Authorization", BEARER),
                (b"Sentry-Hook-Resource", b"issue"),
                (b"Sentry-Hook-Signature", NOT_UTF8),
            ],
        ),
        ("/api/42/envelope/", [(b"X-Sentry-Auth", b"Sentry sentry_key=" + NOT_UTF8)]),
        ("/api/42/envelope/?sentry_key=%FF%FE", []),
    ],
)
def test_non_utf8_credentials_and_tenant_are_4xx(worker: Worker, path: str, headers) -> None:
    status, body = _raw_post(worker, path, headers)
    assert 400 <= status < 500, (status, body)
    assert set(body) == {"error", "detail"}, body


@pytest.mark.parametrize(
    "query",
    ["since=0001-01-01T00:00:00%2B01:00", "until=9999-12-31T23:59:59-01:00", "limit=%C2%B2"],
)
def test_out_of_range_queries_are_400(worker: Worker, query: str) -> None:
    _error(http("GET", f"{worker.url}/api/v1/incidents?{query}"), 400, "invalid_query")


def test_silence_at_the_end_of_time_is_400(worker: Worker) -> None:
    body = {
        "matchers": ["service=db"],
        "startsAt": "0001-01-01T00:00:00+01:00",
        "endsAt": "2030-01-01T00:00:00Z",
        "createdBy": "fuzz",
        "comment": "overflow",
    }
    _error(http("POST", f"{worker.url}/api/v1/silences", body), 400, "invalid_silence")


@pytest.mark.parametrize("exp", ["%C2%B2", "9" * 5000])
def test_malformed_link_expiry_is_401(worker: Worker, exp: str) -> None:
    url = f"{worker.url}/api/v1/incidents/nope/resolve?sig={'0' * 64}&exp={exp}"
    _error(http("POST", url, token=None), 401, "invalid_signature")
    _error(http("GET", url, token=None), 401, "invalid_signature")


def test_zstd_is_decoded_and_broken_zstd_is_a_json_400(worker: Worker) -> None:
    from backports import zstd

    headers = {**JSON, "Content-Encoding": "zstd"}
    body = zstd.compress(json.dumps({"title": "zstd body"}).encode())
    assert http("POST", worker.url + "/api/v1/alerts", raw=body, headers=headers).status == 202
    logged = worker.log.stat().st_size
    broken = http("POST", worker.url + "/api/v1/alerts", raw=b"not zstd at all", headers=headers)
    _error(broken, 400, "invalid_encoding")
    time.sleep(1.0)  # aiohttp reads on after the answer, meets the error again and logs it
    assert "Unhandled exception" not in worker.log.read_bytes()[logged:].decode(errors="replace")


@pytest.mark.parametrize("encoding", ["compress", "xz", "gzip, zstd, snappy"])
def test_unknown_content_encoding_is_415(worker: Worker, encoding: str) -> None:
    headers = {**JSON, "Content-Encoding": encoding}
    answer = http("POST", worker.url + "/api/v1/alerts", raw=b"\x00\x01", headers=headers)
    _error(answer, 415, "unsupported_encoding")


def test_a_request_the_http_parser_refuses_is_answered_in_json(worker: Worker) -> None:
    port = urlsplit(worker.url).port
    logged = worker.log.stat().st_size
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n")
        reply = b""
        while chunk := connection.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0].endswith(b" 400 Bad Request"), reply
    assert b"application/json" in head and set(json.loads(body)) == {"error", "detail"}
    assert "Error handling request" not in worker.log.read_bytes()[logged:].decode(errors="replace")
