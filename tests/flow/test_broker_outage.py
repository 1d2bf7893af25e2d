"""The broker gone or hung (issue G.4): 503 within seconds, health says so, nothing lost.

A broker and a worker of this module's own, so the session's broker is never touched.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import API_TOKEN, REPO, TopicReader, Worker, eventually, http, running, unique

LOAD = 2000  # alerts in flight when the broker stops


def _port_below_ephemeral_range() -> int:
    """A free port under 32768: a client reconnecting to a port of the ephemeral range while
    nothing listens there can connect to itself and hold the port the broker restarts on."""
    while True:
        port = random.randrange(20000, 32000)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    from app.broker import embedded_broker

    directory = tmp_path_factory.mktemp("outage-kafka")
    kafka = embedded_broker(directory, REPO / ".cache", _port_below_ephemeral_range())
    kafka.start()
    yield kafka
    if kafka.process is not None:
        kafka.process.send_signal(signal.SIGCONT)
    kafka.stop()


@pytest.fixture(scope="module")
def lone_worker(broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    process = Worker(
        broker.bootstrap,
        tmp_path_factory.mktemp("outage-worker"),
        env={"ALERTFLOW_API_TOKEN": API_TOKEN, "ALERTFLOW_PARTITIONS": "1"},
    )
    yield from running(process, kill=True)


def _post(worker: Worker, title: str):
    started = time.monotonic()
    answer = http("POST", f"{worker.url}/api/v1/alerts", {"title": title})
    return answer, time.monotonic() - started


def _refused_quickly(worker: Worker) -> None:
    answer, took = _post(worker, unique("refused"))
    print(f"503 broker_unavailable after {took:.2f} s")
    assert answer.status == 503 and answer.body["error"] == "broker_unavailable", answer.body
    assert set(answer.body) == {"error", "detail"}
    assert took < 3.0, f"503 after {took:.1f} s"
    health = http("GET", f"{worker.url}/api/v1/health")
    assert health.status == 503 and "broker" in health.body["reason"], health.body
    assert http("GET", f"{worker.url}/api/v1/health/live").status == 200


def _stat_fields(stat: Path) -> list[str]:
    """The fields of a /proc ``stat`` file after the command name (state first)."""
    return stat.read_text().rpartition(")")[2].split()


def _cpu_seconds(pid: int) -> float:
    fields = _stat_fields(Path(f"/proc/{pid}/stat"))
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _stopped(pid: int) -> bool:
    """Whether every thread of ``pid`` is stopped: a signal stops each thread when the kernel
    next schedules it, which on a loaded machine may be after the next request arrived."""
    states = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            states.append(_stat_fields(task / "stat")[0])
        except FileNotFoundError:  # the thread ended
            continue
    return all(state in "tT" for state in states)


def _ready(worker: Worker) -> None:
    eventually(
        lambda: http("GET", f"{worker.url}/api/v1/health").status == 200, 120, "health 200 again"
    )


def test_hung_then_stopped_broker_gets_503s_and_loses_nothing(broker, lone_worker) -> None:
    worker = lone_worker
    before, _ = _post(worker, unique("before"))
    assert before.status == 202, before.body
    accepted = list(before.body["ids"])

    broker.process.send_signal(signal.SIGSTOP)  # alive, listening, answering nothing
    try:
        eventually(lambda: _stopped(broker.process.pid), 5, "every broker thread stopped")
        first, took = _post(worker, unique("hung"))
        print(f"broker hung: first POST answered {first.status} after {took:.2f} s")
        assert first.status == 503, first.body
        assert took < 3.0, f"503 after {took:.1f} s with the broker hung"
        eventually(lambda: http("GET", f"{worker.url}/api/v1/health").status == 503, 5)
        _refused_quickly(worker)
    finally:
        broker.process.send_signal(signal.SIGCONT)
    _ready(worker)
    during, _ = _post(worker, unique("between"))
    assert during.status == 202, during.body
    accepted += during.body["ids"]

    load = [{"title": unique("load"), "service": f"s{n % 7}"} for n in range(LOAD)]
    loaded = http("POST", f"{worker.url}/api/v1/alerts", load)
    assert loaded.status == 202, loaded.body
    accepted += loaded.body["ids"]
    broker.stop()  # while the worker still processes the load
    eventually(lambda: http("GET", f"{worker.url}/api/v1/health").status == 503, 5)
    _refused_quickly(worker)
    cpu, size = _cpu_seconds(worker.process.pid), worker.log.stat().st_size
    time.sleep(10)
    cpu, size = _cpu_seconds(worker.process.pid) - cpu, worker.log.stat().st_size - size
    print(f"broker gone: {cpu:.2f} CPU seconds and {size} bytes of log in 10 s")
    assert cpu < 2.5, f"the worker used {cpu:.1f} CPU seconds in 10 s with the broker gone"
    assert size < 20_000, f"{size} bytes of log in 10 s with the broker gone"

    broker.start()
    _ready(worker)
    after, _ = _post(worker, unique("after"))
    assert after.status == 202, after.body
    accepted += after.body["ids"]
    enriched = TopicReader(broker.bootstrap, "alerts.enriched")
    try:
        wanted = set(accepted)
        eventually(
            lambda: wanted <= {key for key, _, _ in enriched.matching(lambda k, v: k in wanted)},
            180,
            f"all {len(wanted)} accepted alerts on alerts.enriched",
        )
    finally:
        enriched.close()
