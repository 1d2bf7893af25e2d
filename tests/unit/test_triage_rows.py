"""Triage's tenant rows: the head is written by every call, the rates and phases only count and
are deferred, except when a storm starts or the tenant has no rates row yet."""

from __future__ import annotations

from typing import Any

import orjson

from app.config import Config
from app.learning.scoring import Thresholds
from app.runtime.stage import Record
from app.runtime.state import MemoryRows
from app.triage.bench import alert
from app.triage.handler import DEDUPED, TRIAGE_EXPIRY, Triage, head_key, rates_key
from app.triage.routing import Snapshot
from tables.expiry import ExpiringRows


class Recording(MemoryRows):
    """Rows that record how each row was written: ``put`` or ``defer``."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[str, str]] = []

    def put(self, key: str, value: Any) -> None:
        self.writes.append(("put", key))
        super().put(key, value)

    def defer(self, key: str, value: Any) -> None:
        self.writes.append(("defer", key))
        super().defer(key, value)


def _call(triage: Triage, rows: Recording, first: int, count: int) -> list[tuple[str, str]]:
    """Alerts ``first`` to ``first + count - 1`` of tenant ``t``, 10 ms apart, in one call;
    how the call wrote the tenant's two rows."""
    rows.writes.clear()
    records = [Record("t", alert(n, "t", every_ms=10), n + 1) for n in range(first, first + count)]
    triage.handle(ExpiringRows(rows, TRIAGE_EXPIRY, 0), DEDUPED, records)
    return sorted((how, key) for how, key in rows.writes if key in (head_key("t"), rates_key("t")))


def test_rates_are_deferred_between_storms_and_written_when_one_starts() -> None:
    triage, rows = Triage(Snapshot(Config(), Thresholds()), 0.35), Recording()
    assert _call(triage, rows, 0, 1) == [("put", "t"), ("put", "t|r")]  # no rates row yet
    quiet = [_call(triage, rows, n, 1) for n in range(1, 9)]
    assert quiet == [[("defer", "t|r"), ("put", "t")]] * 8
    assert "storms" not in rows.data[rates_key("t")]
    assert not rows.data[head_key("t")]["storms"]
    assert _call(triage, rows, 9, 1) == [("put", "t"), ("put", "t|r")]  # the tenth: a storm
    assert rows.data[head_key("t")]["storms"], "the storm is in the head row"
    assert "rates" not in rows.data[head_key("t")]


def test_a_head_row_from_before_the_split_keeps_its_rates() -> None:
    triage, rows = Triage(Snapshot(Config(), Thresholds()), 0.35), Recording()
    _call(triage, rows, 0, 5)
    counts = rows.data.pop(rates_key("t"))
    rows.data[head_key("t")] = {**rows.data[head_key("t")], **counts}  # the old shape
    triage.forget()
    assert _call(triage, rows, 5, 1) == [("put", "t"), ("put", "t|r")]
    scope = "tenant t"
    assert rows.data[rates_key("t")]["rates"][scope][1] == counts["rates"][scope][1] + 1
    assert set(rows.data[head_key("t")]) == {"storms", "recent", "opened", "due"}
    assert len(orjson.dumps(rows.data[head_key("t")])) < len(orjson.dumps(counts))
