"""Inhibition rules: sources, targets and equal labels (app.notify.muting)."""

from __future__ import annotations

from typing import Any

import pytest

from app.config import ConfigError, from_document
from app.notify.muting import InhibitRule, inhibited_by, is_source


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
