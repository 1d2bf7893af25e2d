"""The benchmark (``scripts/bench``) for real: a tiny run, on its own broker and worker, ends
with the promised summary line. Its alert mix is unit-tested in ``tests/unit/test_bench.py``."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.harness import REPO

LAST_LINE = re.compile(
    r"pipeline (\d+) alerts/s = ([\d.e+-]+)% of raw consume; p99 (\d+) ms at 1000/s; rss (\d+) MB"
)


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
    assert any(re.match(r"3 worker main thread over the drain +busy \d+%", line) for line in lines)
    assert any(line.startswith("4 latency") for line in lines)
    assert any(line.startswith("4 worker CPU per new alert") for line in lines)
    assert any(line.startswith("4 worker GC pauses") for line in lines)
    for phase in (3, 4):
        told = re.compile(rf"{phase} notifications +[\d,]+ sent +for [\d,]+ alerts: [\d,]+ first")
        assert any(told.match(line) for line in lines), phase
