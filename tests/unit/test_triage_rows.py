"""Triage's tenant rows: the head and the phases a call moved are written by every call; the
rates only count and are deferred, except when a storm starts or the scopes change."""

from __future__ import annotations

from typing import Any

import orjson

from app.config import Config
from app.learning.scoring import Thresholds
from app.runtime.stage import Record
from app.runtime.state import MemoryRows
from app.triage.bench import alert
from app.triage.handler import DEDUPED, TRIAGE_EXPIRY, Triage, head_key, phase_key, rates_key
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
    how the call wrote the tenant's rows (not its templates, index or model)."""
    rows.writes.clear()
    records = [Record("t", alert(n, "t", every_ms=10), n + 1) for n in range(first, first + count)]
    triage.handle(ExpiringRows(rows, TRIAGE_EXPIRY, 0), DEDUPED, records)
    return sorted((how, key) for how, key in rows.writes if key in KEYS)


ONE = alert(0, "t")["service"]  # the bench's alerts 0, 40, 80, … share a service
KEYS = (head_key("t"), rates_key("t"), phase_key("t", "tenant t"), phase_key("t", f"service {ONE}"))


def test_rates_are_deferred_between_storms_and_written_when_one_starts() -> None:
    triage, rows = Triage(Snapshot(Config(), Thresholds()), 0.35), Recording()
    tenant, service = [("put", phase_key("t", s)) for s in ("tenant t", f"service {ONE}")]
    assert _call(triage, rows, 0, 1) == sorted([("put", "t"), tenant, service, ("put", "t|r")])
    assert _call(triage, rows, 1, 1) == sorted([("put", "t"), tenant, ("put", "t|r")])  # new scope
    quiet = [_call(triage, rows, n, 1) for n in range(40, 320, 40)]  # the same two scopes
    assert quiet == [sorted([("defer", "t|r"), ("put", "t"), tenant, service])] * 7
    assert not rows.data[head_key("t")]["storms"]
    assert _call(triage, rows, 300, 1) == sorted([("put", "t"), tenant, service, ("put", "t|r")])
    assert rows.data[head_key("t")]["storms"], "the tenth alert started a storm"
    assert set(rows.data[head_key("t")]) == {"storms", "recent", "opened", "due"}


def test_a_head_row_from_before_the_split_keeps_its_rates_and_phases() -> None:
    triage, rows = Triage(Snapshot(Config(), Thresholds()), 0.35), Recording()
    _call(triage, rows, 0, 5)
    rates = rows.data.pop(rates_key("t"))["rates"]
    phases = {k.split("|ph|")[1]: rows.data.pop(k)["phase"] for k in list(rows.data) if "|ph|" in k}
    old = {**rows.data[head_key("t")], "rates": rates, "phases": phases}  # the old shape
    rows.data[head_key("t")] = old
    triage.forget()
    _call(triage, rows, 5, 1)
    scope = "tenant t"
    assert rows.data[rates_key("t")]["rates"][scope][1] == rates[scope][1] + 1
    assert rows.data[phase_key("t", scope)]["phase"][3] == phases[scope][3] + 1
    assert set(phases) <= {k.split("|ph|")[1] for k in rows.data if "|ph|" in k}
    assert set(rows.data[head_key("t")]) == {"storms", "recent", "opened", "due"}
    assert len(orjson.dumps(rows.data[head_key("t")])) < len(orjson.dumps(old)) / 2
