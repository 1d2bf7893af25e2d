"""Asking the real ``amtool`` (Alertmanager 0.25, Debian's package) what it makes of things.

Used by ``scripts/amtool-matchers`` to record its verdicts and by the tests that check our
parser and router against it. Every function needs the ``amtool`` binary (:func:`binary`).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

_CHECKED = re.compile(r"Checking '(?P<file>[^']*)'\s+(?P<verdict>SUCCESS|FAILED: (?P<error>.*))")
# a child route (indented): its matchers, or "default-route" when it has none
_ROUTE_LINE = re.compile(
    r"[│ ]+[└├]── (?P<matchers>\{.*\}|default-route)  receiver: (?P<receiver>\S+)"
)


def binary() -> str | None:
    """The path of ``amtool``, or ``None`` when it is not installed."""
    return shutil.which("amtool")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary() or "amtool", *args], capture_output=True, text=True, timeout=60, check=False
    )


def matcher_verdicts(texts: Sequence[str]) -> list[dict[str, Any]]:
    """For each matcher string, amtool's verdict on a route ``matchers: [text]``.

    ``{"input", "accepted": true, "matchers": "{a=\\"b\\",…}"}`` (amtool's rendering of the
    parsed, sorted matchers) or ``{"input", "accepted": false, "error": "…"}``.
    """
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for i, text in enumerate(texts):
            path = Path(tmp, f"case{i}.yml")
            path.write_text(yaml.safe_dump(_route_config([text]), allow_unicode=True))
            files.append(str(path))
        checked = _run("check-config", *files).stdout
        errors: dict[str, str | None] = {}
        for found in _CHECKED.finditer(checked):
            errors[found["file"]] = found["error"]
        verdicts: list[dict[str, Any]] = []
        for text, file in zip(texts, files, strict=True):
            if file not in errors:
                raise RuntimeError(f"amtool check-config said nothing about {text!r}:\n{checked}")
            error = errors[file]
            verdicts.append(
                {"input": text, "accepted": False, "error": error.strip()}
                if error is not None
                else {"input": text, "accepted": True}
            )
        accepted = [v for v in verdicts if v["accepted"]]
        shown = Path(tmp, "accepted.yml")
        shown.write_text(
            yaml.safe_dump(_route_config([v["input"] for v in accepted]), allow_unicode=True)
        )
        lines = route_lines(shown)
        if len(lines) != len(accepted):
            raise RuntimeError(f"amtool showed {len(lines)} routes for {len(accepted)} matchers")
        for verdict, (matchers, _) in zip(accepted, lines, strict=True):
            verdict["matchers"] = matchers
    return verdicts


def route_lines(config: Path) -> list[tuple[str, str]]:
    """``(matchers, receiver)`` of each child route of ``amtool config routes show``, in order."""
    shown = _run("config", "routes", "show", f"--config.file={config}")
    if shown.returncode != 0:
        raise RuntimeError(f"amtool config routes show failed: {shown.stderr}")
    return [
        ("{}" if found["matchers"] == "default-route" else found["matchers"], found["receiver"])
        for line in shown.stdout.splitlines()
        if (found := _ROUTE_LINE.fullmatch(line))
    ]


def check_config(config: Path) -> str | None:
    """``None`` when ``amtool check-config`` accepts the file, else its error."""
    checked = _run("check-config", str(config))
    found = _CHECKED.search(checked.stdout)
    if found is None:
        raise RuntimeError(f"amtool check-config: {checked.stdout}{checked.stderr}")
    return found["error"]


def routes_test(config: Path, labels: Mapping[str, str]) -> list[str]:
    """The receivers ``amtool config routes test`` resolves ``labels`` to, in tree order."""
    args = [f'{name}="{_escape(value)}"' for name, value in labels.items()]
    tested = _run("config", "routes", "test", f"--config.file={config}", *args)
    if tested.returncode != 0:
        raise RuntimeError(f"amtool config routes test {args}: {tested.stderr}")
    return tested.stdout.strip().split(",")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _route_config(matcher_lists: Sequence[str]) -> dict[str, Any]:
    return {
        "route": {
            "receiver": "r",
            "routes": [{"receiver": "r", "matchers": [text]} for text in matcher_lists],
        },
        "receivers": [{"name": "r"}],
    }
