"""What the HTTP server shows without a token (issue G.11), and where it listens (G.12)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness import Worker, http

FAUST_VIEWS = [  # "/" is the console (a static page: tests of the console)
    "/router/",
    "/router/alerts/",
    "/router/alerts/some-key/",
    "/table/incidents/",
    "/table/models/default/",
    "/stats/",
    "/assignment/",
    "/graph/",
    "/performance/",
]


@pytest.mark.parametrize("path", FAUST_VIEWS)
def test_faust_builtin_views_are_gone(worker: Worker, path: str) -> None:
    for token in (None, "test-token"):
        answer = http("GET", worker.url + path, token=token)
        assert answer.status == 404, (path, answer.status, answer.body)
        assert isinstance(answer.body, dict) and set(answer.body) == {"error", "detail"}


def _listening(port: int) -> set[str]:
    """The local addresses (hex, as in /proc/net/tcp*) of the sockets listening on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.rpartition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


def test_the_api_listens_on_loopback_by_default(worker: Worker) -> None:
    port = int(worker.url.rsplit(":", 1)[1])
    assert _listening(port) == {"0100007F"}  # 127.0.0.1 only, not 0.0.0.0
