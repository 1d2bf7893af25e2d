"""Online template miner for log lines and alert texts (Drain-style, stdlib only).

Tokens: :mod:`app.templates.masks` masks a message's variables and splits it on whitespace; by
default (:data:`DEFAULT_MASKS`) dates, URLs, e-mails, UUIDs and IP/MAC addresses are masked, then
any token still holding a digit, and a run of wildcards becomes one.

Matching: templates are bucketed by token count. A message joins the most similar template of its
bucket if its first ``prefix`` plain words are equal and, counting only the template's constant
tokens, all match, all but one match with at least ``min_agree`` matching, or a ``similarity``
share matches; the template's differing positions then become wildcards. Failing that (with
``absorb``), it may join a template one token longer or shorter when the extra token is a word
next to a wildcard (a variable split up by the collapsing of wildcard runs), and that template
gains a variant of the new length. Otherwise the message starts a template whose id hashes its
first text: ids never change as templates generalise, and the same first shape gets the same id
in every miner.

State is bounded whatever the input: at most ``max_clusters`` templates (default 1,000; the
least recently used is evicted), each with at most :data:`MAX_VARIANTS` lengths of at most
``max_tokens`` tokens from the first 4,096 characters of a message, so one exported record
(:meth:`TemplateMiner.clusters`) stays under :data:`MAX_RECORD_BYTES` as UTF-8 JSON; beside them
a memo of at most 10,000 token tuples and the tokenizer's cache of 16,384 tokens. Ties go to the
older template and nothing depends on hash seeds, time or randomness, so a miner rebuilt from
its export continues exactly as the original.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from app.templates.masks import MASKS, SYNTAX_MASKS, WILDCARD, Tokenizer, tokenizer

__all__ = [
    "DEFAULT_MASKS",
    "MAX_RECORD_BYTES",
    "MAX_VARIANTS",
    "STATE_VERSION",
    "WILDCARD",
    "ClusterRecord",
    "Template",
    "TemplateMiner",
    "tokenize",
]

STATE_VERSION = 1
MAX_VARIANTS = 4  # token counts one template may take (see _absorb)
# A variant's text: at most 4,096 characters of message, each token growing by at most 2 ("1" to
# "<*>"), so at most 8,192 characters, each at most 6 bytes in JSON ("\u0001"); plus the numbers.
MAX_RECORD_BYTES = MAX_VARIANTS * (8192 * 6 + 64) + 128  # about 192 KiB; Kafka allows 1 MB
# The configuration :mod:`app.templates.evaluation` selects on the nine loghub-2k systems
# (``scripts/eval-templates --loo``; docs/templates.md): the syntax masks, digits, collapse.
DEFAULT_MASKS = (*(m for m in MASKS if m in SYNTAX_MASKS), "digits", "collapse")
_MEMO_SIZE = 10_000  # token tuples remembered between template changes
_WORD = re.compile(r"[(\[]?[A-Za-z][A-Za-z'_-]*[)\]]?[:,;.!?]*")

ClusterRecord = dict[str, Any]  # {"count": int, "used": int, "variants": [[seq, text], ...]}


def tokenize(message: str, max_tokens: int = 100) -> list[str]:
    """Mask ``message`` with the default rules and return its first ``max_tokens`` tokens.

    >>> tokenize("Accepted password for bob from 10.0.0.7 port 51234 ssh2")
    ['Accepted', 'password', 'for', 'bob', 'from', '<*>', 'port', '<*>']
    """
    return tokenizer(frozenset(DEFAULT_MASKS))(message, max_tokens)


@lru_cache(maxsize=1 << 14)
def _is_word(token: str) -> bool:
    """Whether ``token`` is a plain word, maybe bracketed or followed by punctuation."""
    return _WORD.fullmatch(token) is not None


def _generalise(template: list[str], tokens: list[str]) -> list[str]:
    return [t if t == m else WILDCARD for t, m in zip(template, tokens, strict=False)]


@dataclass(frozen=True, slots=True)
class Template:
    """A template: stable ``id`` (12 hex digits) and current ``text``, ``<*>`` marking variables."""

    id: str
    text: str


class _Cluster:
    """One template; ``variants`` maps a token count to ``(seq, tokens)`` of that length."""

    __slots__ = ("count", "id", "used", "variants")

    def __init__(self, cluster_id: str, count: int = 0, used: int = 0) -> None:
        self.id = cluster_id
        self.count = count
        self.used = used
        self.variants: dict[int, tuple[int, list[str]]] = {}

    def record(self) -> ClusterRecord:
        variants = [[seq, " ".join(tokens)] for seq, tokens in self.variants.values()]
        return {"count": self.count, "used": self.used, "variants": variants}


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
        similarity: float = 0.9,
        min_agree: int = 3,
        prefix: int = 2,
        masks: Iterable[str] = DEFAULT_MASKS,
        absorb: bool = False,
        max_clusters: int = 1000,
        max_tokens: int = 100,
        track_changes: bool = False,
    ) -> None:
        """``similarity``: share of a template's constants a message must match when it differs
        in more than one; ``min_agree``: constants that must match when it differs in just one;
        ``prefix``: leading plain words that must be equal; ``masks``: the masking rules of
        :mod:`app.templates.masks` to apply; ``absorb``: let a template take a length one token
        longer or shorter; ``max_clusters``: templates kept (least recently used evicted);
        ``max_tokens``: tokens of a message considered; ``track_changes``: remember what
        :meth:`take_changes` returns (off, those sets would grow with every eviction)."""
        self.similarity = similarity
        self.min_agree = min_agree
        self.prefix = prefix
        self._tokenize: Tokenizer = tokenizer(frozenset(masks))
        self.masks = tuple(name for name in MASKS if name in self._tokenize.masks)
        self.absorb = absorb
        self.max_clusters = max_clusters
        self.max_tokens = max_tokens
        self._clusters: dict[str, _Cluster] = {}  # least recently used first
        self._buckets: dict[int, list[_Cluster]] = {}  # by token count, in variant order
        self._seq = 0  # variants created so far: orders each bucket
        self._tick = 0  # matches so far: orders the clusters by last use
        self._memo: dict[tuple[str, ...], _Cluster] = {}  # tokens -> cluster, until any change
        self._tracking = track_changes
        self._changed: set[str] = set()  # clusters created or generalised since take_changes
        self._evicted: set[str] = set()  # clusters evicted since take_changes

    def __len__(self) -> int:
        return len(self._clusters)

    def config(self) -> dict[str, Any]:
        """The constructor arguments, as JSON-serialisable data."""
        return {
            "similarity": self.similarity,
            "min_agree": self.min_agree,
            "prefix": self.prefix,
            "masks": list(self.masks),
            "absorb": self.absorb,
            "max_clusters": self.max_clusters,
            "max_tokens": self.max_tokens,
        }

    def match(self, message: str) -> Template:
        """Assign ``message`` to a template, learning from it, and return that template."""
        return self.match_tokens(self._tokenize(message, self.max_tokens))

    def match_tokens(self, tokens: list[str]) -> Template:
        """:meth:`match` for a message this miner's masks have tokenized already."""
        key = tuple(tokens)
        cluster = self._memo.get(key)
        if cluster is None:
            cluster = self._assign(tokens)
            if len(self._memo) >= _MEMO_SIZE:
                self._memo.clear()
            self._memo[key] = cluster
        cluster.count += 1
        cluster.used = self._tick = self._tick + 1
        self._clusters[cluster.id] = self._clusters.pop(cluster.id)
        return Template(cluster.id, " ".join(cluster.variants[len(tokens)][1]))

    def clusters(self) -> Iterator[tuple[str, ClusterRecord]]:
        """Every template as ``(cluster_id, record)``, least recently used first; each record
        is plain JSON data under :data:`MAX_RECORD_BYTES` (see :meth:`from_clusters`).

        >>> miner = TemplateMiner()
        >>> template = miner.match("disk sda1 full")
        >>> [(cluster_id == template.id, record) for cluster_id, record in miner.clusters()]
        [(True, {'count': 1, 'used': 1, 'variants': [[0, 'disk <*> full']]})]
        """
        for cluster in self._clusters.values():
            yield cluster.id, cluster.record()

    def take_changes(self) -> tuple[dict[str, ClusterRecord], set[str]]:
        """The records of templates created or generalised since the last call, and the ids of
        templates evicted since then (and not created again): what a store must upsert and
        delete. A record's ``count`` and ``used`` change on every match without counting as a
        change; a store written only on changes restores them as of its last write.

        >>> miner = TemplateMiner(max_clusters=1, track_changes=True)
        >>> _ = miner.match("disk full"), miner.take_changes()
        >>> changed, evicted = (miner.match("link down"), miner.take_changes())[1]
        >>> [record["variants"] for record in changed.values()], len(evicted)
        ([[[1, 'link down']]], 1)
        """
        changed = {
            cluster_id: self._clusters[cluster_id].record()
            for cluster_id in sorted(self._changed)
            if cluster_id in self._clusters
        }
        evicted = self._evicted - changed.keys()
        self._changed, self._evicted = set(), set()
        return changed, evicted

    @classmethod
    def from_clusters(
        cls, records: Iterable[tuple[str, ClusterRecord]], **config: Any
    ) -> TemplateMiner:
        """A miner of ``config`` holding the exported ``records``, in any order; given all of
        one miner's records it continues exactly as that miner would.

        >>> miner = TemplateMiner()
        >>> _ = miner.match("user alice logged in"), miner.match("user bob logged in")
        >>> copy = TemplateMiner.from_clusters(reversed(list(miner.clusters())))
        >>> copy.match("user carol logged in") == miner.match("user carol logged in")
        True
        """
        miner = cls(**config)
        ordered = sorted(records, key=lambda item: (item[1]["used"], item[0]))
        variants = []
        for cluster_id, record in ordered[-miner.max_clusters :]:
            cluster = _Cluster(cluster_id, record["count"], record["used"])
            miner._clusters[cluster_id] = cluster
            miner._tick = max(miner._tick, cluster.used)
            for seq, text in record["variants"]:
                tokens = text.split()
                cluster.variants[len(tokens)] = (seq, tokens)
                variants.append((seq, len(tokens), cluster))
                miner._seq = max(miner._seq, seq + 1)
        for _, size, cluster in sorted(variants, key=lambda variant: variant[0]):
            miner._buckets.setdefault(size, []).append(cluster)
        return miner

    def to_state(self) -> dict[str, Any]:
        """The whole miner as one JSON-serialisable value (see :meth:`from_state`); for large
        miners prefer the bounded per-template records of :meth:`clusters`."""
        return {
            "version": STATE_VERSION,
            "config": self.config(),
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
        records = [
            (cluster_id, {"count": count, "used": used, "variants": variants})
            for used, (cluster_id, count, variants) in enumerate(state["clusters"])
        ]
        miner = cls.from_clusters(records, **state["config"])
        miner._seq = state["seq"]
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
            best = (self.absorb and self._absorb(tokens)) or self._create(tokens)
        elif best_score[0] < 1.0:
            seq, template = best.variants[size]
            best.variants[size] = (seq, _generalise(template, tokens))
        else:
            return best
        if self._tracking:
            self._changed.add(best.id)
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
                if size in cluster.variants or len(cluster.variants) >= MAX_VARIANTS:
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
            if self._tracking:
                self._evicted.add(old.id)
                self._changed.discard(old.id)
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
