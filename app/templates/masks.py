"""Masking: a message becomes tokens, its variable parts replaced by the wildcard ``<*>``.

Each rule has a name so that a configuration can switch it off and the leave-one-system-out
evaluation (:mod:`app.templates.evaluation`) can decide, rule by rule, whether it earns its
place. Rules of three kinds, applied in this order:

* span masks, on the whole message (variables that may contain spaces: dates, quantities);
* token masks, inside each whitespace-separated token (URLs, IPs, hex, paths …);
* token rules: ``digits`` (a token still holding a digit becomes ``<*>``), ``key_prefix``
  (… but keeps a ``key=`` prefix), ``punctuation`` (a token of wildcards and punctuation
  becomes ``<*>``) and ``collapse`` (a run of wildcards becomes one).
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["MASKS", "SYNTAX_MASKS", "WILDCARD", "Tokenizer", "tokenizer"]

WILDCARD = "<*>"
_MAX_CHARS = 4096  # of a message looked at: bounds work, cache and template size
_CACHE_SIZE = 1 << 14  # masked tokens remembered per tokenizer

_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*"
_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*"
SPAN_MASKS = {
    "syslog_date": (
        rf"\b(?:{_DAY},? )?{_MONTH} +\d{{1,2}}(?:,? \d{{4}})?[ T]\d\d:\d\d(?::\d\d)?"
        rf"(?:\.\d+)?(?: ?[A-Z]{{3,4}})?(?: \d{{4}})?\b"
    ),
    "iso_datetime": (
        r"\b\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d)?(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?\b"
    ),
    "quantity": r"(?<![\w-])\d+(?:\.\d+)? (?:[KMGTP]i?B|bytes|ms|secs?|seconds)\b",
}
TOKEN_MASKS = {
    "url": r"[A-Za-z][\w+.-]*://[^\s\"'<>()\[\]{}]+",
    "email": r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+",
    "uuid": r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
    "iso_date": r"\d{4}-\d\d-\d\d(?:T[\d:.,]+(?:Z|[+-]\d\d:?\d\d)?)?",
    "ipv6_mac": (
        r"(?<![\w:])(?=[0-9a-fA-F:]*[0-9a-fA-F]:)(?=(?:[0-9a-fA-F]*:){2})"
        r"[0-9a-fA-F]{0,4}(?::[0-9a-fA-F]{0,4}){2,}(?![\w:])"
    ),
    "ipv4": r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b",
    "host_port": r"\b[A-Za-z][\w-]*(?:\.[\w-]+)+:\d+\b",
    "hex": r"(?<![\w-])(?:0[xX][0-9a-fA-F]+|[0-9a-f]{8,}|[0-9A-F]{8,})(?![\w-])",
    "path": r"(?<![\w.:/~-])/[\w.~+%@:$-]+(?:/[\w.~+%@:$*-]*)*",
    "windows_path": r"\b[A-Za-z]:\\[^\s\"'<>]+",
    "quoted": r"(?<![\w'\"])'[^'\s]+'(?![\w'])|(?<![\w'\"])\"[^\"\s]+\"(?![\w\"])",
    "literal": r"\b(?i:true|false|null)\b|\bNone\b",
    "number": (
        r"(?<![\w-])[-+]?\d+(?:\.\d+)*(?:[KMGTP]i?B|B|bytes|ms|us|µs|ns|[smhd]|min|sec)?(?!\w)"
    ),
}
TOKEN_RULES = ("digits", "key_prefix", "punctuation", "collapse")
MASKS = (*SPAN_MASKS, *TOKEN_MASKS, *TOKEN_RULES)  # every rule, in the order applied
# Formats some standard defines (RFC 3164/3339, 3986, 5322, 4122, 791/4291, IEEE 802): a
# token in one of them is a value in any log; every other rule is a heuristic.
SYNTAX_MASKS = frozenset(
    {"syslog_date", "iso_datetime", "url", "email", "uuid", "iso_date", "ipv6_mac", "ipv4"}
)

_DIGIT = re.compile(r"\d")
_ALNUM = re.compile(r"[A-Za-z0-9]")
_KEY = re.compile(r"[A-Za-z_.-]+[=:]")


def _alternation(patterns: dict[str, str], names: frozenset[str]) -> re.Pattern[str] | None:
    chosen = [pattern for name, pattern in patterns.items() if name in names]
    return re.compile("|".join(chosen)) if chosen else None


class Tokenizer:
    """Masks messages with the rules named in ``masks`` (a subset of :data:`MASKS`).

    >>> tokenize = Tokenizer(frozenset(MASKS))
    >>> tokenize("Accepted password for bob from 10.0.0.7 port 51234 ssh2")
    ['Accepted', 'password', 'for', 'bob', 'from', '<*>', 'port', '<*>']
    >>> tokenize("GET /api/v1/users took 1.5 ms, uid=42 retry=true")
    ['GET', '<*>', 'took', '<*>', 'uid=<*>', 'retry=<*>']
    >>> Tokenizer(frozenset({"ipv4"}))("from 10.0.0.7 port 51234")
    ['from', '<*>', 'port', '51234']
    """

    def __init__(self, masks: frozenset[str]) -> None:
        unknown = masks - set(MASKS)
        if unknown:
            raise ValueError(f"unknown masks: {', '.join(sorted(unknown))}")
        self.masks = masks
        self._spans = _alternation(SPAN_MASKS, masks)
        self._variables = _alternation(TOKEN_MASKS, masks)
        self._digits = "digits" in masks
        self._key_prefix = "key_prefix" in masks
        self._punctuation = "punctuation" in masks
        self._collapse = "collapse" in masks
        self._cache: dict[str, str] = {}

    def __call__(self, message: str, max_tokens: int = 100) -> list[str]:
        """Mask the variables of ``message`` and return its first ``max_tokens`` tokens."""
        message = message[:_MAX_CHARS]
        if self._spans:
            message = self._spans.sub(WILDCARD, message)
        cache = self._cache
        tokens: list[str] = []
        for token in message.split():
            masked = cache.get(token)
            if masked is None:
                if len(cache) >= _CACHE_SIZE:
                    cache.clear()
                masked = cache[token] = self._mask(token)
            if not (self._collapse and tokens and masked == tokens[-1] and WILDCARD in masked):
                tokens.append(masked)
                if len(tokens) == max_tokens:
                    break
        return tokens

    def _mask(self, token: str) -> str:
        if self._variables:
            token = self._variables.sub(WILDCARD, token)
        if self._digits and _DIGIT.search(token):
            key = _KEY.match(token) if self._key_prefix else None
            return key.group() + WILDCARD if key else WILDCARD
        if (
            self._punctuation
            and WILDCARD in token
            and not _ALNUM.search(token.replace(WILDCARD, ""))
        ):
            return WILDCARD
        return token


@lru_cache(maxsize=64)
def tokenizer(masks: frozenset[str]) -> Tokenizer:
    """The shared :class:`Tokenizer` of a rule set (its cache stays warm across miners)."""
    return Tokenizer(masks)
