"""The ``type: action`` receiver in the configuration file: its model for :mod:`app.config`.

The model lists the settings with what a person writes; :func:`~app.actions.spec.parse_action`
checks what they mean (absolute programs, templates that compile, approvers when approval is
required, …), so a mistake is reported with the receiver's path like any other.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, Field, StrictBool, model_validator

from app.actions.spec import CHANGES, SETTINGS, parse_action

_TEXT_OR_NUMBER = str | int | float


def action_model(base: type[BaseModel], name_pattern: str) -> type[BaseModel]:
    """The model of ``type: action`` on ``base`` (the delivery options every receiver has)."""

    class ActionReceiver(base):  # type: ignore[valid-type,misc]
        name: Annotated[str, Field(pattern=name_pattern)]
        type: Literal["action"]
        command: list[str] | None = Field(
            None, description="argv: a fixed absolute program, then templates"
        )
        http: dict[str, Any] | None = Field(None, description="{url, method, headers, body}")
        env: dict[str, str] | None = Field(
            None, description="the command's environment (templates)"
        )
        on: list[Literal[CHANGES]] | None = Field(None, description="changes that start a run")  # type: ignore[valid-type]
        mode: Literal["dry_run", "run"] | None = Field(None, description="default dry_run")
        approval: Literal["none", "required"] | None = None
        approvers: list[str] | None = Field(None, description="receivers asked to approve")
        approval_timeout: _TEXT_OR_NUMBER | None = Field(None, description="default 1h")
        step_timeout: _TEXT_OR_NUMBER | None = Field(None, description="seconds, default 60")
        idempotent: StrictBool | None = None
        limit: dict[str, Any] | None = Field(None, description="{runs, per}: per route")
        rollback: list[dict[str, Any]] | None = Field(
            None, description="steps: {command} or {http}"
        )

        @model_validator(mode="after")
        def _means_something(self) -> Self:
            given = {k: v for k, v in self if k in SETTINGS and v is not None}
            parse_action("", given)
            return self

    return ActionReceiver
