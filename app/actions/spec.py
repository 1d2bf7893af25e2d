"""An action receiver's configuration: what it runs, when, with whose approval, how often.

One item of the ``receivers:`` list with ``type: action``::

    - name: restart-web
      type: action
      command: [/usr/local/bin/restart-service, "{{ labels.service }}"]   # or http: {...}
      env: {REGION: "{{ labels.region }}"}     # the command's environment (besides PATH, LANG)
      on: [firing]                # notification changes that start a run (default: firing)
      mode: dry_run               # dry_run (default: record what would run) or run
      approval: required          # none (default) or required
      approvers: [ops-slack]      # receivers that get the signed approve/reject links
      approval_timeout: 1h        # an unanswered approval expires (and so do its links)
      step_timeout: 60            # seconds per step; a command is killed at the end of it
      idempotent: false           # true: a run cut short by a crash is run again (same run id)
      limit: {runs: 3, per: 1h}   # at most this many runs per route
      rollback:                   # run when the action fails, or when a person asks
        - command: [/usr/local/bin/restart-service, --undo, "{{ labels.service }}"]

An HTTP step is ``{url, method: POST, headers: {}, body: <JSON or text>}``: ``url`` is fixed,
headers and body are templates. A command is an argv list, never a shell line; its program
(``argv[0]``) is a fixed absolute path that must be on the allow-list
(``ALERTFLOW_ACTIONS_ALLOW``), and it must not be setuid or setgid.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlparse

from app.actions.render import RenderError, check, has_template
from app.settings import SettingsError

CHANGES = ("firing", "update", "repeat", "escalation", "acknowledged", "resolved")
METHODS = ("POST", "PUT", "PATCH", "GET", "DELETE")
SETTINGS = {"command", "http", "env", "on", "mode", "approval", "approvers", "approval_timeout"}
SETTINGS |= {"step_timeout", "idempotent", "limit", "rollback"}


class ActionConfigError(SettingsError):
    """An action receiver is misconfigured; the message starts with the path at fault, relative
    to the receiver when :func:`parse_action` is given no path of its own."""

    def __init__(self, message: str) -> None:
        super().__init__(message.removeprefix(".").removeprefix(": "))


@dataclass(frozen=True)
class CommandStep:
    """Run ``argv`` (its program fixed, its arguments templates) with ``env`` added."""

    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class HttpStep:
    """Call ``url`` (fixed) with templated ``headers`` and ``body``."""

    url: str
    method: str = "POST"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None


Step = CommandStep | HttpStep


@dataclass(frozen=True)
class ActionSpec:
    """What an action receiver does, validated."""

    action: Step
    rollback: tuple[Step, ...] = ()
    on: tuple[str, ...] = ("firing",)
    mode: Literal["dry_run", "run"] = "dry_run"
    approval: bool = False
    approvers: tuple[str, ...] = ()
    approval_timeout_ms: int = 3_600_000
    step_timeout_s: float = 60.0
    idempotent: bool = False
    limit: tuple[int, int] | None = None  # (runs, per milliseconds), per route

    @property
    def programs(self) -> list[str]:
        """The executables its command steps run."""
        steps = (self.action, *self.rollback)
        return [step.argv[0] for step in steps if isinstance(step, CommandStep)]


def parse_action(path: str, item: Mapping[str, Any]) -> ActionSpec:
    """Validate the settings of one ``type: action`` receiver (name, type already taken).

    >>> spec = parse_action("receivers[0]", {"command": ["/usr/bin/touch", "/tmp/{{ labels.x }}"],
    ...     "approval": "required", "approvers": ["ops"], "limit": {"runs": 2, "per": "1h"}})
    >>> spec.mode, spec.approval, spec.limit, spec.action.argv[0]
    ('dry_run', True, (2, 3600000), '/usr/bin/touch')
    >>> parse_action("r", {"command": ["touch", "x"]})
    Traceback (most recent call last):
    ...
    app.actions.spec.ActionConfigError: r.command[0]: expected an absolute path, got 'touch'
    >>> parse_action("r", {"command": "rm -rf /tmp/x"})
    Traceback (most recent call last):
    ...
    app.actions.spec.ActionConfigError: r.command: expected an argv list, never a shell line
    """
    unknown = sorted(set(item) - SETTINGS)
    if unknown:
        raise ActionConfigError(
            f"{path}.{unknown[0]}: unknown setting (known: {', '.join(sorted(SETTINGS))})"
        )
    action = _step(path, item)
    rollback = item.get("rollback") or []
    if not isinstance(rollback, list):
        raise ActionConfigError(
            f"{path}.rollback: expected a list of steps ({{command}} or {{http}})"
        )
    on = _names(item.get("on", ["firing"]), f"{path}.on", CHANGES)
    mode = item.get("mode", "dry_run")
    if mode not in ("dry_run", "run"):
        raise ActionConfigError(f"{path}.mode: expected dry_run or run, got {mode!r}")
    approval = item.get("approval", "none")
    if approval not in ("none", "required"):
        raise ActionConfigError(f"{path}.approval: expected none or required, got {approval!r}")
    approvers = _names(item.get("approvers", []), f"{path}.approvers", None)
    if approval == "required" and not approvers:
        raise ActionConfigError(f"{path}.approvers: approval: required needs receivers to ask")
    return ActionSpec(
        action=action,
        rollback=tuple(
            _step(f"{path}.rollback[{i}]", _rollback_step(s, f"{path}.rollback[{i}]"))
            for i, s in enumerate(rollback)
        ),
        on=on,
        mode=mode,
        approval=approval == "required",
        approvers=approvers,
        approval_timeout_ms=_duration(
            item.get("approval_timeout", "1h"), f"{path}.approval_timeout"
        ),
        step_timeout_s=_seconds(item.get("step_timeout", 60), f"{path}.step_timeout"),
        idempotent=_flag(item.get("idempotent", False), f"{path}.idempotent"),
        limit=_limit(item.get("limit"), f"{path}.limit"),
    )


def allowed(program: str, allow: Sequence[str]) -> str | None:
    """Why ``program`` may not run (``None``: it may): the allow-list, then the file itself.

    >>> allowed("/usr/bin/env", ["/usr/bin/env"]) is None
    True
    >>> allowed("/usr/bin/env", [])
    '/usr/bin/env is not on the allow-list (ALERTFLOW_ACTIONS_ALLOW)'
    """
    if program not in allow:
        return f"{program} is not on the allow-list (ALERTFLOW_ACTIONS_ALLOW)"
    try:
        info = os.stat(program)
    except OSError as exc:
        return f"{program}: {exc.strerror}"
    if not stat.S_ISREG(info.st_mode) or not os.access(program, os.X_OK):
        return f"{program} is not an executable file"
    if info.st_mode & (stat.S_ISUID | stat.S_ISGID):
        return f"{program} is setuid or setgid: it would run with more privilege than the worker"
    return None


def _rollback_step(value: Any, path: str) -> Mapping[str, Any]:
    step = _mapping(value, path)
    unknown = sorted(set(step) - {"command", "env", "http"})
    if unknown:
        raise ActionConfigError(f"{path}.{unknown[0]}: unknown setting of a step")
    return step


def _step(path: str, item: Mapping[str, Any]) -> Step:
    has_command, has_http = "command" in item, "http" in item
    if has_command == has_http:
        raise ActionConfigError(f"{path}: give either command (an argv list) or http")
    if has_http:
        if "env" in item:
            raise ActionConfigError(f"{path}.env: only for a command")
        return _http(f"{path}.http", _mapping(item["http"], f"{path}.http"))
    argv = item["command"]
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        raise ActionConfigError(f"{path}.command: expected an argv list, never a shell line")
    program = argv[0]
    if has_template(program) or not program.startswith("/"):
        raise ActionConfigError(f"{path}.command[0]: expected an absolute path, got {program!r}")
    for i, arg in enumerate(argv[1:], start=1):
        _template(arg, f"{path}.command[{i}]")
    env = _strings(item.get("env", {}), f"{path}.env")
    return CommandStep(tuple(argv), env)


def _http(path: str, spec: Mapping[str, Any]) -> HttpStep:
    unknown = sorted(set(spec) - {"url", "method", "headers", "body"})
    if unknown:
        raise ActionConfigError(
            f"{path}.{unknown[0]}: unknown setting (url, method, headers, body)"
        )
    url = spec.get("url")
    parsed = urlparse(url) if isinstance(url, str) else None
    if (
        parsed is None
        or not isinstance(url, str)
        or parsed.scheme not in ("http", "https")
        or not parsed.netloc
    ):
        raise ActionConfigError(f"{path}.url: expected an http(s) URL, got {url!r}")
    if has_template(str(url)):
        raise ActionConfigError(f"{path}.url: fixed, not a template (template the body or headers)")
    method = str(spec.get("method", "POST")).upper()
    if method not in METHODS:
        raise ActionConfigError(f"{path}.method: expected one of {', '.join(METHODS)}")
    body = spec.get("body")
    _walk(body, f"{path}.body")
    return HttpStep(url, method, _strings(spec.get("headers", {}), f"{path}.headers"), body)


def _walk(value: Any, path: str) -> None:
    if isinstance(value, str):
        _template(value, path)
    elif isinstance(value, dict):
        for key, item in value.items():
            _walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _walk(item, f"{path}[{i}]")
    elif value is not None and not isinstance(value, int | float | bool):
        raise ActionConfigError(f"{path}: expected JSON (text, numbers, lists, mappings)")


def _template(text: str, path: str) -> None:
    try:
        check(text)
    except RenderError as exc:
        raise ActionConfigError(f"{path}: invalid template: {exc}") from None


def _strings(value: Any, path: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ActionConfigError(f"{path}: expected a mapping of names to text")
    for key, text in value.items():
        _template(text, f"{path}.{key}")
    return {str(k): v for k, v in value.items()}


def _mapping(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ActionConfigError(f"{path}: expected a mapping")
    return value


def _names(value: Any, path: str, known: tuple[str, ...] | None) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ActionConfigError(f"{path}: expected a list of names")
    if known is not None:
        for name in value:
            if name not in known:
                raise ActionConfigError(f"{path}: {name!r} is not one of {', '.join(known)}")
    return tuple(value)


def _duration(value: Any, path: str) -> int:
    from app.config.durations import duration_ms  # here: app.config imports this module

    try:
        return duration_ms(value)
    except ValueError as exc:
        raise ActionConfigError(f"{path}: {exc}") from None


def _seconds(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ActionConfigError(f"{path}: expected a number of seconds > 0, got {value!r}")
    return float(value)


def _flag(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise ActionConfigError(f"{path}: expected true or false")
    return value


def _limit(value: Any, path: str) -> tuple[int, int] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"runs", "per"}:
        raise ActionConfigError(f"{path}: expected {{runs: <n>, per: <duration>}}")
    runs = value["runs"]
    if not isinstance(runs, int) or isinstance(runs, bool) or runs < 1:
        raise ActionConfigError(f"{path}.runs: expected a whole number ≥ 1")
    return runs, _duration(value["per"], f"{path}.per")
