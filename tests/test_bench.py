"""The benchmark (``scripts/bench``): its alert mix is what the sources accept, and a tiny run
ends with the promised summary line."""

from __future__ import annotations

import doctest
import re
import subprocess
import sys

import pytest

from app.records import epoch_ms
from app.sources import normalize, split_alertmanager
from tests.harness import REPO

sys.path.insert(0, str(REPO / "scripts"))

from benchlib import mix, profile, report

LAST_LINE = re.compile(
    r"pipeline (\d+) alerts/s = ([\d.e+-]+)% of raw consume; p99 (\d+) ms at 1000/s; rss (\d+) MB"
)


@pytest.mark.parametrize("module", [mix, report, profile])
def test_doctests_of_the_bench_helpers(module: object) -> None:
    failed, attempted = doctest.testmod(module)  # type: ignore[arg-type]
    assert attempted and not failed


def test_the_storm_is_what_the_bridge_writes() -> None:
    storm = mix.Storm(seed=3, start_ms=1_790_000_000_000)
    sends = [storm.next_send() for _ in range(300)]
    assert {send.source for send in sends} == {"alertmanager", "sentry", "api"}
    for send in sends:
        alerts = [normalize(raw) for raw in send.raws("2026-11-23T00:00:00.000Z")]
        assert [alert["fingerprint"] for alert in alerts] == send.fingerprints
        assert [epoch_ms(alert["starts_at"]) for alert in alerts] == send.starts_ms
        if send.source == "alertmanager":
            raws = split_alertmanager(send.webhook_body(), tenant="t", received_at="x")
            assert [raw["payload"]["fingerprint"] for raw in raws] == send.fingerprints
    resends = storm.alerts - len(storm.fingerprints)
    assert resends > storm.alerts / 2  # a storm is mostly re-sends of known alerts


@pytest.mark.integration
def test_quick_bench_ends_with_the_summary_line() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "bench"),
            "--quick",
            "--am-alerts",
            "1000",
            "--max-wait",
            "60",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    match = LAST_LINE.fullmatch(lines[-1])
    assert match, lines[-1]
    pipeline, share, _p99, rss = (float(group) for group in match.groups())
    assert pipeline > 0 and 0 < share < 100 and rss > 50
    assert any(line.startswith("1 raw consume") for line in lines)
    assert any(line.startswith("2 no-op Faust agent") for line in lines)
    assert any(line.startswith("3 pipeline per worker-CPU-second") for line in lines)
    assert any(line.startswith("4 latency") for line in lines)
