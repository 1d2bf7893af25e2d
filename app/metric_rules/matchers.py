"""The label matcher parser the rules use: the project's own, behind this one import.

Rules take matchers exactly as routes and silences do (``name=value``, ``name!=value``,
``name=~re``, ``name!~re``). When the matcher parser moves (``app.matchers``, Alertmanager's
exact grammar), this module is the one place to re-point.
"""

from __future__ import annotations

from app.routes import Matcher
from app.routes import RouteError as MatcherError
from app.routes import parse_matcher as _parse

__all__ = ["Matcher", "MatcherError", "parse"]


def parse(text: object, path: str) -> Matcher:
    """One matcher from its text; :class:`MatcherError` names ``path`` when it is invalid.

    >>> parse('host=~"web-.*"', "m").matches({"host": "web-1"})
    True
    """
    return _parse(text, path)
