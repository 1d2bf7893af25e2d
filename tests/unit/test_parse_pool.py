"""app.parse_pool: a large body parsed in a pool process gives what parsing it here gives;
the pool process loads neither Faust nor the stages, and ends with its worker."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest

from app.heartbeats import Heartbeat
from app.matchers import parse_matcher
from app.parse_pool import BREAKS, POOL_BYTES, ParsePool
from app.parsing import Decided, Forbidden, Kafka, Parsed, Refused, parse
from app.prepare import Partitions, Request, Topics

RECEIVED = "2026-12-03T07:00:00.000Z"
ANYONE = Decided(None, {}, Partitions(4, 4))
OPTIONS = {"tenant": "a", "received_at": RECEIVED}


def webhook(alerts: int, **labels: str) -> bytes:
    """An Alertmanager webhook of ``alerts`` alerts, large enough for the pool."""
    body = orjson.dumps(
        {
            "version": "4",
            "groupKey": "{}:{}",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": f"Disk{i}", "instance": f"host-{i}:9100", **labels},
                    "annotations": {"description": f"disk {i} of host-{i} is {i % 100}% full"},
                    "startsAt": "2026-12-03T06:00:00Z",
                }
                for i in range(alerts)
            ],
        }
    )
    assert len(body) >= POOL_BYTES
    return body


@pytest.fixture
def pool() -> Iterator[ParsePool]:
    pool = ParsePool(1)
    yield pool
    pool.stop()


def in_pool(
    pool: ParsePool, body: bytes, decided: Decided = ANYONE, source: Any = "alertmanager"
) -> Any:
    return asyncio.run(pool.parse(source, body, decided, **OPTIONS))


def test_the_pool_prepares_what_the_event_loop_prepares(pool: ParsePool) -> None:
    body = webhook(600)
    here = parse("alertmanager", body, ANYONE, OPTIONS)
    there = in_pool(pool, body)
    assert isinstance(there, Parsed) and isinstance(here, Parsed)
    assert there == here
    assert len(there.prepared.ids) == 600
    assert sum(len(items) for items in there.prepared.alerts.values()) == 600
    assert there.prepared.sources == {"alertmanager": 600}


def test_refusals_come_back_in_the_order_they_arise(pool: ParsePool) -> None:
    only_a = Decided(frozenset({"a"}), {}, Partitions(4, 4))
    assert in_pool(pool, webhook(600, tenant="b"), only_a) == Forbidden("b")
    broken = webhook(600).replace(b'"version":"4"', b'"version":"3"')
    refused = in_pool(pool, broken)
    assert isinstance(refused, Refused) and refused.status == 400
    assert refused == parse("alertmanager", broken, ANYONE, OPTIONS)
    too_large = webhook(1, big="x" * 300_000)  # an alert too large once normalised
    late = in_pool(pool, too_large)  # the alerts' refusals come when the request is written
    assert isinstance(late, Parsed) and isinstance(late.prepared, Refused)
    assert late.prepared.status == 413
    assert late == parse("alertmanager", too_large, ANYONE, OPTIONS)


def test_api_v2_keeps_the_valid_alerts_and_names_the_invalid(pool: ParsePool) -> None:
    alerts = [{"labels": {"alertname": f"A{i}", "pad": "x" * 200}} for i in range(400)]
    alerts[7] = {"labels": {"0bad": "x"}}
    body = orjson.dumps(alerts)
    parsed = asyncio.run(
        pool.parse("alertmanager_v2", body, ANYONE, **OPTIONS, resolve_timeout_ms=300_000)
    )
    assert isinstance(parsed, Parsed)
    assert len(parsed.prepared.ids) == 399
    assert len(parsed.refused) == 1 and "0bad" in parsed.refused[0]


def test_a_pool_process_decides_with_the_worker_s_heartbeats_and_partitions(
    pool: ParsePool,
) -> None:
    body = webhook(600, alertname="Watchdog")
    first = in_pool(pool, body)
    assert isinstance(first, Parsed) and first.prepared.pings == []
    watchdog = Heartbeat("p", 60_000, 120_000, (parse_matcher('alertname="Watchdog"'),))
    second = in_pool(pool, body, Decided(None, {"p": watchdog}, Partitions(4, 4)))
    assert isinstance(second, Parsed)
    assert len(second.prepared.pings) == 600 and second.prepared.alerts == {}
    third = in_pool(pool, webhook(600), Decided(None, {}, Partitions(2, 3)))
    assert isinstance(third, Parsed) and set(third.prepared.alerts) == {0, 1}
    assert third.prepared.audit_partition in range(3)


def test_small_bodies_and_no_processes_stay_on_the_event_loop() -> None:
    body = webhook(600)
    none = ParsePool(0)
    assert isinstance(asyncio.run(none.parse("alertmanager", body, ANYONE, **OPTIONS)), Parsed)
    assert not none.running
    small = ParsePool(1)
    assert isinstance(asyncio.run(small.parse("api", b'{"title": "x"}', ANYONE, **OPTIONS)), Parsed)
    assert not small.running


def test_what_the_event_loop_parses_the_bridge_writes() -> None:
    """Told where to write, a parse process writes; the event loop never does (its write
    would block the loop): a broker that is not there is never tried."""
    nowhere = replace(ANYONE, kafka=Kafka("127.0.0.1:9", Topics("n", "r", "h")))
    on_the_loop: list[tuple[ParsePool, Any, bytes]] = [
        (ParsePool(0), "alertmanager", webhook(600)),  # no processes
        (ParsePool(1), "api", b'{"title": "x"}'),  # a small body
    ]
    for pool, source, body in on_the_loop:
        parsed = asyncio.run(pool.parse(source, body, nowhere, **OPTIONS))
        assert isinstance(parsed, Parsed) and isinstance(parsed.prepared, Request)
        assert not pool.running


WORKER = """
import asyncio, time
from app.parse_pool import ParsePool
from app.parsing import Decided, Parsed
from app.prepare import Partitions
pool = ParsePool(1)
body = b"[" + b",".join([b'{"title": "%s"}' % (b"x" * 100)] * 700) + b"]"
options = {"tenant": "a", "received_at": "2026-12-03T07:00:00.000Z"}
parsed = asyncio.run(pool.parse("api", body, Decided(None, {}, Partitions(4, 4)), **options))
print(isinstance(parsed, Parsed), flush=True)
time.sleep(60)
"""


LAUNCHER = """
from app.cli import main  # as in the alertflow command, which spawned processes import again

if __name__ == "__main__":
    from app.parse_pool import ParsePool

    pool = ParsePool(1)
    pool.start()
    print(pool._pool.submit(eval, "sorted(__import__('sys').modules)").result())
    pool.stop()
"""


def test_a_pool_process_of_the_alertflow_command_loads_no_faust_nor_stages(
    tmp_path: Path,
) -> None:
    (tmp_path / "alertflow").write_text(LAUNCHER)
    loaded = subprocess.run(
        [sys.executable, str(tmp_path / "alertflow")], capture_output=True, text=True, check=True
    ).stdout
    assert "'app.parsing'" in loaded and "'app.cli'" in loaded
    for heavy in (
        "'faust'",
        "'aiokafka'",
        "'river'",
        "'rocksdict'",
        "'app.stages'",
        "'app.config'",
    ):
        assert heavy not in loaded


def test_a_pool_that_cannot_start_leaves_parsing_to_the_event_loop(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def no_processes(*_: Any, **__: Any) -> None:
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr("app.parse_pool.ProcessPoolExecutor", no_processes)
    pool = ParsePool(1)
    for _ in range(BREAKS + 1):
        assert isinstance(
            asyncio.run(pool.parse("alertmanager", webhook(600), ANYONE, **OPTIONS)), Parsed
        )
    assert not pool.running
    breaks = [r.getMessage() for r in caplog.records if r.name == "app.parse_pool"]
    assert len(breaks) == BREAKS  # tried BREAKS times, then no more
    assert breaks[-1].endswith("every body is parsed on the event loop now")


def test_pool_processes_end_quietly_with_a_worker_killed_by_sigkill() -> None:
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert worker.stdout is not None and worker.stdout.readline() == b"True\n"
    children = children_of(worker.pid)  # the pool's process and multiprocessing's tracker
    assert len(children) == 2
    worker.kill()
    worker.wait()
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in children if Path(f"/proc/{pid}").exists()]
    assert worker.stderr is not None
    assert worker.stderr.read() == b""  # the worker's log is JSON: no tracker warning in it


def children_of(parent: int) -> list[int]:
    """The processes whose parent is ``parent`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            found.append(int(stat.parent.name))
    return found


def test_a_parse_process_replaces_a_producer_broken_for_good(monkeypatch: Any) -> None:
    """An idempotent producer's fatal error ends its writes: the next request gets a new one."""
    from app import parsing

    made: list[Any] = []

    class Producer:
        def __init__(self, bootstrap: str) -> None:
            self.broken = False
            self.sent = 0
            made.append(self)

        def send(self, messages: Any) -> None:
            self.sent += 1

    monkeypatch.setattr(parsing, "BlockingProducer", Producer)
    monkeypatch.setattr(parsing, "_producers", {})
    writing = replace(ANYONE, kafka=Kafka("127.0.0.1:9", Topics("n", "r", "h")))
    body = webhook(600)

    assert isinstance(parse("alertmanager", body, writing, OPTIONS).prepared, parsing.Written)
    made[0].broken = True
    assert isinstance(parse("alertmanager", body, writing, OPTIONS).prepared, parsing.Written)
    assert [producer.sent for producer in made] == [1, 1]
