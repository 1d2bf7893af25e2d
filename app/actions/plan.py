"""A run's plan: the action's steps rendered for one incident, exactly what will execute.

The plan is rendered once, when the run is requested, and stored with the run: what a person
approves is what runs, whatever the configuration says later. Steps are plain JSON::

    {"kind": "command", "argv": ["/usr/bin/x", "web-1"], "env": {"REGION": "eu"}}
    {"kind": "http", "method": "POST", "url": "https://…", "headers": {}, "body": {...}}
"""

from __future__ import annotations

import shlex  # quoting for a person to read; nothing is ever run through a shell
from collections.abc import Mapping
from typing import Any

from app.actions.render import render
from app.actions.spec import ActionSpec, CommandStep, Step


def plan_of(spec: ActionSpec, context: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The rendered action and rollback steps (:class:`~app.actions.render.RenderError` if a
    template does not render with ``context``).

    >>> from app.actions.spec import parse_action
    >>> spec = parse_action("r", {"command": ["/usr/bin/touch", "/tmp/{{ labels.host }}"],
    ...     "rollback": [{"http": {"url": "https://x/undo", "body": {"id": "{{ run.id }}"}}}]})
    >>> plan = plan_of(spec, {"labels": {"host": "web-1"}, "run": {"id": "r1"}})
    >>> plan["action"][0]["argv"], plan["rollback"][0]["body"]
    (['/usr/bin/touch', '/tmp/web-1'], {'id': 'r1'})
    """
    return {
        "action": [_rendered(spec.action, context)],
        "rollback": [_rendered(step, context) for step in spec.rollback],
    }


def describe(step: Mapping[str, Any]) -> str:
    """One step in words.

    >>> describe({"kind": "command", "argv": ["/usr/bin/touch", "/tmp/a b"], "env": {}})
    "run /usr/bin/touch '/tmp/a b'"
    >>> describe({"kind": "http", "method": "POST", "url": "https://x/run"})
    'POST https://x/run'
    """
    if step["kind"] == "command":
        return "run " + " ".join(shlex.quote(arg) for arg in step["argv"])
    return f"{step['method']} {step['url']}"


def _rendered(step: Step, context: Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(step, CommandStep):
        return {
            "kind": "command",
            "argv": [step.argv[0], *render(list(step.argv[1:]), context)],
            "env": render(dict(step.env), context),
        }
    return {
        "kind": "http",
        "method": step.method,
        "url": step.url,
        "headers": render(dict(step.headers), context),
        "body": render(step.body, context),
    }
