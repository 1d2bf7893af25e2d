"""What is wrong with a configuration: every error and warning, each with its path.

A path names the place in the YAML as a person reads it: ``route.routes[2].matchers[0]``.
Validation never stops at the first error; :class:`ConfigError` carries all of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from app.settings import SettingsError


class ConfigError(SettingsError):
    """The configuration does not validate; ``errors`` lists every problem with its path."""

    def __init__(self, errors: Sequence[str], warnings: Sequence[str] = ()) -> None:
        self.errors = tuple(errors)
        self.warnings = tuple(warnings)
        count = f"{len(self.errors)} error{'' if len(self.errors) == 1 else 's'}"
        super().__init__(f"{count}:\n" + "\n".join(f"  {e}" for e in self.errors))


@dataclass
class Problems:
    """Errors and warnings collected while a configuration is read.

    >>> p = Problems()
    >>> p.error("route.receiver", "no receiver named 'x'")
    >>> p.errors
    ["route.receiver: no receiver named 'x'"]
    """

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)  # paths left out after an error there

    def error(self, path: str, message: str) -> None:
        """Note an error at ``path``, unless it follows from one already noted there."""
        if any(path.startswith(p) for p in self.pruned if p):
            return
        text = f"{path}: {message}" if path else message
        if text not in self.errors:
            self.errors.append(text)

    def warn(self, path: str, message: str) -> None:
        """Note what is accepted but not honoured (or honoured differently) at ``path``."""
        text = f"{path}: {message}" if path else message
        if text not in self.warnings:
            self.warnings.append(text)

    def validation(self, exc: ValidationError, prefix: str = "") -> None:
        """Every error of a pydantic validation, with its path (after ``prefix``, a file's)."""
        for detail in exc.errors():
            path = prefix + location(detail["loc"])
            if any(path.startswith(p) for p in self.pruned if p):
                continue
            if detail["type"] == "union_tag_invalid":  # a receiver's unknown type
                tags = str((detail.get("ctx") or {}).get("expected_tags", ""))
                self.error(join(path, "type"), f"expected one of {tags.replace('type=', '')}")
            else:
                self.error(path, message(detail))

    def raise_if_any(self) -> None:
        """Raise :class:`ConfigError` when an error was noted."""
        if self.errors:
            raise ConfigError(self.errors, self.warnings)


def location(loc: Iterable[int | str]) -> str:
    """A pydantic location as a YAML path; union tags (``kind=…``) are left out.

    >>> location(("route", "routes", 2, "matchers", 0))
    'route.routes[2].matchers[0]'
    >>> location(("receivers", 0, "kind=alertflow", "type=slack", "url"))
    'receivers[0].url'
    >>> location(("route", "match", "9x", "[key]"))
    'route.match.9x'
    """
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif "=" in part or part == "[key]":
            continue
        else:
            path = join(path, part)
    return path


def message(detail: ErrorDetails) -> str:
    """The message of one pydantic error, without pydantic's prefixes.

    >>> message({"type": "value_error", "msg": "Value error, bad matcher format: a",
    ...          "loc": (), "input": "a"})
    'bad matcher format: a'
    >>> message({"type": "extra_forbidden", "msg": "Extra inputs are not permitted",
    ...          "loc": ("x",), "input": 1})
    'unknown key'
    """
    if detail["type"] == "extra_forbidden":
        return "unknown key"
    if detail["type"] == "missing":
        return "required"
    return detail["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")


def join(prefix: str, path: str) -> str:
    """``prefix.path``, without a dot before an index or around an empty part."""
    if not prefix or not path:
        return prefix or path
    return prefix + path if path.startswith("[") else f"{prefix}.{path}"
