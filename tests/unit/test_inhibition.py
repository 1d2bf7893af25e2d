"""Inhibition rules: sources, targets and equal labels (app.notify.muting)."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from typing import Any

import pytest

from app.config import ConfigError, from_document
from app.notify.muting import InhibitRule, Muting, Sources, is_source
from tables.inhibitors import FiringSources
from tables.noted import CHANGES_MAX
from tests.changelog import events, memory_table


def parse_rules(rules: list[dict[str, Any]]) -> tuple[InhibitRule, ...]:
    return from_document({"inhibit_rules": rules}).inhibit_rules


RULES = parse_rules(
    [
        {
            "source_matchers": ['severity="critical"'],
            "target_matchers": ['severity=~"warning|info"'],
            "equal": ["tenant", "cluster"],
        }
    ]
)


def inhibited_by(
    rules: tuple[InhibitRule, ...],
    alert_id: str,
    labels: Mapping[str, str],
    sources: Iterable[tuple[str, Mapping[str, str]]],
) -> str | None:
    return Sources(rules, sources).inhibitor(alert_id, labels)


def scanned(
    rules: tuple[InhibitRule, ...], alert_id: str, labels: Mapping[str, str], sources: Sources
) -> str | None:
    """The rule read literally: the first source, in id order, that mutes the alert."""
    for source_id, source in sorted(sources.labels.items()):
        if source_id != alert_id and any(
            rule.is_source(source)
            and rule.is_target(labels)
            and rule.key(source) == rule.key(labels)
            for rule in rules
        ):
            return source_id
    return None


def test_the_index_finds_what_a_scan_of_every_source_finds() -> None:
    rules = parse_rules(
        [
            {
                "source_matchers": ['severity="critical"'],
                "target_matchers": ['severity!="critical"'],
                "equal": ["cluster", "service"],
            },
            {
                "source_matchers": ["alertname=NodeDown"],
                "target_matchers": ['alertname!="NodeDown"'],
                "equal": ["node"],
            },
            {"source_matchers": ["team=db"], "target_matchers": ["team=db"]},
        ]
    )
    draw = random.Random(7)

    def labels() -> dict[str, str]:
        return {
            name: draw.choice(values)
            for name, values in (
                ("severity", ["critical", "warning"]),
                ("alertname", ["NodeDown", "Disk", "Cpu"]),
                ("cluster", ["eu", "us"]),
                ("service", ["a", "b", "c"]),
                ("node", ["n1", "n2", "n3", "n4"]),
                ("team", ["db", "web"]),
            )
            if draw.random() < 0.8
        }

    sources = Sources(rules, [])
    checked = muted = 0
    for step in range(3000):
        alert_id = f"a{draw.randrange(60):02d}"
        if alert_id in sources and draw.random() < 0.4:
            sources.remove(alert_id)
        elif draw.random() < 0.5:
            sources.add(alert_id, labels())
        target = labels()
        found = sources.inhibitor(alert_id, target)
        assert found == scanned(rules, alert_id, target, sources), step
        checked, muted = checked + 1, muted + (found is not None)
    assert 0.2 * checked < muted < 0.9 * checked  # both answers were asked often


def test_a_firing_source_mutes_targets_that_share_the_equal_labels() -> None:
    source = ("s1", {"tenant": "t", "cluster": "eu", "severity": "critical"})
    assert is_source(RULES, source[1])
    warning = {"tenant": "t", "cluster": "eu", "severity": "warning"}
    assert inhibited_by(RULES, "a1", warning, [source]) == "s1"
    assert inhibited_by(RULES, "a1", {**warning, "cluster": "us"}, [source]) is None
    assert inhibited_by(RULES, "a1", {**warning, "tenant": "u"}, [source]) is None
    assert inhibited_by(RULES, "a1", {**warning, "severity": "critical"}, [source]) is None
    assert inhibited_by(RULES, "a1", warning, []) is None


def test_missing_equal_labels_are_equal_when_both_lack_them() -> None:
    source = ("s1", {"severity": "critical"})
    assert inhibited_by(RULES, "a1", {"severity": "info"}, [source]) == "s1"


def test_an_alert_never_inhibits_itself() -> None:
    rules = parse_rules([{"source_matchers": ["team=db"], "target_matchers": ["team=db"]}])
    labels = {"team": "db"}
    assert inhibited_by(rules, "a1", labels, [("a1", labels)]) is None
    assert inhibited_by(rules, "a2", labels, [("a1", labels)]) == "a1"


def test_the_old_syntax_means_the_same_as_the_new() -> None:
    old = parse_rules(
        [
            {
                "source_match": {"severity": "critical"},
                "target_match_re": {"severity": "warning|info"},
                "equal": ["tenant", "cluster"],
            }
        ]
    )
    assert old == RULES


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"source_matchers": ["a=b"], "target_matchers": ["c=~("]}, "error parsing regexp"),
        ({"source_matchers": ["a=b"], "target_matchers": ["c=d"], "equal": "x"}, "equal"),
        ({"source_match": {"a-b": "c"}}, r"inhibit_rules\[0\].source_match.a-b"),
        ({"source_matchers": ['a="b']}, "unescaped double quote"),
        ({"sauce_match": {"a": "b"}}, r"inhibit_rules\[0\].sauce_match: unknown key"),
    ],
)
def test_invalid_rules_name_the_path(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_rules([spec])


def test_a_call_changes_the_sources_for_itself_and_leaves_the_shared_index_alone() -> None:
    critical = {"tenant": "t", "cluster": "eu", "severity": "critical"}
    warning = {**critical, "severity": "warning"}
    shared = Sources(RULES, [("s1", critical)])
    muting = Muting.of([], RULES, shared)
    assert muting.why("a1", warning, 0) == "inhibited by alert s1"
    assert muting.track("s1", critical, "resolved", "i1") == ("s1", None)
    assert muting.why("a1", warning, 0) is None
    assert muting.track("s1", critical, "resolved", "i1") is None  # already resolved
    assert muting.track("s2", critical, "firing", "i2") == (
        "s2",
        {"labels": critical, "incident_id": "i2"},
    )
    assert muting.track("s2", critical, "firing", "i2") is None  # already firing
    assert muting.why("a1", warning, 0) == "inhibited by alert s2"
    assert muting.track("s1", critical, "firing", "i1") is not None  # fires again
    assert muting.why("a1", warning, 0) == "inhibited by alert s1"
    assert list(shared.labels) == ["s1"]  # the next call starts from the changelog's view
    assert Muting.of([], RULES, shared).why("a1", warning, 0) == "inhibited by alert s1"


def test_the_firing_index_follows_the_changelog_and_is_read_again_when_it_must() -> None:
    table = memory_table("test-inhibitors")
    critical = {"labels": {"severity": "critical"}, "incident_id": "i"}
    table.apply_changelog_batch(events(("s1", critical), raw=True))
    firing = FiringSources(table)
    target = {"severity": "warning"}
    assert firing.current(RULES).inhibitor("a1", target) == "s1"  # read whole
    table.apply_changelog_batch(events(("s0", critical), ("s3", critical), raw=True))
    assert table.changes.keys() == {b"s0", b"s3"}
    assert firing.current(RULES).inhibitor("a1", target) == "s0"  # followed
    assert table.changes == {}
    table.apply_changelog_batch(events(("s0", None), raw=True))  # resolved: a tombstone
    assert firing.current(RULES).inhibitor("a1", target) == "s1"
    many = [(f"x{n:05d}", None) for n in range(CHANGES_MAX)]
    table.apply_changelog_batch(events(("s0", critical), *many, raw=True))
    assert table.overflowed and not table.changes  # too many to note: read whole again
    assert firing.current(RULES).inhibitor("a1", target) == "s0"
    assert not table.overflowed
    other = parse_rules([{"source_matchers": ["severity=page"], "target_matchers": ["x=y"]}])
    assert firing.current(other).rules == other  # new rules: indexed for them
    assert firing.current(RULES).inhibitor("s0", target) == "s1"
