"""The label matcher parser the rules use, behind this one module: Alertmanager's grammar.

Rules take matchers exactly as routes and silences do (``name=value``, ``name!=value``,
``name=~re``, ``name!~re``, RE2 regular expressions anchored); one string may hold several
(``{host=~"web-.*", env="prod"}``).
"""

from __future__ import annotations

from app.matchers import Matcher, MatcherError, parse_matchers

__all__ = ["Matcher", "MatcherError", "parse"]


def parse(text: object, path: str) -> list[Matcher]:
    """The matchers of one string; :class:`MatcherError` names ``path`` when it is invalid.

    >>> [m.matches({"host": "web-1"}) for m in parse('host=~"web-.*"', "m")]
    [True]
    >>> parse(3, "matchers[0]")
    Traceback (most recent call last):
    ...
    app.matchers.MatcherError: matchers[0]: expected a matcher string such as host=~"web-.*"
    """
    if not isinstance(text, str):
        raise MatcherError(f'{path}: expected a matcher string such as host=~"web-.*"')
    try:
        return parse_matchers(text)
    except MatcherError as exc:
        raise MatcherError(f"{path}: {exc}") from None
