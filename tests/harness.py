"""Real pieces for integration tests: the broker, a worker process, a receiver, topic readers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FIXTURES = SHARED / "fixtures"
API_TOKEN = "test-token"
SENTRY_SECRET = "test-sentry-secret"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def eventually(check: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll ``check`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


@dataclass
class Answer:
    """An HTTP answer: status, headers and the decoded JSON body (or raw bytes)."""

    status: int
    headers: dict[str, str]
    body: Any


def http(
    method: str,
    url: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    token: str | None = API_TOKEN,
    raw: bytes | None = None,
) -> Answer:
    """One HTTP request; JSON in and out unless ``raw`` is given."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    sent = {"Content-Type": "application/json"} if data is not None else {}
    if token:
        sent["Authorization"] = f"Bearer {token}"
    sent.update(headers or {})
    request = urllib.request.Request(url, data=data, method=method, headers=sent)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, answer_headers, payload = (
                response.status,
                dict(response.headers),
                response.read(),
            )
    except urllib.error.HTTPError as error:
        status, answer_headers, payload = error.code, dict(error.headers), error.read()
    try:
        decoded: Any = json.loads(payload) if payload else None
    except ValueError:
        decoded = payload
    return Answer(status, answer_headers, decoded)


class TopicReader:
    """Reads a topic from its beginning in a background thread; tests wait on what it saw."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.records: list[tuple[str | None, Any, int]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"test-{uuid.uuid4().hex}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        self._consumer.subscribe([topic])
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            message = self._consumer.poll(0.2)
            if message is None or message.error():
                continue
            key = message.key().decode() if message.key() is not None else None
            try:  # a tombstone (a key deleted from a table) reads as None
                value = None if message.value() is None else json.loads(message.value())
            except ValueError:  # what outside producers wrote; kept searchable as text
                value = {"undecodable": message.value().decode("utf-8", "replace")}
            with self._lock:
                self.records.append((key, value, message.timestamp()[1]))
        self._consumer.close()

    def matching(
        self, predicate: Callable[[str | None, Any], bool]
    ) -> list[tuple[str | None, Any, int]]:
        """Records seen so far for which ``predicate(key, value)`` holds."""
        with self._lock:
            return [record for record in self.records if predicate(record[0], record[1])]

    def wait(
        self,
        predicate: Callable[[str | None, Any], bool],
        count: int = 1,
        timeout: float = 30.0,
    ) -> list[tuple[str | None, Any, int]]:
        """Wait until at least ``count`` records match; return them."""
        return eventually(
            lambda: (found := self.matching(predicate)) and len(found) >= count and found,
            timeout,
            f"{count} matching record(s)",
        )

    def wait_keys(
        self, keys: Iterable[str], timeout: float = 30.0
    ) -> list[tuple[str | None, Any, int]]:
        """Wait until a record of each of ``keys`` was seen; return all their records so far.

        A key's record may come more than once (the topics are at least once; an alert merged
        into another incident is published again), so a count of records is not a count of keys.
        """
        wanted = set(keys)

        def every_key_seen() -> list[tuple[str | None, Any, int]] | None:
            found = self.matching(lambda key, _value: key in wanted)
            return found if {key for key, _, _ in found} >= wanted else None

        try:
            return eventually(every_key_seen, timeout, f"a record of each of {len(wanted)} keys")
        except AssertionError as timed_out:
            missing = wanted - {key for key, _, _ in self.matching(lambda k, _v: k in wanted)}
            raise AssertionError(
                f"{timed_out}; no record of {len(missing)}: {sorted(missing)[:5]}"
            ) from None

    def close(self) -> None:
        """Stop reading."""
        self._stop.set()
        self._thread.join(timeout=5)


def reading(bootstrap: str, topic: str) -> Iterator[TopicReader]:
    """A fixture's body: a reader of ``topic`` for the fixture's scope, closed after it."""
    reader = TopicReader(bootstrap, topic)
    yield reader
    reader.close()


@dataclass
class Receiver:
    """A local HTTP server standing in for a notification service; it records every POST."""

    posts: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.posts.append(
                    {
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": json.loads(body) if body else None,
                    }
                )
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()

    def incidents(self) -> list[str | None]:
        """The incident of every post so far (``None``: a body without one)."""
        return [(post["body"] or {}).get("incident_id") for post in self.posts]

    def wait(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 30.0
    ) -> list[dict[str, Any]]:
        """Wait for posts whose JSON body satisfies ``predicate``; return those bodies."""
        return eventually(
            lambda: [
                post["body"] for post in self.posts if post["body"] and predicate(post["body"])
            ],
            timeout,
            "a notification",
        )


@dataclass
class Worker:
    """An ``alertflow worker`` process with its own port and data dir."""

    bootstrap: str
    data_dir: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.data_dir / f"worker-{self.port}.log"

    def start(self, timeout: float = 120.0) -> None:
        env = {
            **os.environ,
            **self.env,
            "KAFKA_BOOTSTRAP": self.bootstrap,
            "ALERTFLOW_HTTP_PORT": str(self.port),
            "ALERTFLOW_DATA_DIR": str(self.data_dir),
        }
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [str(REPO / ".venv" / "bin" / "alertflow"), "worker"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO,
            )
        try:
            eventually(self._healthy, timeout, f"worker on port {self.port} to be healthy")
        except AssertionError as error:
            self.stop(kill=True)  # a worker that never got healthy must not outlive the test
            raise AssertionError(f"{error}\n--- worker log ---\n{self.log_tail()}") from None

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(
                f"worker exited with {self.process.returncode}:\n{self.log_tail()}"
            )
        try:
            return http("GET", f"{self.url}/api/v1/health").status == 200
        except OSError:
            return False

    def stop(self, *, kill: bool = False, timeout: float = 60.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.send_signal(2)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def running(worker: Worker, *, kill: bool = False) -> Iterator[Worker]:
    """A fixture's body: ``worker`` started for the fixture's scope, stopped after it."""
    worker.start()
    yield worker
    worker.stop(kill=kill)


def unique(prefix: str = "t") -> str:
    """A fresh name, so tests sharing the broker and worker never see each other's alerts."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def iter_fixture_headers(path: Path) -> Iterator[tuple[str, str]]:
    """The header lines of a captured request (after its request line)."""
    for line in path.read_text().splitlines()[1:]:
        name, _, value = line.partition(":")
        if value:
            yield name.strip(), value.strip()


def caught_up(bootstrap: str, group: str = "alertflow") -> bool:
    """True when the worker group has committed every message of every topic it reads."""
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    request = [ConsumerGroupTopicPartitions(group)]
    committed = admin.list_consumer_group_offsets(request)[group].result().topic_partitions
    probe = Consumer({"bootstrap.servers": bootstrap, "group.id": f"probe-{uuid.uuid4().hex}"})
    try:
        for tp in committed:
            if tp.topic.startswith(("alerts.", "fingerprints.", "learning.")):
                _, high = probe.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), 10)
                if tp.offset < high:
                    return False
        return bool(committed)
    finally:
        probe.close()


def partitions_owned(worker: Worker) -> int:
    """How many partitions ``worker`` owns (0 while it is not ready)."""
    answer = http("GET", f"{worker.url}/api/v1/health")
    return answer.body.get("partitions", 0) if answer.status == 200 else 0


def accepted(worker: Worker, path: str, body: Any) -> list[str]:
    """POST ``body`` to ``path`` of the worker, insist on 202, and return the alert ids."""
    answer = http("POST", f"{worker.url}{path}", body)
    assert answer.status == 202, answer.body
    return answer.body["ids"]


def await_view(worker: Worker, path: str, ready: Callable[[Any], bool] = lambda body: True) -> Any:
    """GET ``path`` of the worker until it answers 200 with a body ``ready`` accepts."""
    return eventually(
        lambda: (
            (a := http("GET", f"{worker.url}{path}")).status == 200 and ready(a.body) and a.body
        ),
        what=f"GET {path}",
    )
