"""Online template miner for log lines and alert texts (Drain-style, stdlib only).

Tokens: a message is masked (dates, URLs, e-mails, UUIDs, IPs, host:port, hex, paths, quoted
words, booleans, numbers with units) and split on whitespace; a token still holding a digit
becomes the wildcard ``<*>`` (keeping a ``key=`` prefix) and runs of wildcards collapse into one.

Matching: templates are bucketed by token count. A message joins the most similar template of its
bucket if its first ``prefix`` plain words are equal and, counting only the template's constant
tokens, all match, all but one match with at least ``min_agree`` matching, or a ``similarity``
share matches; the template's differing positions then become wildcards. Failing that, it may
join a template one token longer or shorter when the extra token is a word next to a wildcard (a
variable split up by the collapsing), and that template gains a variant of the new length.
Otherwise the message starts a template whose id hashes its first text: ids never change as
templates generalise, and the same first shape gets the same id in every miner.

State: ties go to the older template and nothing depends on hash seeds, time or randomness, so a
miner rebuilt by :meth:`TemplateMiner.from_state` continues exactly as the original would; beyond
``max_clusters`` templates the least recently used one is evicted.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

__all__ = ["STATE_VERSION", "WILDCARD", "Template", "TemplateMiner", "tokenize"]

WILDCARD = "<*>"
STATE_VERSION = 1
_MEMO_SIZE = 10_000  # token tuples remembered between template changes
_MAX_CHARS = 8192  # of a message looked at: bounds work and cache size for huge messages

_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*"
_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*"
# Variables that may contain spaces, masked on the whole message first.
_SPAN_PATTERNS = (
    (
        rf"\b(?:{_DAY},? )?{_MONTH} +\d{{1,2}}(?:,? \d{{4}})?[ T]\d\d:\d\d(?::\d\d)?"
        rf"(?:\.\d+)?(?: ?[A-Z]{{3,4}})?(?: \d{{4}})?\b"
    ),  # ctime / syslog date
    r"\b\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d)?(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?\b",  # ISO
    r"(?<![\w-])\d+(?:\.\d+)? (?:[KMGTP]i?B|bytes|ms|secs?|seconds)\b",  # quantity
)
# Variables inside one whitespace-separated token.
_VARIABLE_PATTERNS = (
    r"[A-Za-z][\w+.-]*://[^\s\"'<>()\[\]{}]+",  # URL
    r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+",  # e-mail
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",  # UUID
    r"\d{4}-\d\d-\d\d(?:T[\d:.,]+(?:Z|[+-]\d\d:?\d\d)?)?",  # ISO date
    (
        r"(?<![\w:])(?=[0-9a-fA-F:]*[0-9a-fA-F]:)(?=(?:[0-9a-fA-F]*:){2})"
        r"[0-9a-fA-F]{0,4}(?::[0-9a-fA-F]{0,4}){2,}(?![\w:])"
    ),  # IPv6, MAC
    r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b",  # IPv4[:port]
    r"\b[A-Za-z][\w-]*(?:\.[\w-]+)+:\d+\b",  # host:port
    r"(?<![\w-])(?:0[xX][0-9a-fA-F]+|[0-9a-f]{8,}|[0-9A-F]{8,})(?![\w-])",  # hex
    r"(?<![\w.:/~-])/[\w.~+%@:$-]+(?:/[\w.~+%@:$*-]*)*",  # absolute path
    r"\b[A-Za-z]:\\[^\s\"'<>]+",  # Windows path
    r"(?<![\w'\"])'[^'\s]+'(?![\w'])|(?<![\w'\"])\"[^\"\s]+\"(?![\w\"])",  # quoted word
    r"\b(?i:true|false|null)\b|\bNone\b",
    r"(?<![\w-])[-+]?\d+(?:\.\d+)*(?:[KMGTP]i?B|B|bytes|ms|us|µs|ns|[smhd]|min|sec)?(?!\w)",
)
_SPANS = re.compile("|".join(_SPAN_PATTERNS))
_VARIABLES = re.compile("|".join(_VARIABLE_PATTERNS))
_WORD = re.compile(r"[(\[]?[A-Za-z][A-Za-z'_-]*[)\]]?[:,;.!?]*")
_DIGIT = re.compile(r"\d")
_ALNUM = re.compile(r"[A-Za-z0-9]")
_KEY = re.compile(r"[A-Za-z_.-]+[=:]")


@lru_cache(maxsize=1 << 14)
def _mask_token(token: str) -> str:
    """Mask one token; one still holding a digit becomes ``<*>``, keeping a ``key=`` prefix."""
    token = _VARIABLES.sub(WILDCARD, token)
    if _DIGIT.search(token):
        key = _KEY.match(token)
        return key.group() + WILDCARD if key else WILDCARD
    if WILDCARD in token and not _ALNUM.search(token.replace(WILDCARD, "")):
        return WILDCARD
    return token


@lru_cache(maxsize=1 << 14)
def _is_word(token: str) -> bool:
    """Whether ``token`` is a plain word, maybe bracketed or followed by punctuation."""
    return _WORD.fullmatch(token) is not None


def tokenize(message: str, max_tokens: int = 100) -> list[str]:
    """Mask the variables of ``message`` and return its first ``max_tokens`` tokens.

    >>> tokenize("Accepted password for bob from 10.0.0.7 port 51234 ssh2")
    ['Accepted', 'password', 'for', 'bob', 'from', '<*>', 'port', '<*>']
    >>> tokenize("GET /api/v1/users took 1.5 ms, uid=42 retry=true")
    ['GET', '<*>', 'took', '<*>', 'uid=<*>', 'retry=<*>']
    """
    tokens: list[str] = []
    for token in _SPANS.sub(WILDCARD, message[:_MAX_CHARS]).split():
        token = _mask_token(token)
        if not (tokens and token == tokens[-1] and WILDCARD in token):
            tokens.append(token)
            if len(tokens) == max_tokens:
                break
    return tokens


def _generalise(template: list[str], tokens: list[str]) -> list[str]:
    return [t if t == m else WILDCARD for t, m in zip(template, tokens, strict=False)]


@dataclass(frozen=True, slots=True)
class Template:
    """A template: stable ``id`` (12 hex digits) and current ``text``, ``<*>`` marking variables."""

    id: str
    text: str


class _Cluster:
    """One template; ``variants`` maps a token count to ``(seq, tokens)`` of that length."""

    __slots__ = ("count", "id", "variants")

    def __init__(self, cluster_id: str, count: int = 0) -> None:
        self.id = cluster_id
        self.count = count
        self.variants: dict[int, tuple[int, list[str]]] = {}


class TemplateMiner:
    """Assigns messages to templates online; the same input sequence gives the same output.

    >>> miner = TemplateMiner()
    >>> miner.match("Connection to db-1 timed out after 250ms").text
    'Connection to <*> timed out after <*>'
    >>> a = miner.match("Invalid user alice from 10.1.2.3")
    >>> b = miner.match("Invalid user bob from 10.9.8.7")
    >>> a.id == b.id, b.text
    (True, 'Invalid user <*> from <*>')
    >>> TemplateMiner.from_state(miner.to_state()).match("Invalid user eve from ::1") == b
    True
    """

    def __init__(
        self,
        similarity: float = 0.8,
        min_agree: int = 3,
        prefix: int = 2,
        max_clusters: int = 1000,
        max_tokens: int = 100,
    ) -> None:
        """``similarity``: share of a template's constants a message must match when it differs
        in more than one; ``min_agree``: constants that must match when it differs in just one;
        ``prefix``: leading plain words that must be equal; ``max_clusters``: templates kept
        (least recently used evicted); ``max_tokens``: tokens of a message considered."""
        self.similarity = similarity
        self.min_agree = min_agree
        self.prefix = prefix
        self.max_clusters = max_clusters
        self.max_tokens = max_tokens
        self._clusters: dict[str, _Cluster] = {}  # least recently used first
        self._buckets: dict[int, list[_Cluster]] = {}  # by token count, in variant order
        self._seq = 0  # variants created so far: orders each bucket
        self._memo: dict[tuple[str, ...], _Cluster] = {}  # tokens -> cluster, until any change

    def __len__(self) -> int:
        return len(self._clusters)

    def match(self, message: str) -> Template:
        """Assign ``message`` to a template, learning from it, and return that template."""
        tokens = tokenize(message, self.max_tokens)
        key = tuple(tokens)
        cluster = self._memo.get(key)
        if cluster is None:
            cluster = self._assign(tokens)
            if len(self._memo) >= _MEMO_SIZE:
                self._memo.clear()
            self._memo[key] = cluster
        cluster.count += 1
        self._clusters[cluster.id] = self._clusters.pop(cluster.id)
        return Template(cluster.id, " ".join(cluster.variants[len(tokens)][1]))

    def to_state(self) -> dict[str, Any]:
        """Return the full state as JSON-serialisable data (see :meth:`from_state`)."""
        return {
            "version": STATE_VERSION,
            "config": {
                "similarity": self.similarity,
                "min_agree": self.min_agree,
                "prefix": self.prefix,
                "max_clusters": self.max_clusters,
                "max_tokens": self.max_tokens,
            },
            "seq": self._seq,
            "clusters": [
                [c.id, c.count, [[seq, " ".join(tokens)] for seq, tokens in c.variants.values()]]
                for c in self._clusters.values()
            ],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TemplateMiner:
        """Rebuild a miner from :meth:`to_state` output; it continues exactly as the original."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported template miner state version {state.get('version')}")
        miner = cls(**state["config"])
        miner._seq = state["seq"]
        variants = []
        for cluster_id, count, cluster_variants in state["clusters"]:
            cluster = miner._clusters[cluster_id] = _Cluster(cluster_id, count)
            for seq, text in cluster_variants:
                tokens = text.split()
                cluster.variants[len(tokens)] = (seq, tokens)
                variants.append((seq, len(tokens), cluster))
        for _, size, cluster in sorted(variants, key=lambda v: v[0]):
            miner._buckets.setdefault(size, []).append(cluster)
        return miner

    def _assign(self, tokens: list[str]) -> _Cluster:
        """Find, generalise or create the cluster of ``tokens``; any change clears the memo."""
        size = len(tokens)
        first = tokens[0] if tokens and self.prefix and _is_word(tokens[0]) else None
        best, best_score = None, (-1.0, 0)
        for cluster in self._buckets.get(size, ()):
            template = cluster.variants[size][1]
            if first and template[0] != first and _is_word(template[0]):
                continue  # fast path of the prefix rule in _score
            score = self._score(template, tokens)
            if score > best_score:
                best, best_score = cluster, score
        if best is None:
            best = self._absorb(tokens) or self._create(tokens)
            self._memo.clear()
        else:
            seq, template = best.variants[size]
            if best_score[0] < 1.0:
                best.variants[size] = (seq, _generalise(template, tokens))
                self._memo.clear()
        return best

    def _accepts(self, same: int, diff: int) -> bool:
        if diff <= 1:
            return same >= (self.min_agree if diff else 1)
        return same >= self.similarity * (same + diff)

    def _score(self, template: list[str], tokens: list[str], extra: int = 0) -> tuple[float, int]:
        """Return ``(share of matching constants, matching constants)``, or ``(-1, 0)``."""
        for t, m in zip(template[: self.prefix], tokens, strict=False):
            if t != m and _is_word(t) and _is_word(m):
                return (-1.0, 0)
        same, diff = 0, extra
        for t, m in zip(template, tokens, strict=False):
            if t != WILDCARD:
                if t == m:
                    same += 1
                else:
                    diff += 1
        if self._accepts(same, diff):
            return (same / (same + diff), same)
        if template == tokens and not extra:
            return (1.0, 0)
        return (-1.0, 0)

    def _absorb(self, tokens: list[str]) -> _Cluster | None:
        """Match a template one token longer or shorter than ``tokens``.

        Collapsing wildcard runs makes ``for db.example.org <*>`` and ``for <*>`` differ in
        length although ``db.example.org`` is just another value of the same variable, so a
        constant next to a ``<*>`` may be dropped from the longer side (counted as a mismatch).
        """
        size = len(tokens)
        present = set(tokens)
        least = min(self.similarity, self.min_agree / (self.min_agree + 1))
        best, best_score, best_variant = None, (-1.0, 0), tokens
        for length in (size - 1, size + 1):
            for cluster in self._buckets.get(length, ()):
                if size in cluster.variants:
                    continue
                template = cluster.variants[length][1]
                constants = [t for t in template if t != WILDCARD]
                if sum(t in present for t in constants) < least * len(constants):
                    continue  # an accepted match keeps at least that share of the constants
                longer = template if length > size else tokens
                for i, token in enumerate(longer):
                    if token == WILDCARD or WILDCARD not in longer[max(i - 1, 0) : i + 2]:
                        continue
                    cut = longer[:i] + longer[i + 1 :]
                    pair = (cut, tokens) if length > size else (template, cut)
                    score = self._score(*pair, extra=1)
                    if score > best_score:
                        best, best_score, best_variant = cluster, score, _generalise(*pair)
                        if length < size:
                            best_variant.insert(i, WILDCARD)
        if best is not None:
            self._add_variant(best, best_variant)
        return best

    def _create(self, tokens: list[str]) -> _Cluster:
        if len(self._clusters) >= self.max_clusters:
            old = self._clusters.pop(next(iter(self._clusters)))
            for size in old.variants:
                self._buckets[size].remove(old)
        digest = hashlib.blake2b(" ".join(tokens).encode(), digest_size=6).hexdigest()
        cluster = self._clusters[digest] = _Cluster(digest)
        self._add_variant(cluster, tokens)
        return cluster

    def _add_variant(self, cluster: _Cluster, tokens: list[str]) -> None:
        cluster.variants[len(tokens)] = (self._seq, tokens)
        self._seq += 1
        self._buckets.setdefault(len(tokens), []).append(cluster)
