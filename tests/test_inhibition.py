"""Inhibition rules: sources, targets and equal labels (app.inhibition)."""

from __future__ import annotations

import pytest

from app.inhibition import inhibited_by, is_source, parse_rules
from app.routes import RouteError

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


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"source_matchers": ["a=b"]}, r"inhibit_rules\[0\].target_matchers"),
        ({"source_matchers": ["a=b"], "target_matchers": ["c=~("]}, "invalid regular expression"),
        ({"source_matchers": ["a=b"], "target_matchers": ["c=d"], "equal": "x"}, "equal"),
        ({"source_match": {"a": "b"}}, "unknown key 'source_match'"),
    ],
)
def test_invalid_rules_name_the_path(spec: dict, message: str) -> None:
    with pytest.raises(RouteError, match=message):
        parse_rules([spec])
