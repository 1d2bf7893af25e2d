"""The benchmark (``scripts/bench``): its alert mix is what the sources accept. A tiny run of the
real thing is ``tests/flow/test_bench.py``."""

from __future__ import annotations

import doctest
import sys

import pytest

from app.records import epoch_ms
from app.sources import normalize, split_alertmanager
from tests.harness import REPO

sys.path.insert(0, str(REPO / "scripts"))

from benchlib import mix, profile, report


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
