"""Matchers against the verdicts of the real amtool (tests/fixtures/amtool_matchers.json).

The fixture is written by ``scripts/amtool-matchers``; :func:`test_fixture_is_what_amtool_says`
asks amtool again (when it is installed) so the file cannot drift from it.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from app.matchers import Matcher, MatcherError, from_api, parse_matchers, sort_key
from tests import amtool
from tests.harness import REPO

FIXTURE = REPO / "tests" / "fixtures" / "amtool_matchers.json"
CASES: list[dict[str, Any]] = json.loads(FIXTURE.read_text())


def _rendered(matchers: list[Matcher]) -> str:
    return "{" + ",".join(str(m) for m in sorted(matchers, key=sort_key)) + "}"


def test_the_fixture_is_a_real_table() -> None:
    accepted = [c for c in CASES if c["accepted"]]
    assert len(CASES) >= 60
    assert 20 <= len(accepted) <= len(CASES) - 20


@pytest.mark.parametrize("case", CASES, ids=[repr(c["input"]) for c in CASES])
def test_parser_agrees_with_amtool(case: dict[str, Any]) -> None:
    if case["accepted"]:
        assert _rendered(parse_matchers(case["input"])) == case["matchers"]
    else:
        with pytest.raises(MatcherError) as refused:
            parse_matchers(case["input"])
        kind = case["error"].split(":")[0]  # "bad matcher format", "error parsing regexp", …
        assert str(refused.value).startswith(kind)


def test_fixture_is_what_amtool_says() -> None:
    if amtool.binary() is None:
        pytest.skip("amtool is not installed (scripts/install-test-tools installs it)")
    assert amtool.matcher_verdicts([c["input"] for c in CASES]) == CASES


def test_the_unclosed_quote_of_the_issue_is_refused() -> None:
    with pytest.raises(MatcherError, match="unescaped double quote"):
        parse_matchers('severity=~"critical|warning')


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ('severity=~"crit|warn"', {"severity": "crit"}, True),
        ('severity=~"crit|warn"', {"severity": "critical"}, False),  # anchored
        ('severity=~"crit.*"', {"severity": "critical"}, True),
        ('env!~"dev|test"', {}, True),  # a missing label is ""
        ('env=~".*"', {}, True),
        ('env=~".+"', {}, False),
        ('env=""', {}, True),
        ('env!=""', {"env": "prod"}, True),
        ('msg="a\\nb"', {"msg": "a\nb"}, True),
        ('team=~"数据.+"', {"team": "数据库"}, True),
        ('x=~"(?i)ERROR"', {"x": "error"}, True),
    ],
)
def test_meaning(text: str, labels: dict[str, str], expected: bool) -> None:
    (matcher,) = parse_matchers(text)
    assert matcher.matches(labels) is expected


def test_pathological_regex_is_linear_time() -> None:
    """Issue G item 8: ``(a+)+$`` against a long value must not stall a worker."""
    matcher = Matcher("path", "=~", "(a+)+$")
    value = "a" * 200_000 + "!"
    started = time.perf_counter()
    for _ in range(20):
        assert not matcher.matches({"path": value})
    assert time.perf_counter() - started < 2.0  # Python's re takes longer than the universe


def test_api_objects_round_trip() -> None:
    for text in ['a="b"', 'a!="b"', 'a=~"b|c"', 'a!~"b"']:
        (matcher,) = parse_matchers(text)
        assert from_api(matcher.as_api()) == matcher
