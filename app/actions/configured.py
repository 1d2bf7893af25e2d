"""The action receivers of a configuration snapshot, and the checks the worker makes on them
before it runs any (programs it may run, approvers that exist)."""

from __future__ import annotations

from app.actions.sink import ActionSink
from app.actions.spec import ActionSpec, allowed
from app.config import Config
from app.settings import SettingsError


def action_specs(config: Config) -> dict[str, ActionSpec]:
    """The configured action receivers by name."""
    found = {}
    for name, receiver in config.receivers.items():
        if isinstance(receiver.sink, ActionSink):
            found[name] = receiver.sink.spec
    return found


def approver_sinks(config: Config, approver: str) -> tuple[str, ...]:
    """The sinks a receiver of the file stands for (an Alertmanager receiver may have several)."""
    return tuple(config.receiver_sinks.get(approver, ()))


def check_actions(config: Config, allow: tuple[str, ...]) -> None:
    """Refuse actions whose programs may not run or whose approvers do not exist."""
    specs = action_specs(config)
    for name, spec in specs.items():
        for program in spec.programs:
            if (why := allowed(program, allow)) is not None:
                raise SettingsError(f"receivers.{name}.command: {why}")
        for approver in spec.approvers:
            if not approver_sinks(config, approver) or approver in specs:
                raise SettingsError(
                    f"receivers.{name}.approvers: {approver!r} is not a notification receiver"
                )
