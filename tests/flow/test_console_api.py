"""GET /api/v1/alerts and GET /api/v1/stream on the session worker, with the real broker."""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from confluent_kafka import Producer

from tests.harness import (
    API_TOKEN,
    TopicReader,
    Worker,
    accepted,
    await_view,
    eventually,
    http,
    unique,
)

pytestmark = pytest.mark.integration


def _alert(tenant: str, title: str, **fields: Any) -> dict[str, Any]:
    return {"title": title, "tenant": tenant, **fields}


def test_alert_list_filters_pages_and_matches_like_a_silence(
    worker: Worker, enriched: TopicReader
) -> None:
    tenant = unique("list")
    ids = accepted(
        worker,
        "/api/v1/alerts",
        [
            _alert(tenant, "Disk full on db-1", severity="critical", labels={"team": "db"}),
            _alert(tenant, "Disk full on db-2", severity="warning", labels={"team": "db"}),
            _alert(tenant, "Checkout slow", severity="warning", labels={"team": "web"}),
        ],
    )
    enriched.wait(lambda _, v: v and v.get("tenant") == tenant, count=3)
    listed = eventually(
        lambda: (
            (a := http("GET", f"{worker.url}/api/v1/alerts?tenant={tenant}")).body["total"] == 3
            and a.body
        ),
        what="the three alerts listed",
    )
    assert {a["id"] for a in listed["alerts"]} == set(ids)
    assert all(a["feedback"] == [] and a["acknowledged"] is False for a in listed["alerts"])

    warning = http("GET", f"{worker.url}/api/v1/alerts?tenant={tenant}&severity=warning").body
    assert sorted(a["title"] for a in warning["alerts"]) == ["Checkout slow", "Disk full on db-2"]

    matched = http(
        "GET",
        f"{worker.url}/api/v1/alerts?tenant={tenant}&filter=team%3D%22db%22"
        "&filter=severity%3D~%22crit.*%22",
    ).body
    assert [a["title"] for a in matched["alerts"]] == ["Disk full on db-1"]

    first = http("GET", f"{worker.url}/api/v1/alerts?tenant={tenant}&limit=2").body
    second = http(
        "GET", f"{worker.url}/api/v1/alerts?tenant={tenant}&limit=2&offset={first['next_offset']}"
    ).body
    assert first["next_offset"] == 2 and second["next_offset"] is None
    assert {a["id"] for a in first["alerts"] + second["alerts"]} == set(ids)

    decided = {a["decision"] for a in listed["alerts"]}
    for decision in decided:
        found = http("GET", f"{worker.url}/api/v1/alerts?tenant={tenant}&decision={decision}")
        assert found.body["total"] == sum(a["decision"] == decision for a in listed["alerts"])
    assert (
        http("GET", f"{worker.url}/api/v1/alerts?incident=nope&tenant={tenant}").body["total"] == 0
    )

    for bad in ("decision=page", "limit=0", "limit=%C2%B2", "since=yesterday", "filter=%3D%3D"):
        answer = http("GET", f"{worker.url}/api/v1/alerts?{bad}")
        assert answer.status == 400 and answer.body["error"] == "invalid_query", (bad, answer)
    assert http("GET", f"{worker.url}/api/v1/alerts", token=None).status == 401


class EventStream:
    """A Server-Sent Events client over a plain HTTP connection (what curl does)."""

    def __init__(self, url: str, last_event_id: str | None = None) -> None:
        headers = {"Accept": "text/event-stream", "Authorization": f"Bearer {API_TOKEN}"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        request = urllib.request.Request(url, headers=headers)
        self.response = urllib.request.urlopen(request, timeout=20)
        assert self.response.headers["Content-Type"].startswith("text/event-stream")

    def next(self) -> tuple[str, str, dict[str, Any]]:
        """The next event: its id, its name and its data."""
        fields: dict[str, str] = {}
        while True:
            line = self.response.readline().decode().rstrip("\n")
            if line == "" and fields:
                return fields["id"], fields["event"], json.loads(fields["data"])
            name, _, value = line.partition(": ")
            if name:
                fields[name] = value

    def until(self, wanted: str) -> dict[str, Any]:
        """Skip events until one of type ``wanted``."""
        while True:
            _, name, data = self.next()
            if name == wanted:
                return data

    def close(self) -> None:
        self.response.close()


def test_stream_sends_alerts_live_and_resumes_from_the_last_event_id(
    worker: Worker, enriched: TopicReader
) -> None:
    tenant = unique("sse")
    url = f"{worker.url}/api/v1/stream?tenant={tenant}&types=alert"
    stream = EventStream(url)
    event_id, name, hello = stream.next()
    assert name == "hello" and event_id == hello["cursor"]
    (first,) = accepted(worker, "/api/v1/alerts", _alert(tenant, "Queue backlog growing"))
    live = stream.until("alert")
    assert live["alert"]["id"] == first and live["alert"]["tenant"] == tenant
    assert live["alert"]["decision"] in ("notify", "digest", "suppress")
    stream.close()

    missed = accepted(
        worker, "/api/v1/alerts", [_alert(tenant, "Queue backlog at 10k"), _alert(tenant, "x")]
    )
    enriched.wait_keys(missed)
    resumed = EventStream(url, last_event_id=live["cursor"])
    assert resumed.next()[1] == "hello"
    replayed = {resumed.until("alert")["alert"]["id"], resumed.until("alert")["alert"]["id"]}
    assert replayed == set(missed)  # what happened while away, and not the one it had
    (later,) = accepted(worker, "/api/v1/alerts", _alert(tenant, "Queue drained"))
    assert resumed.until("alert")["alert"]["id"] == later
    resumed.close()


def test_stream_refuses_what_it_cannot_serve(worker: Worker) -> None:
    plain = http("GET", f"{worker.url}/api/v1/stream")
    assert plain.status == 406 and plain.body["error"] == "not_acceptable"
    sse = {"Accept": "text/event-stream"}
    assert http("GET", f"{worker.url}/api/v1/stream", headers=sse, token=None).status == 401
    bad = http("GET", f"{worker.url}/api/v1/stream?cursor=bm9wZQ", headers=sse)
    assert bad.status == 400 and bad.body["error"] == "invalid_cursor"
    bad = http("GET", f"{worker.url}/api/v1/stream?types=gossip", headers=sse)
    assert bad.status == 400 and bad.body["error"] == "invalid_query"


async def test_websocket_stream_sends_alerts_and_feedback(worker: Worker) -> None:
    tenant = unique("ws")
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    async with aiohttp.ClientSession() as session:
        url = f"{worker.url}/api/v1/stream?tenant={tenant}"
        async with session.ws_connect(url, headers=headers) as ws:
            hello = await ws.receive_json(timeout=20)
            assert hello["type"] == "hello"
            async with session.post(
                f"{worker.url}/api/v1/alerts",
                json=_alert(tenant, "Pod restarting"),
                headers=headers,
            ) as answer:
                assert answer.status == 202
                (alert_id,) = (await answer.json())["ids"]
            event = await _receive(ws, "alert")
            assert event["alert"]["id"] == alert_id
            await_view(worker, f"/api/v1/alerts/{alert_id}")  # the alert view follows the topic
            ack = f"{worker.url}/api/v1/alerts/{alert_id}/acknowledge"
            async with session.post(ack, json={"by": "ann"}, headers=headers) as answer:
                assert answer.status == 202
            feedback = await _receive(ws, "feedback")
            assert feedback["feedback"]["alert_id"] == alert_id
            assert feedback["feedback"]["tenant"] == tenant and feedback["feedback"]["by"] == "ann"


async def _receive(ws: aiohttp.ClientWebSocketResponse, wanted: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        message = await ws.receive_json(timeout=30)
        if message["type"] == wanted:
            return message
    raise AssertionError(f"no {wanted} event")


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _metric(worker: Worker, name: str) -> float:
    text = urllib.request.urlopen(f"{worker.url}/metrics", timeout=10).read().decode()
    found = re.search(rf"^{name} ([0-9.e+]+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


@pytest.fixture
def stalled_websocket(worker: Worker) -> Iterator[tuple[socket.socket, str]]:
    """A WebSocket client that says hello and then reads nothing, with a tiny receive buffer."""
    tenant = unique("slow")
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.connect(("127.0.0.1", worker.port))
    key = base64.b64encode(os.urandom(16)).decode()
    client.sendall(
        (
            f"GET /api/v1/stream?tenant={tenant}&types=notification HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{worker.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: Bearer {API_TOKEN}\r\n\r\n"
        ).encode()
    )
    client.settimeout(20)
    head = b""
    while b"\r\n\r\n" not in head:
        head += client.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    yield client, tenant
    client.close()


def test_a_client_that_reads_nothing_costs_a_bounded_buffer(
    worker: Worker, bootstrap: str, stalled_websocket: tuple[socket.socket, str]
) -> None:
    """Thousands of 10 kB records for a client that reads nothing: the worker keeps at most
    its buffer (256 events), drops the rest with a marker, and its memory does not grow."""
    assert worker.process is not None
    client, tenant = stalled_websocket
    eventually(lambda: _metric(worker, "alertflow_stream_clients") >= 1, what="the client")
    dropped_before = _metric(worker, "alertflow_stream_dropped_events_total")
    rss_before = _rss_mb(worker.process.pid)
    count, padding = 4000, "x" * 10_000
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    for n in range(count):
        record = {
            "receiver": "webhook",
            "state": "firing",
            "outcome": "success",
            "notification": {"tenant": tenant, "incident_id": f"i{n}", "title": padding},
        }
        producer.produce("notifications.sent", key=f"i{n}", value=json.dumps(record))
        if n % 500 == 0:
            producer.flush()
    producer.flush()
    eventually(
        lambda: (
            _metric(worker, "alertflow_stream_dropped_events_total") - dropped_before >= count * 0.8
        ),
        timeout=60,
        what="the feed to drop what the client cannot take",
    )
    time.sleep(1)
    clients = _metric(worker, "alertflow_stream_clients")
    buffered = _metric(worker, "alertflow_stream_buffered_events")
    growth = _rss_mb(worker.process.pid) - rss_before
    print(
        f"slow client: {count} x 10 kB records, buffered {buffered:.0f} events in "
        f"{clients:.0f} client(s), RSS {rss_before:.0f} MB → +{growth:.1f} MB"
    )
    assert buffered <= 257 * clients  # 256 events and one marker per client, whatever came
    assert growth < 20, f"worker RSS grew {growth:.1f} MB for a client that reads nothing"
    # What the client gets when it reads again: the events that fit, then the marker.
    client.settimeout(2)
    received = b""
    try:
        while b'"type":"dropped"' not in received:
            chunk = client.recv(65536)
            if not chunk:
                break
            received += chunk
    except TimeoutError:
        pass
    assert b'"type":"dropped"' in received
    count_found = re.search(rb'"type":"dropped","count":(\d+)', received)
    assert count_found and int(count_found.group(1)) > count // 2
