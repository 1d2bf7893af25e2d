"""Generated requests over every endpoint (issue G.7): never a 5xx, always the error shape.

Hypothesis draws batches of requests — endpoint from the app's router, path parameters,
query, headers (tokens of every role, tenants, encodings), bodies shaped like each source's
and like nothing at all — and sends each batch concurrently to a worker with a broker of its
own (fuzzed silences and alerts stay out of the session's). At least ``REQUESTS`` requests;
afterwards the worker still turns a normal alert into an enriched one.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import string
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import aiohttp
import brotli
import pytest
import yaml
from backports import zstd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.access import digest
from tests.endpoints import endpoints
from tests.harness import API_TOKEN, REPO, TopicReader, Worker, free_port, http, unique

REQUESTS = 10_000
BATCH = 50
TENANT = unique("fuzz")
TOKENS = {  # secret → (id, role, tenants)
    "fuzz-ingest": ("fuzz-ingest", "ingest", [TENANT]),
    "fuzz-read": ("fuzz-read", "read", [TENANT]),
    "fuzz-operate": ("fuzz-operate", "operate", [TENANT]),
    "fuzz-admin": ("fuzz-admin", "admin", "*"),
}
ENDPOINTS = endpoints()


@pytest.fixture(scope="module")
def fuzz_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    from app.broker import embedded_broker

    directory = tmp_path_factory.mktemp("fuzz")
    kafka = embedded_broker(directory / "kafka", REPO / ".cache", free_port())
    kafka.start()
    config = directory / "alertflow.yaml"
    entries = [
        {"id": ident, "sha256": digest(secret), "role": role, "tenants": tenants}
        for secret, (ident, role, tenants) in TOKENS.items()
    ]
    config.write_text(yaml.safe_dump({"tokens": entries}))
    worker = Worker(
        kafka.bootstrap,
        directory / "worker",
        env={"ALERTFLOW_CONFIG": str(config), "ALERTFLOW_API_TOKEN": API_TOKEN},
    )
    try:
        worker.start()
        yield worker
    finally:
        worker.stop(kill=True)
        kafka.stop()


# --- what a request is made of ---------------------------------------------------------------

words = st.text(min_size=0, max_size=24)
header_text = st.text(  # what a client can send in a header: no control characters
    alphabet=st.characters(blacklist_categories=("Cc", "Cs")), max_size=24
)
times = st.one_of(
    st.sampled_from(
        [
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-01:00",
            "9999-12-31T00:00:00Z",
            "2026-01-01T00:00:00Z",
            "2026-13-45T99:99:99Z",
            "1970-01-01T00:00:00.123456789Z",
            "",
            "now",
        ]
    ),
    st.datetimes().map(lambda moment: moment.isoformat()),
    st.integers(min_value=-(2**63), max_value=2**63).map(str),
)
numbers = st.one_of(
    st.integers(min_value=-5, max_value=2000).map(str),
    st.sampled_from(["²", "٣", "1e3", "0x10", "9" * 5000, "-0", " 7", ""]),
)
json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), words, times
)
any_json = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(words, inner, max_size=4),
    max_leaves=12,
)
labels = st.dictionaries(
    st.sampled_from(["alertname", "severity", "service", "tenant"]) | words,
    words | json_leaf,
    max_size=4,
)
api_alert = st.fixed_dictionaries(
    {"title": words | json_leaf},
    optional={
        "description": words,
        "severity": st.sampled_from(["critical", "P1", "warning", "bogus"]) | json_leaf,
        "service": words,
        "labels": labels,
        "annotations": labels,
        "tenant": st.sampled_from([TENANT, "other-tenant"]) | words,
        "starts_at": times | json_leaf,
        "ends_at": times,
        "status": st.sampled_from(["firing", "resolved", "open"]),
        "fingerprint": words,
        "extra": any_json,
    },
)
am_alert = st.fixed_dictionaries(
    {"status": st.sampled_from(["firing", "resolved", "x"]), "labels": labels},
    optional={"annotations": labels, "startsAt": times, "endsAt": times, "fingerprint": words},
)
good_times = st.sampled_from(["2026-01-01T00:00:00Z", "2025-06-30T23:59:59.123456789+02:00"])
good_text = st.text(alphabet=string.ascii_letters + " -", min_size=1, max_size=16)
good_labels = st.dictionaries(
    st.sampled_from(["alertname", "severity", "service", "team"]), good_text, max_size=3
)
good_api_alert = st.fixed_dictionaries(  # well-formed: these reach Kafka and the pipeline
    {"title": good_text},
    optional={
        "description": good_text,
        "severity": st.sampled_from(["critical", "info"]),
        "service": good_text,
        "labels": good_labels,
        "tenant": st.just(TENANT),
        "starts_at": good_times,
        "status": st.sampled_from(["firing", "resolved"]),
    },
)
good_am_body = st.fixed_dictionaries(
    {
        "version": st.just("4"),
        "alerts": st.lists(
            st.fixed_dictionaries(
                {
                    "status": st.sampled_from(["firing", "resolved"]),
                    "labels": good_labels,
                    "startsAt": good_times,
                }
            ),
            min_size=1,
            max_size=3,
        ),
    },
)
am_body = st.fixed_dictionaries(
    {"version": st.sampled_from(["4", "4", "3", 4]), "alerts": st.lists(am_alert, max_size=4)},
    optional={"groupKey": words, "commonLabels": labels, "receiver": words},
)
silence_body = st.fixed_dictionaries(
    {
        "matchers": st.lists(
            st.sampled_from([f'tenant="{TENANT}"', "a=~(", "b!=c"])
            | words
            | st.fixed_dictionaries({"name": words, "value": words, "isRegex": st.booleans()}),
            max_size=3,
        )
    },
    optional={"starts_at": times, "endsAt": times, "created_by": words, "comment": words},
)
feedback_body = st.fixed_dictionaries(
    {}, optional={"by": words, "actionable": json_leaf, "note": words}
)
sentry_body = st.fixed_dictionaries(
    {"action": st.sampled_from(["created", "resolved", "triggered", "x"]), "data": any_json}
)
envelope = st.tuples(any_json, any_json).map(
    lambda pair: b"\n".join(
        [
            b"{}",
            b'{"type": "event"}',
            json.dumps(pair[0]).encode(),
            b'{"type": "attachment", "length": 3}',
            b"abc",
        ]
    )
)
SHAPES = {  # the body an endpoint expects, so that requests reach past the first check
    "/api/v1/alerts": st.one_of(
        good_api_alert,
        st.lists(good_api_alert, min_size=1, max_size=5),
        api_alert,
        st.lists(api_alert, max_size=5),
    ),
    "/webhooks/alertmanager": good_am_body | am_body,
    "/webhooks/sentry": sentry_body,
    "/api/v1/silences": silence_body,
    "/api/v1/alerts/{alert_id}/{action}": feedback_body,
    "/api/v1/incidents/{incident_id}/{action}": feedback_body,
}
bodies = st.one_of(api_alert, am_body, silence_body, feedback_body, sentry_body, any_json)
raw_bodies = st.one_of(
    bodies.map(lambda body: json.dumps(body).encode()),
    st.binary(max_size=200),
    st.integers(min_value=1, max_value=1200).map(lambda depth: b"[" * depth + b"]" * depth),
    envelope,
    st.just(b""),
)
query_keys = st.sampled_from(
    [
        "tenant",
        "limit",
        "offset",
        "since",
        "until",
        "status",
        "state",
        "sig",
        "exp",
        "by",
        "actionable",
        "sentry_key",
        "who",
        "method",
        "path",
        "before",
        "min_count",
        "local",
        "service",
        "template",
    ]
)
queries = st.dictionaries(query_keys, st.one_of(words, numbers, times, st.just(TENANT)), max_size=4)
tokens = st.sampled_from([None, "wrong", API_TOKEN, "fuzz-admin", "fuzz-admin", *TOKENS])
encodings = st.sampled_from(
    [*[None] * 12, "gzip", "deflate", "br", "zstd", "identity", "compress", "gzip, br"]
)
path_values = st.one_of(
    st.sampled_from(["nope", "acknowledge", "resolve", TENANT, "7", "..", "%2e%2e", "a/b"]),
    words.filter(bool).map(lambda text: quote(text, safe="")),
)


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    """One request to one endpoint of the router."""
    method, template, _ = draw(st.sampled_from(ENDPOINTS))
    path = re.sub(r"\{\w+\}", lambda _: draw(path_values), template)
    headers = {}
    if (token := draw(tokens)) is not None:
        headers["Authorization"] = f"Bearer {token}"
    if draw(st.booleans()):
        headers["X-Alertflow-Tenant"] = draw(st.sampled_from([TENANT, "other"]) | header_text)
    headers["Content-Type"] = draw(
        st.sampled_from(
            [
                *["application/json"] * 6,
                "application/x-sentry-envelope",
                "text/plain",
                "application/vnd+json",
            ]
        )
    )
    if path.startswith("/webhooks/sentry"):
        headers["Sentry-Hook-Resource"] = draw(
            st.sampled_from(["issue", "event_alert", "metric_alert", "error", "installation"])
            | header_text
        )
        headers["Sentry-Hook-Signature"] = draw(header_text)
    if method == "GET":
        body = draw(raw_bodies) if draw(st.integers(0, 9)) == 0 else b""
    elif template.endswith("/envelope/") and draw(st.booleans()):
        body = draw(envelope)
    elif template in SHAPES and draw(st.integers(0, 9)) < 7:
        body = json.dumps(draw(SHAPES[template])).encode()
    else:
        body = draw(raw_bodies)
    encoding = draw(encodings)
    if encoding:
        headers["Content-Encoding"] = encoding
        body = {"gzip": gzip.compress, "br": brotli.compress, "zstd": zstd.compress}.get(
            encoding, lambda data: data
        )(body)
    return {
        "method": method,
        "path": path,
        "query": draw(queries),
        "headers": headers,
        "body": body,
    }


# --- the run ---------------------------------------------------------------------------------


async def _send_all(
    session: aiohttp.ClientSession, base: str, sent: list[dict[str, Any]]
) -> list[tuple]:
    return await asyncio.gather(*(_send(session, base, request) for request in sent))


async def _send(session: aiohttp.ClientSession, base: str, request: dict[str, Any]) -> tuple:
    """Status, media type and body; status 0 when the connection was dropped twice (a server
    that stops reading a body it cannot decode closes the connection it came on)."""
    for _ in range(2):
        try:
            return await _send_once(session, base, request)
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
            continue
    return 0, "", b""


async def _send_once(session: aiohttp.ClientSession, base: str, request: dict[str, Any]) -> tuple:
    async with session.request(
        request["method"],
        base + request["path"],
        params=request["query"],
        headers=request["headers"],
        data=request["body"],
        skip_auto_headers={"Content-Type"},
    ) as response:
        body = await response.read()
        return response.status, response.content_type, body


def test_generated_requests_never_get_a_5xx(fuzz_worker: Worker) -> None:
    outcomes: Counter[int] = Counter()
    failures: list[str] = []
    loop = asyncio.new_event_loop()
    session = loop.run_until_complete(_session())

    @settings(
        max_examples=REQUESTS // BATCH,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(requests(), min_size=BATCH, max_size=BATCH))
    def batch(sent: list[dict[str, Any]]) -> None:
        answers = loop.run_until_complete(_send_all(session, fuzz_worker.url, sent))
        for request, (status, content_type, body) in zip(sent, answers, strict=True):
            outcomes[status] += 1
            if status >= 500 or (
                status >= 400 and not _error_shape(request["path"], content_type, body)
            ):
                failures.append(_summary(request, status, body))
                print("FUZZ FAILURE", failures[-1], flush=True)
        if failures:
            raise AssertionError("\n".join(failures[:5]))

    try:
        batch()
    finally:
        loop.run_until_complete(session.close())
        loop.close()
    print(f"fuzzed {sum(outcomes.values())} requests: {dict(sorted(outcomes.items()))}")
    assert sum(outcomes.values()) >= REQUESTS
    assert not any(status >= 500 for status in outcomes)
    assert outcomes[0] <= REQUESTS // 100, "connections dropped"
    _still_processes_a_normal_alert(fuzz_worker)


async def _session() -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=16)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60))


def _summary(request: dict[str, Any], status: int, body: bytes) -> str:
    """One line a person can replay: what was sent and what came back."""
    sent = request["body"][:120]
    return (
        f"{request['method']} {request['path']} query={request['query']!r:.200} "
        f"headers={request['headers']!r:.300} body={sent!r} -> {status} {body[:300]!r}"
    )


def _error_shape(path: str, content_type: str, body: bytes) -> bool:
    if content_type == "text/html":  # the link confirmation page's errors are JSON too
        return False
    try:
        value = json.loads(body)
    except ValueError:
        return False
    if path.startswith("/api/v2/") and isinstance(value, str) and value:
        return True  # Alertmanager's API answers the reason as a JSON string, as its clients read
    return isinstance(value, dict) and {"error", "detail"} <= set(value)


def _still_processes_a_normal_alert(worker: Worker) -> None:
    title = unique("after-fuzz")
    answer = http("POST", f"{worker.url}/api/v1/alerts?tenant={TENANT}", {"title": title})
    assert answer.status == 202, answer.body
    (alert_id,) = answer.body["ids"]
    enriched = TopicReader(worker.bootstrap, "alerts.enriched")
    try:
        enriched.wait(lambda key, value: key == alert_id, timeout=120)
    finally:
        enriched.close()
