"""Label matchers exactly as Alertmanager 0.25 parses them (``pkg/labels/parse.go``), over RE2.

A matcher is ``name op value`` with ``op`` one of ``=``, ``!=``, ``=~``, ``!~``; the name is a
Prometheus label name (``[a-zA-Z_:][a-zA-Z0-9_:]*``); the value may be double-quoted, with the
OpenMetrics escapes ``\\"``, ``\\n`` and ``\\\\`` (any other backslash is literal). An unescaped
``"`` anywhere but at both ends is an error — ``severity=~"critical|warning`` (no closing quote)
is refused, as amtool refuses it. A list is comma-separated, optionally in braces
(``{a="b", c=~"d"}``), commas inside quotes do not separate, and one trailing comma is allowed.

Regular expressions are anchored (``^(?:re)$``) and run on RE2, whose matching time is linear
in the input: a pathological pattern such as ``(a+)+$`` cannot stall a worker.

>>> [str(m) for m in parse_matchers('{severity=~"critical|warning", team = db, }')]
['severity=~"critical|warning"', 'team="db"']
>>> parse_matchers('severity=~"critical|warning')
Traceback (most recent call last):
...
app.matchers.MatcherError: matcher value contains unescaped double quote: "critical|warning
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import re2

Op = Literal["=", "!=", "=~", "!~"]
OPS: tuple[Op, ...] = ("=", "!=", "=~", "!~")
# Go's regexp, as in parse.go: \s is [\t\n\f\r ], "$" is the end of the text.
_MATCHER = re.compile(
    r"[\t\n\f\r ]*([a-zA-Z_:][a-zA-Z0-9_:]*)[\t\n\f\r ]*(=~|=|!=|!~)[\t\n\f\r ]*(.*?)[\t\n\f\r ]*",
    re.DOTALL,
)
_GO_SPACE = "".join(chr(c) for c in (*range(9, 14), 32, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B)))
_GO_SPACE += "\u2028\u2029\u202f\u205f\u3000"  # Go's unicode.IsSpace, for strings.TrimSpace
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")  # model.LabelNameRE: match:/equal: keys
_NOT_IN_GO = {
    "\\C": "invalid escape sequence",
    "(?<": "invalid or unsupported Perl syntax",  # Go ≥ 1.22 accepts named groups so spelled
}
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False


class MatcherError(ValueError):
    """A matcher (or its regular expression) does not parse; the message says why."""


@dataclass(frozen=True)
class Matcher:
    """One condition on a label; a missing label is the empty string.

    >>> Matcher("team", "=~", "db|storage").matches({"team": "db"})
    True
    >>> Matcher("team", "=~", "db").matches({"team": "db2"})  # anchored
    False
    >>> Matcher("env", "!=", "prod").matches({})
    True
    """

    name: str
    op: Op
    value: str

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise MatcherError(f"unknown match type {self.op!r}")
        if self.is_regex:
            regex(self.value)  # raises MatcherError when it does not compile

    @property
    def is_regex(self) -> bool:
        """Whether the value is a regular expression (``=~``, ``!~``)."""
        return self.op in ("=~", "!~")

    @property
    def is_equal(self) -> bool:
        """Whether a match is wanted (``=``, ``=~``) rather than refused."""
        return self.op in ("=", "=~")

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy this condition."""
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        found = regex(self.value).search(actual) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        """Alertmanager's rendering: ``name op "value"`` with OpenMetrics escapes.

        >>> str(Matcher("a", "=", 'say "hi"\\n'))
        'a="say \\\\"hi\\\\"\\\\n"'
        """
        escaped = self.value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
        return f'{self.name}{self.op}"{escaped}"'

    def as_api(self) -> dict[str, Any]:
        """Alertmanager's API object ``{name, value, isRegex, isEqual}``."""
        return {
            "name": self.name,
            "value": self.value,
            "isRegex": self.is_regex,
            "isEqual": self.is_equal,
        }


@functools.lru_cache(maxsize=4096)
def regex(value: str) -> Any:
    """``value`` compiled by RE2 as Alertmanager anchors it: ``^(?:value)$``.

    >>> regex("5..").search("503") is not None, regex("5..").search("1503") is not None
    (True, False)
    >>> regex("(a")
    Traceback (most recent call last):
    ...
    app.matchers.MatcherError: error parsing regexp: missing ): ^(?:(a)$
    """
    unescaped = value.replace("\\\\", "")
    for syntax, why in _NOT_IN_GO.items():  # RE2 in C++ knows these; Go's regexp does not
        if syntax in unescaped:
            raise MatcherError(f"error parsing regexp: {why}: `{syntax}`")
    try:
        return re2.compile(f"^(?:{value})$", _RE2_OPTIONS)
    except re2.error as exc:
        detail = exc.args[0].decode() if isinstance(exc.args[0], bytes) else str(exc)
        raise MatcherError(f"error parsing regexp: {detail}") from None


def from_api(item: Mapping[str, Any]) -> Matcher:
    """A matcher from Alertmanager's API object (``isEqual`` defaults to true).

    >>> str(from_api({"name": "env", "value": "dev|test", "isRegex": True, "isEqual": False}))
    'env!~"dev|test"'
    """
    regex_, equal = bool(item.get("isRegex", False)), bool(item.get("isEqual", True))
    op: Op = ("=~" if equal else "!~") if regex_ else ("=" if equal else "!=")
    return Matcher(str(item["name"]), op, str(item.get("value", "")))


def parse_matchers(text: str) -> list[Matcher]:
    """A comma-separated list of matchers, braces optional (``ParseMatchers``).

    >>> [str(m) for m in parse_matchers('{quote="She said: \\\\"Hi, all\\\\"", a=b}')]
    ['quote="She said: \\\\"Hi, all\\\\""', 'a="b"']
    >>> parse_matchers("{}"), len(parse_matchers("a=b,"))
    ([], 1)
    >>> parse_matchers("a=b,,c=d")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    app.matchers.MatcherError: bad matcher format...
    """
    text = text.removeprefix("{").removesuffix("}")
    tokens: list[str] = []
    token: list[str] = []
    inside_quotes = escaped = False
    for char in text:
        if char == ",":
            if not inside_quotes:
                tokens.append("".join(token))
                token = []
                continue
        elif char == '"':
            if not escaped:
                inside_quotes = not inside_quotes
            else:
                escaped = False
        elif char == "\\":
            escaped = not escaped
        else:
            escaped = False
        token.append(char)
    last = "".join(token).strip(_GO_SPACE)
    if last:
        tokens.append(last)
    return [parse_matcher(t) for t in tokens]


def parse_matcher(text: str) -> Matcher:
    """One matcher (``ParseMatcher``).

    >>> parse_matcher('team=~"db|storage"')
    Matcher(name='team', op='=~', value='db|storage')
    >>> parse_matcher('path="C:\\\\tmp\\\\x"').value  # a lone backslash stays literal
    'C:\\\\tmp\\\\x'
    >>> parse_matcher("9lives=x")
    Traceback (most recent call last):
    ...
    app.matchers.MatcherError: bad matcher format: 9lives=x
    """
    found = _MATCHER.fullmatch(text)
    if found is None:
        raise MatcherError(f"bad matcher format: {text}")
    name, op, raw = found.groups()
    quoted = raw.startswith('"')
    body = raw[1:] if quoted else raw
    value: list[str] = []
    escaped = False
    for i, char in enumerate(body):
        if escaped:
            escaped = False
            value.append({"n": "\n", '"': '"', "\\": "\\"}.get(char, "\\" + char))
        elif char == "\\":
            if i < len(body) - 1:
                escaped = True
            else:
                value.append("\\")
        elif char == '"':
            if not quoted or i < len(body) - 1:
                raise MatcherError(f"matcher value contains unescaped double quote: {raw}")
            quoted = False
        else:
            value.append(char)
    if quoted:
        raise MatcherError(f"matcher value contains unescaped double quote: {raw}")
    return Matcher(name, op, "".join(value))  # type: ignore[arg-type]


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    """Whether every matcher holds for ``labels`` (an empty list matches everything)."""
    return all(m.matches(labels) for m in matchers)


def sort_key(matcher: Matcher) -> tuple[str, str, int]:
    """Alertmanager's order of matchers (``Matchers.Less``): name, value, then type."""
    return matcher.name, matcher.value, OPS.index(matcher.op)
