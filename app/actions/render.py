"""Templates of action parameters: Jinja2 in its sandbox, strict about undefined names.

A template sees ``incident`` (the notification: ``incident_id``, ``title``, ``severity``,
``status``, ``alert_ids``, …), ``labels`` (the labels routing saw) and ``run`` (``id``,
``receiver``, ``phase``). The sandbox refuses unsafe attribute access and caps ``range``; an
undefined name is an error, so a run never starts with a parameter silently left empty.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment

MAX_RENDERED = 4096  # characters per rendered value

_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


class RenderError(ValueError):
    """A template does not compile, or does not render with the incident at hand."""


def check(text: str) -> None:
    """Raise :class:`RenderError` when ``text`` is not a valid template.

    >>> check("{{ labels.host }}")
    >>> check("{{ labels.host ")
    Traceback (most recent call last):
    ...
    app.actions.render.RenderError: unexpected end of template, expected 'end of print statement'.
    """
    try:
        _compiled(text)
    except TemplateError as exc:
        raise RenderError(str(exc)) from None


def render(value: Any, context: Mapping[str, Any]) -> Any:
    """``value`` with every string in it rendered (dicts and lists recursively).

    >>> render({"args": ["{{ labels.host }}", 3]}, {"labels": {"host": "web-1"}})
    {'args': ['web-1', 3]}
    >>> render("{{ labels.nope }}", {"labels": {}})
    Traceback (most recent call last):
    ...
    app.actions.render.RenderError: 'dict object' has no attribute 'nope'
    >>> render("{{ ''.__class__.__mro__ }}", {})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    app.actions.render.RenderError: access to attribute '__class__' of 'str' object is unsafe.
    """
    if isinstance(value, str):
        try:
            text = _compiled(value).render(context)
        except TemplateError as exc:
            raise RenderError(str(exc)) from None
        if len(text) > MAX_RENDERED:
            raise RenderError(f"a rendered value is longer than {MAX_RENDERED} characters")
        return text
    if isinstance(value, dict):
        return {key: render(item, context) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [render(item, context) for item in value]
    return value


def has_template(text: str) -> bool:
    """Whether ``text`` holds template syntax.

    >>> has_template("/usr/bin/x"), has_template("{{ x }}"), has_template("{% if x %}")
    (False, True, True)
    """
    return any(mark in text for mark in ("{{", "{%", "{#"))


@lru_cache(maxsize=1024)
def _compiled(text: str) -> Template:
    return _ENV.from_string(text)
