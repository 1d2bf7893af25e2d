"""A tenant's content templates: its online miner, kept as one small row per template.

The miner (:class:`agents.template_miner.TemplateMiner`, at most ``max_clusters`` templates)
lives warm in memory; its rows are what a worker that takes the tenant over rebuilds it from:
``<tenant>|tc|<template id>`` → ``{"count", "used", "variants": [[seq, text], ...]}`` and the
list of the tenant's template ids, ``<tenant>|tm`` → ``{"ids": [...]}``. After each call only
the templates that were born or generalised are written, and evicted ones deleted; counts
and recency (``used``) are as of a template's last write.

The miner module's per-template export (``clusters()``, ``from_clusters()``,
``take_changes()``) is on its way; until then :func:`_records` and :func:`_restored` build the
same records from ``to_state()`` / ``from_state()``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from agents.template_miner import STATE_VERSION, Template, TemplateMiner
from app.records import Alert
from app.runtime.state import RowAccess

ClusterRecord = dict[str, Any]  # {"count": int, "used": int, "variants": [[seq, text], ...]}


def message_text(alert: Alert) -> str:
    """The free text a person reads: title, then description.

    >>> message_text({"title": "Disk full on db1", "description": ""})
    'Disk full on db1'
    """
    return " — ".join(part for part in (alert["title"], alert["description"]) if part)


def cluster_key(tenant: str, template_id: str) -> str:
    """Row of one template.

    >>> cluster_key("acme", "3f2a9c")
    'acme|tc|3f2a9c'
    """
    return f"{tenant}|tc|{template_id}"


def list_key(tenant: str) -> str:
    """Row listing a tenant's template ids."""
    return f"{tenant}|tm"


class Templates:
    """One tenant's miner and what changed in it since its rows were last written.

    >>> from app.runtime.state import MemoryRows
    >>> rows = MemoryRows()
    >>> templates = Templates.load(rows, "t")
    >>> a = templates.match("Invalid user alice from 10.1.2.3")
    >>> b = templates.match("Invalid user bob from 10.9.8.7")
    >>> templates.save(rows, "t"); [key[:5] for key in sorted(rows.data)]
    ['t|tc|', 't|tm']
    >>> Templates.load(rows, "t").match("Invalid user eve from ::1") == b
    True
    """

    def __init__(self, found: list[tuple[str, ClusterRecord]]) -> None:
        self.miner = _restored(found)
        self._used = {tid: record["used"] for tid, record in found}  # id → last match number
        self._tick = max(self._used.values(), default=0)
        self._known = _texts(found)  # (id, text) of every template variant as last written
        self._changed: set[str] = set()

    @classmethod
    def load(cls, rows: RowAccess, tenant: str) -> Templates:
        """The tenant's miner as its rows describe it (an empty one without rows)."""
        return cls(records(rows.get, tenant))

    def match(self, text: str) -> Template:
        """The template of ``text`` (the miner learns from it)."""
        template = self.miner.match(text)
        self._tick += 1
        self._used[template.id] = self._tick
        if (template.id, template.text) not in self._known:
            self._changed.add(template.id)
        return template

    def save(self, rows: RowAccess, tenant: str) -> None:
        """Write the templates born or generalised since the last save; delete evicted ones."""
        if not self._changed:
            return
        state = dict(_records(self.miner, self._used))
        for template_id in self._changed & state.keys():
            rows.put(cluster_key(tenant, template_id), state[template_id])
        for template_id in {tid for tid, _ in self._known} - state.keys():
            rows.delete(cluster_key(tenant, template_id))
        rows.put(list_key(tenant), {"ids": sorted(state)})
        self._used = {tid: used for tid, used in self._used.items() if tid in state}
        self._known = _texts(list(state.items()))
        self._changed.clear()


def records(get: Callable[[str], Any], tenant: str) -> list[tuple[str, ClusterRecord]]:
    """The tenant's template rows, read with ``get`` (a table's or a call's)."""
    listing = get(list_key(tenant))
    found = []
    for template_id in listing["ids"] if listing else ():
        record = get(cluster_key(tenant, template_id))
        if record is not None:
            found.append((template_id, record))
    return found


def _texts(found: list[tuple[str, ClusterRecord]]) -> set[tuple[str, str]]:
    return {(tid, text) for tid, record in found for _, text in record["variants"]}


def _records(miner: TemplateMiner, used: dict[str, int]) -> Iterable[tuple[str, ClusterRecord]]:
    for template_id, count, variants in miner.to_state()["clusters"]:
        yield template_id, {"count": count, "used": used.get(template_id, 0), "variants": variants}


def _restored(found: list[tuple[str, ClusterRecord]]) -> TemplateMiner:
    ordered = sorted(found, key=lambda item: (item[1]["used"], item[0]))
    seqs = [seq for _, record in found for seq, _ in record["variants"]]
    return TemplateMiner.from_state(
        {
            "version": STATE_VERSION,
            "config": TemplateMiner().to_state()["config"],
            "seq": max(seqs, default=-1) + 1,
            "clusters": [[tid, r["count"], r["variants"]] for tid, r in ordered],
        }
    )
