"""Receivers' ``title`` and ``body`` templates: Jinja2 in a sandbox, over the notification.

A template sees the notification's fields (``incident_id``, ``tenant``, ``status``, ``title``,
``severity``, ``score``, ``alert_ids``, ``alert_count``, ``first_seen``, ``last_seen``,
``reasons``, ``url``, ``change``, ``added_alert_ids``, ``resolved_alert_ids``, …); a field that
is missing renders empty. The sandbox refuses access to Python internals; a template that
fails while rendering falls back to the default message, so a notification always goes out.
Without templates, messages are alertflow's defaults (:mod:`app.sinks.message`)::

    receivers:
      - name: ops
        type: slack
        url: ${SLACK_WEBHOOK_URL}
        title: "[{{ severity | upper }}] {{ title }} ({{ alert_count }})"
        body: "{% for r in reasons %}- {{ r }}\\n{% endfor %}"
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

log = logging.getLogger(__name__)
MAX_LENGTH = 10_000  # characters a rendered template keeps


class TemplateError(ValueError):
    """A template does not compile; the message says where."""


@cache
def _environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(
        undefined=jinja2.ChainableUndefined, autoescape=False, keep_trailing_newline=False
    )


def compile_template(source: str) -> jinja2.Template:
    """The compiled template, or :class:`TemplateError` naming the line at fault.

    >>> compile_template("{{ title | upper }}").render(title="disk full")
    'DISK FULL'
    >>> compile_template("{{ title ")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    app.sinks.templates.TemplateError: line 1: unexpected end of template, ...
    """
    try:
        return _environment().from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"line {exc.lineno}: {exc.message}") from None


@dataclass(frozen=True)
class MessageTemplates:
    """A receiver's templates; ``None`` keeps alertflow's default for that part."""

    title: str | None = None
    body: str | None = None

    def apply(self, notification: dict[str, Any]) -> dict[str, Any]:
        """The notification with ``title`` and ``body`` rendered where a template is set.

        >>> t = MessageTemplates(title="{{ severity }}: {{ title }}", body="{{ nope.x }}!")
        >>> n = t.apply({"title": "Disk full", "severity": "critical"})
        >>> n["title"], n["body"]
        ('critical: Disk full', '!')
        >>> MessageTemplates(title="{{ ''.__class__ }}").apply({"title": "x"})["title"]  # hidden
        ''
        >>> MessageTemplates(title="{{ range(10**9) | list }}").apply({"title": "x"})["title"]
        'x'
        """
        rendered = dict(notification)
        for part in ("title", "body"):
            source = getattr(self, part)
            if source is None:
                continue
            try:
                text = compile_template(source).render(**notification)
            except Exception as exc:  # whatever a template does, the notification goes out
                log.warning("%s template failed, default kept: %s", part, exc)
                continue
            rendered[part] = text[:MAX_LENGTH]
        return rendered
