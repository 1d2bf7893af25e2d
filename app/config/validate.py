"""A parsed file checked against its model: every invalid part is reported, then pruned so the
rest is still built and checked in the next round."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from app.config.problems import Problems, location
from app.config.spec import FileSpec


def validated(document: dict[str, Any], prefix: str, problems: Problems) -> FileSpec | None:
    """The file's model; invalid parts are reported, then left out so that the rest is still
    built and checked (a reference to a receiver whose settings are wrong is no new error)."""
    for _ in range(_PRUNE_ROUNDS):
        try:
            return FileSpec.model_validate(document)
        except ValidationError as exc:
            problems.validation(exc, prefix)
            problems.pruned += [prefix + location(d["loc"]) for d in exc.errors()]
            for detail in sorted(exc.errors(), key=lambda d: d["loc"], reverse=True):
                _prune(document, [p for p in detail["loc"] if not _is_tag(p)])
    return None


_PRUNE_ROUNDS = 8


def _is_tag(part: int | str) -> bool:
    return isinstance(part, str) and ("=" in part or part == "[key]")


def _prune(node: Any, loc: list[int | str]) -> None:
    """Remove what ``loc`` points at; when it points at nothing (a missing key), its parent."""
    *parents, last = loc or [""]
    containers = [node]
    for part in parents:
        child = _child(containers[-1], part)
        if child is None:
            return
        containers.append(child)
    holder = containers[-1]
    if _child(holder, last) is not None or (isinstance(holder, dict) and last in holder):
        _remove(holder, last)
    elif len(containers) > 1:
        _remove(containers[-2], parents[-1])


def _child(node: Any, part: int | str) -> Any:
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return None


def _remove(node: Any, part: int | str) -> None:
    """Drop a key; a list item is replaced (by its name alone, or "") so indices stay put."""
    if isinstance(node, dict):
        node.pop(part, None)
    elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        item = node[part]
        named = isinstance(item, dict) and isinstance(item.get("name"), str)
        node[part] = {"name": item["name"]} if named else {} if isinstance(item, dict) else ""
