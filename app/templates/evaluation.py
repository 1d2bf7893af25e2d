"""Leave-one-system-out evaluation of the template miner on labelled logs (LogPai loghub-2k).

A configuration is the miner's keyword arguments: thresholds (:data:`PARAMETERS`), matching
switches (:data:`SWITCHES`) and masking rules (:data:`~app.templates.masks.MASKS`).
:func:`select` chooses one using some systems only. :func:`leave_one_out` selects on all
systems but one and scores the one left out, for each system in turn, so no choice ever sees
the system it is scored on; the mean of those scores is the figure to improve
(``scripts/eval-templates --loo``, docs/templates.md).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Any, NamedTuple

from app.templates.accuracy import grouping_accuracy
from app.templates.masks import MASKS, SYNTAX_MASKS, tokenizer
from app.templates.miner import TemplateMiner

__all__ = [
    "SEARCH",
    "TOLERANCE",
    "Fold",
    "Scores",
    "Search",
    "System",
    "describe",
    "leave_one_out",
    "load_loghub",
]

TOLERANCE = 1e-4  # mean accuracy a choice must earn: ~1.6 of 16,000 messages
_MAX_ROUNDS = 5  # of choosing thresholds, then rules
_TOKENIZED = 32  # (system, masks) tokenizations kept by Scores
_SWITCHES = ("absorb",)  # heuristic rules of the matching, on or off
Config = dict[str, Any]


class System(NamedTuple):
    """One labelled log: its messages in order and the true template id of each."""

    name: str
    messages: list[str]
    labels: list[str]


def load_loghub(directory: Path) -> list[System]:
    """Every ``*.csv`` of ``directory`` in LogPai's format (``Content``, ``EventId``), by name."""
    systems = []
    for path in sorted(directory.glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        systems.append(
            System(path.stem, [row["Content"] for row in rows], [row["EventId"] for row in rows])
        )
    return systems


def _key(config: Config) -> tuple[Any, ...]:
    return tuple(
        frozenset(value) if name == "masks" else value for name, value in sorted(config.items())
    )


@dataclass
class Scores:
    """Grouping accuracy of a configuration on a system, each computed once (and the last
    :data:`_TOKENIZED` tokenizations, shared by configurations with the same masks).

    >>> scores = Scores()
    >>> system = System("toy", ["disk 1 full", "disk 2 full", "link up"], ["a", "a", "b"])
    >>> scores(system, {"masks": ["digits"], "min_agree": 3}), scores(system, {"masks": []})
    (1.0, 0.3333333333333333)
    """

    done: dict[tuple[str, tuple[Any, ...]], float] = field(default_factory=dict)
    tokens: dict[tuple[str, frozenset[str]], list[list[str]]] = field(default_factory=dict)

    def __call__(self, system: System, config: Config) -> float:
        key = (system.name, _key(config))
        if key not in self.done:
            miner = TemplateMiner(**config)
            masks = (system.name, frozenset(miner.masks))
            if masks not in self.tokens:
                if len(self.tokens) >= _TOKENIZED:
                    del self.tokens[next(iter(self.tokens))]
                tokenize = tokenizer(masks[1])
                self.tokens[masks] = [tokenize(m, miner.max_tokens) for m in system.messages]
            predicted = [miner.match_tokens(tokens).id for tokens in self.tokens[masks]]
            self.done[key] = grouping_accuracy(system.labels, predicted)
        return self.done[key]

    def mean(self, systems: Sequence[System], config: Config) -> float:
        return sum(self(system, config) for system in systems) / len(systems)


def _robust_gain(scores: Scores, systems: Sequence[System], new: Config, old: Config) -> float:
    """The mean accuracy ``new`` gains over ``old`` on ``systems`` without the system where
    that mean is lowest: a change that helps one system only gains nothing.

    >>> a, b = System("a", ["x 1", "x 2"], ["X", "X"]), System("b", ["y 1", "y 2"], ["Y", "Y"])
    >>> with_digits, without = {"masks": ["digits"]}, {"masks": []}
    >>> _robust_gain(Scores(), [a, b], with_digits, without)
    1.0
    >>> _robust_gain(Scores(), [a, System("c", ["z", "z"], ["Z", "Z"])], with_digits, without)
    0.0
    """
    gains = [scores(system, new) - scores(system, old) for system in systems]
    total = sum(gains)
    if len(gains) < 2:
        return total
    return min((total - gain) / (len(gains) - 1) for gain in gains)


@dataclass(frozen=True)
class Search:
    """How a configuration is chosen on some systems (:meth:`select`).

    ``grid``: the thresholds tried, every combination; ``priors``: masks kept unless dropping
    them gains (robustly), where every other rule must earn its place.
    """

    grid: dict[str, tuple[Any, ...]] = field(
        default_factory=lambda: {
            "similarity": (0.5, 0.6, 0.7, 0.8, 0.9),
            "min_agree": (1, 2, 3, 4, 5),
            "prefix": (0, 1, 2, 3),
        }
    )
    priors: frozenset[str] = SYNTAX_MASKS
    rules: bool = True  # whether rules are chosen, or kept as in the starts
    starts: tuple[Config, ...] = ()  # none: from every rule and from the priors alone

    def _starts(self) -> list[Config]:
        """From every rule (to drop some) and from the priors alone (to add some), at the
        loosest thresholds of the grid."""
        if self.starts:
            return list(self.starts)
        loosest = {name: values[0] for name, values in self.grid.items()}
        every = {**loosest, "absorb": True, "masks": list(MASKS)}
        return [every, {**loosest, "absorb": False, "masks": sorted(self.priors)}]

    def select(
        self,
        systems: Sequence[System],
        scores: Scores,
        log: Callable[[str], None] | None = None,
    ) -> Config:
        """The configuration chosen on ``systems``: of the searches from each start, the result
        with the highest mean accuracy.

        A search alternates: thresholds go to the grid point with the highest mean accuracy;
        a heuristic rule (a mask but the priors, or the ``absorb`` switch) stays or is added
        only if it helps with any one system left out (:func:`_robust_gain`) — so a rule that
        helps one system and no other is never chosen — until nothing changes.
        """
        say = log or (lambda _: None)
        found = []
        for start in self._starts():
            say(f" search from {describe(start)}")
            config = {**start, "masks": [m for m in MASKS if m in set(start["masks"])]}
            for _ in range(_MAX_ROUNDS):
                before = config
                config = self._thresholds(systems, config, scores, say)
                if self.rules:
                    config = self._rules(systems, config, scores, say)
                if config == before:
                    break
            found.append(config)
        return max(found, key=lambda config: scores.mean(systems, config))

    def _thresholds(
        self, systems: Sequence[System], config: Config, scores: Scores, log: Callable[[str], None]
    ) -> Config:
        """The grid point with the highest mean accuracy, unless it beats ``config`` by at most
        :data:`TOLERANCE`."""
        best, best_mean = config, scores.mean(systems, config) + TOLERANCE
        for values in product(*self.grid.values()):
            other = {**config, **dict(zip(self.grid, values, strict=True))}
            if (mean := scores.mean(systems, other)) > best_mean:
                best, best_mean = other, mean
        if best is not config:
            log(f"  {best_mean:.4f} thresholds {describe(best)}")
        return best

    def _rules(
        self, systems: Sequence[System], config: Config, scores: Scores, log: Callable[[str], None]
    ) -> Config:
        """Drop the least useful heuristic rule while keeping it gains at most
        :data:`TOLERANCE` robustly; else toggle the rule that robustly gains most."""
        while True:
            options = []
            for other, drop in self._toggled(config):
                if drop and (keep := _robust_gain(scores, systems, config, other)) <= TOLERANCE:
                    options.append((1 - keep, other))
            if not options:
                for other, _ in self._toggled(config):
                    if (gain := _robust_gain(scores, systems, other, config)) > TOLERANCE:
                        options.append((gain, other))
            if not options:
                return config
            _, config = max(options, key=lambda option: option[0])
            log(f"  {scores.mean(systems, config):.4f} rules {describe(config)}")

    def _toggled(self, config: Config) -> Iterator[tuple[Config, bool]]:
        """Configurations with one rule more or less, each with whether it drops a heuristic."""
        masks = set(config["masks"])
        for rule in MASKS:
            toggled = {**config, "masks": [m for m in MASKS if m in masks ^ {rule}]}
            yield toggled, rule in masks and rule not in self.priors
        for name in _SWITCHES:
            yield {**config, name: not config[name]}, config[name]


SEARCH = Search()


def describe(config: Config) -> str:
    """A configuration in one line: thresholds, switches, the masks it leaves out.

    >>> describe({"similarity": 0.9, "absorb": False, "masks": MASKS[:-1]})
    'similarity=0.9 absorb=False -collapse'
    """
    names = ("similarity", "min_agree", "prefix", *_SWITCHES)
    parts = [f"{name}={config[name]}" for name in names if name in config]
    return " ".join(parts + [f"-{m}" for m in MASKS if m not in config["masks"]])


class Fold(NamedTuple):
    """One held-out system: the configuration chosen without it and its accuracy on it."""

    held_out: str
    config: Config
    accuracy: float


def leave_one_out(
    systems: Sequence[System],
    scores: Scores | None = None,
    search: Search = SEARCH,
    log: Callable[[str], None] | None = None,
) -> list[Fold]:
    """For each system: ``search.select`` on the others, then score on it."""
    scores = scores if scores is not None else Scores()
    folds = []
    for held_out in systems:
        others = [system for system in systems if system is not held_out]
        if log:
            log(f"selecting without {held_out.name}")
        config = search.select(others, scores, log)
        folds.append(Fold(held_out.name, config, scores(held_out, config)))
    return folds
