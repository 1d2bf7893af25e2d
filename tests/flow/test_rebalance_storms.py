"""Nothing answered 202 is lost while workers die, rejoin, join and leave in a storm.

On a broker and worker of their own: each storm leaves thousands of alerts in the tables'
changelogs, and a worker that joins the session's broker later restores them first (a second
worker joining late in `make test` took over two minutes to become ready).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.client import HTTPException
from pathlib import Path
from typing import Any

import pytest

from tests.harness import (
    API_TOKEN,
    TopicReader,
    Worker,
    eventually,
    http,
    partitions_owned,
    reading,
    running,
    unique,
)


@pytest.fixture(scope="module")
def worker(own_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    """This module's worker (in place of the session's)."""
    process = Worker(
        own_bootstrap, tmp_path_factory.mktemp("storms"), env={"ALERTFLOW_API_TOKEN": API_TOKEN}
    )
    yield from running(process)


@pytest.fixture(scope="module")
def enriched(own_bootstrap: str, worker: Worker) -> Iterator[TopicReader]:
    """``alerts.enriched`` of this module's broker."""
    yield from reading(own_bootstrap, "alerts.enriched")


def _storm_post(poster: int, sent: int) -> tuple[str, Any]:
    """The path and body of post number ``sent`` of a storm's ``poster``: alerts no other post
    has (a repeat would be a duplicate, counted in dedup, not published)."""
    if sent % 3 == 2:
        alerts = [
            {
                "status": "firing",
                "labels": {"alertname": f"Storm{poster}-{sent}", "instance": f"host-{i}"},
                "annotations": {"summary": "d" * 200},
                "startsAt": "2026-11-23T09:00:00Z",
            }
            for i in range(100)
        ]
        return "/webhooks/alertmanager", {"version": "4", "status": "firing", "alerts": alerts}
    size = 300 if sent % 3 else 20
    return "/api/v1/alerts", [
        {"title": f"storm {poster} {sent} {i}", "description": "d" * 200} for i in range(size)
    ]


class _Storm:
    """Posts on ``posters`` threads, round ``targets``, each alert new: ``/api/v1/alerts``
    bodies of 20 (the event loop's) and of 300 (about 80 kB: a parse process's), and
    Alertmanager webhooks of 100, in turn; keeps the ids of what was answered 202. A refused
    connection (a worker down) is retried."""

    def __init__(self, tenant: str, *targets: Worker, posters: int = 1) -> None:
        self.ids: list[str] = []
        self.refused: list[int] = []
        self._tenant, self._targets = tenant, targets
        self._posting = threading.Event()
        self._threads = [
            threading.Thread(target=self._post, args=(poster,), daemon=True)
            for poster in range(posters)
        ]

    def __enter__(self) -> _Storm:
        self._posting.set()
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._posting.clear()
        for thread in self._threads:
            thread.join(timeout=60)

    def _post(self, poster: int) -> None:
        sent = 0
        while self._posting.is_set():
            path, body = _storm_post(poster, sent)
            target = self._targets[sent % len(self._targets)]
            sent += 1
            try:
                answer = http("POST", f"{target.url}{path}?tenant={self._tenant}", body)
            except (OSError, HTTPException):  # the worker is down, or went down during the post
                time.sleep(0.05)
                continue
            if answer.status == 202:
                self.ids.extend(answer.body["ids"])
            else:
                self.refused.append(answer.status)
            time.sleep(0.02)

    def all_published(self, enriched: TopicReader) -> None:
        """Every alert answered 202 comes out on ``alerts.enriched``; a post was refused only
        with 503 (not accepted: the sender retries)."""
        wanted = set(self.ids)
        assert len(wanted) > 5_000 and set(self.refused) <= {503}, (len(wanted), self.refused)

        def missing() -> set[str]:
            return wanted - {key for key, _, _ in enriched.matching(lambda k, v: k in wanted)}

        try:
            eventually(lambda: not missing(), 180, "every accepted alert in alerts.enriched")
        except AssertionError:
            lost = missing()
            raise AssertionError(f"{len(lost)} of {len(wanted)} accepted never came out") from None


def test_alerts_accepted_as_a_second_worker_joins_and_leaves_in_a_storm_all_come_out(
    worker: Worker, enriched: TopicReader, tmp_path: Path
) -> None:
    """Posts to both workers while the second one joins the group and then leaves it cleanly:
    partitions move to it and back with records in flight, and nothing answered 202 is lost."""
    alone = eventually(lambda: partitions_owned(worker), what="the first worker to own partitions")
    second = Worker(worker.bootstrap, tmp_path / "second", env={**worker.env})
    try:
        with _Storm(unique("rebalanced"), worker, second) as storm:
            time.sleep(3)
            second.start()
            eventually(
                lambda: partitions_owned(second) > 0, 90, "the second worker to own partitions"
            )
            time.sleep(5)
            second.stop()
            eventually(lambda: partitions_owned(worker) == alone, 90, "the first to own all again")
            time.sleep(3)
    finally:
        second.stop(kill=True)
    storm.all_published(enriched)


def test_alerts_accepted_as_a_second_worker_is_killed_in_a_storm_all_come_out(
    worker: Worker, enriched: TopicReader, tmp_path: Path
) -> None:
    """Posts to both workers, the second one killed: its partitions move to the first after
    the session timeout, their tables recovered from the changelogs, posts still coming."""
    second = Worker(worker.bootstrap, tmp_path / "second", env={**worker.env})
    second.start()
    try:
        eventually(lambda: partitions_owned(second) > 0, 90, "the second worker to own partitions")
        with _Storm(unique("survived"), worker, second) as storm:
            time.sleep(3)
            second.stop(kill=True)
            time.sleep(25)  # the session timeout (15 s), the rebalance, the recovery
    finally:
        second.stop(kill=True)
    storm.all_published(enriched)


def test_alerts_accepted_as_the_worker_is_killed_in_a_storm_all_come_out(
    worker: Worker, enriched: TopicReader
) -> None:
    """Bulk posts through the parse processes and the event loop, the worker killed with
    SIGKILL and started again while they come: ``start`` returns once the worker is ready, so
    the posts go on while its new member waits for the dead one's eviction (the session
    timeout), gets every partition and recovers its tables. Nothing answered 202 is lost."""
    with _Storm(unique("killed"), worker) as storm:
        time.sleep(3)
        worker.stop(kill=True)
        worker.start()
        time.sleep(3)
    storm.all_published(enriched)


def test_alerts_accepted_as_the_worker_restarts_cleanly_in_a_storm_all_come_out(
    worker: Worker, enriched: TopicReader
) -> None:
    """The worker stopped cleanly (SIGINT, as a deploy stops it) while four posters send it
    more than it handles (over 10,000 alerts/s here), and started again on the same data
    directory: the backlog it stopped in is read on from the committed offsets, over rows it
    had written already, and nothing answered 202 is lost. The stop itself logs no error."""
    with _Storm(unique("restarted"), worker, posters=4) as storm:
        time.sleep(5)
        logged = worker.log.stat().st_size
        worker.stop()
        stopping = worker.log.read_bytes()[logged:].decode(errors="replace")
        worker.start()
        time.sleep(2)
    assert " ERROR " not in stopping and "Traceback" not in stopping, stopping
    storm.all_published(enriched)
