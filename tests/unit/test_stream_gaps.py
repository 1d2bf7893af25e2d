"""Offsets a stream skipped are logged and counted, changelogs' gaps are not (app.stream_gaps)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from faust.transport.consumer import Consumer
from faust.types import TP

from app import metrics, stream_gaps

CHANGELOG = "alertflow-incidents-changelog"


def test_the_patch_is_applied_once() -> None:
    assert Consumer._add_gap is stream_gaps._add_gap_reported


@pytest.mark.parametrize(
    ("topic", "reported"),
    [
        ("alerts.correlated", True),  # a stage's input
        (CHANGELOG, False),  # a table's changelog, compacted
        ("silences", False),  # a global table's changelog is the compacted topic itself
    ],
)
async def test_a_gap_outside_the_changelogs_is_reported_and_still_committed_over(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, topic: str, reported: bool
) -> None:
    added: list[tuple[TP, int, int]] = []

    async def faust_add_gap(self: Any, tp: TP, offset_from: int, offset_to: int) -> None:
        added.append((tp, offset_from, offset_to))

    monkeypatch.setattr(stream_gaps, "_unpatched", faust_add_gap)
    tables = SimpleNamespace(changelog_topics={CHANGELOG, "silences"})
    consumer = SimpleNamespace(app=SimpleNamespace(tables=tables))
    before = metrics.stream_offsets_skipped._value.get()
    tp = TP(topic, 1)
    await stream_gaps._add_gap_reported(consumer, tp, 3, 9)  # read 2, then 9: 3-8 never read
    assert added == [(tp, 3, 9)]
    assert metrics.stream_offsets_skipped._value.get() - before == (6 if reported else 0)
    errors = [r.getMessage() for r in caplog.records if r.name == "app.stream_gaps"]
    expected = f"{topic}[1]: the stream went from offset 2 to 9; the 6 between are committed over"
    assert errors == ([expected] if reported else [])
