"""The alert-stream generator (ground truth) and the replay that scores dedup and grouping."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter, defaultdict

from app.records import parse_time
from app.simulation import GROUP_INTERVAL, generate, raw_alert
from app.sources import normalize
from tests.harness import REPO


def test_same_seed_same_stream_other_seed_other_stream() -> None:
    assert generate(seed=3, hours=3) == generate(seed=3, hours=3)
    assert generate(seed=3, hours=3) != generate(seed=4, hours=3)


def test_every_item_normalizes_and_carries_its_truth() -> None:
    items = generate(seed=5, hours=4)
    assert [i.at for i in items] == sorted(i.at for i in items)
    actionable: dict[str, set[bool]] = defaultdict(set)
    for item in items:
        alert = normalize(raw_alert(item))
        assert alert["tenant"] == item.tenant and alert["received_at"] == item.at
        actionable[item.incident].add(item.actionable)
    assert all(len(values) == 1 for values in actionable.values()), "one truth per incident"
    kinds = Counter(i.kind for i in items)
    assert set(kinds) == {"cascade", "flap", "storm", "noise"}
    assert {True, False} <= {i.actionable for i in items}


def test_alertmanager_resends_every_group_interval_then_resolves() -> None:
    items = [i for i in generate(seed=2, hours=3) if i.kind == "cascade"]
    by_alert: dict[tuple[str, str, str], list] = defaultdict(list)
    for item in items:
        labels = json.dumps(item.payload["labels"], sort_keys=True)
        by_alert[(item.tenant, labels, item.payload["startsAt"])].append(item)
    longest = max(by_alert.values(), key=len)
    firing = [i for i in longest if i.payload["status"] == "firing"]
    assert len(firing) >= 2 and longest[-1].payload["status"] == "resolved"
    assert parse_time(firing[1].at) - parse_time(firing[0].at) == GROUP_INTERVAL


def test_cascades_span_dependent_services_and_storms_are_large() -> None:
    items = generate(seed=1, hours=6)
    services: dict[str, set[str]] = defaultdict(set)
    for item in items:
        if item.source == "alertmanager":
            services[item.incident].add(item.payload["labels"]["service"])
    cascades = [s for i, s in services.items() if "cascade" in i]
    assert max(len(s) for s in cascades) >= 3
    storms = [i for i in services if "storm" in i]
    assert storms and all(
        len({x.payload["labels"]["instance"] for x in items if x.incident == s}) >= 60
        for s in storms
    )


def test_replay_reports_dedup_ratio_and_ari_deterministically() -> None:
    command = [sys.executable, str(REPO / "scripts/replay"), "--seeds", "1", "2", "--hours", "6"]
    runs = [subprocess.run([*command, "--json"], capture_output=True, text=True, check=True)]
    runs.append(subprocess.run([*command, "--json"], capture_output=True, text=True, check=True))
    assert runs[0].stdout == runs[1].stdout
    for line in runs[0].stdout.splitlines():
        figures = json.loads(line)
        assert 0.3 < figures["dedup_ratio"] < 0.9
        assert figures["ari"] > 0.9, figures
        assert figures["pure"] > 0.8, figures
        assert figures["incidents"] < figures["alerts"] / 1.5
        assert figures["storm_joins"] > 20
        whole = {
            kind: tuple(map(int, n.split("/"))) for kind, n in figures["whole_by_kind"].items()
        }
        assert whole["storm"][0] == whole["storm"][1], "every storm is one incident"
        assert whole["flap"][0] == whole["flap"][1], "every flapping alert is one incident"
        assert whole["cascade"][0] >= 0.75 * whole["cascade"][1], figures
