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

from benchlib import mix, profile, receiver, report
from benchlib.kafka import available, drain


@pytest.mark.parametrize("module", [mix, report, profile, receiver])
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


class _Flickering:
    """Offsets whose lag is 1 and 0 in turn: a worker's tick each sample, committed by the next."""

    def __init__(self) -> None:
        self.samples = 0

    def lag(self) -> tuple[int, int, int]:
        self.samples += 1
        return (0, 0, self.samples % 2)


class _Arrived:
    def __init__(self, count: int) -> None:
        self.count = count


def test_a_drain_ends_when_nothing_arrives_though_ticks_make_the_lag_flicker() -> None:
    offsets = _Flickering()
    assert drain(offsets, _Arrived(5), settle=1.0, limit=5.0)  # ticks alone do not hold it up
    assert offsets.samples < 8  # done soon after settle, not at the limit


def test_a_drain_waits_for_the_first_arrival_when_asked() -> None:
    assert not drain(_Flickering(), _Arrived(0), settle=0.5, limit=2.0, at_least=1)


class _Fetched:
    """A consumer's side of ``available``: what it has fetched, and the waits it was asked for."""

    def __init__(self, messages: list[str]) -> None:
        self.messages = messages
        self.waits: list[tuple[str, float]] = []

    def poll(self, timeout: float) -> str | None:
        self.waits.append(("poll", timeout))
        return self.messages.pop(0) if self.messages else None

    def consume(self, num_messages: int, timeout: float) -> list[str]:
        self.waits.append(("consume", timeout))
        taken, self.messages = self.messages[:num_messages], self.messages[num_messages:]
        return taken


def test_arrivals_are_taken_as_they_come_not_once_a_batch_is_full() -> None:
    fetched = _Fetched(["a", "b", "c", "d"])
    assert available(fetched, 0.05, 3) == ["a", "b", "c"]  # type: ignore[arg-type]
    # waiting only for the first; the rest is what was already there
    assert fetched.waits == [("poll", 0.05), ("consume", 0)]
    assert available(fetched, 0.05, 3) == ["d"]  # type: ignore[arg-type]
    assert available(fetched, 0.05, 3) == []  # type: ignore[arg-type]
