"""One configuration snapshot, loaded and reloaded in one place.

:func:`load_config` reads ``ALERTFLOW_CONFIG`` (alertflow's YAML) and/or
``ALERTFLOW_ALERTMANAGER_CONFIG`` (an ``alertmanager.yml``, unchanged), validates everything,
and returns a frozen :class:`Config` whose ``version`` is a short hash of the files' content.
Every error is collected with its path and raised together (:class:`ConfigError`); what is
accepted but not honoured is listed in ``warnings``. Both files may be given: one holds the
routing tree, receivers and rules of either are merged (a name defined twice is an error).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from app.config.build import TreeBuilder, escalation_policies, inhibit_rules
from app.config.dedup import POLICIES, RESOLVE_TIMEOUT_MS, DedupPolicy, dedup_policies
from app.config.problems import ConfigError, Problems
from app.config.receivers import AlertmanagerReceiver
from app.config.routes import DEFAULT_ROUTE, Route, match
from app.config.sinks import BUILDERS, VARIABLE, build_receivers, environ_of, expand
from app.config.spec import FileSpec, GlobalSpec, HeartbeatSpec, NotifySpec
from app.config.time_intervals import TimeInterval, active_any, from_ms
from app.config.validate import validated
from app.heartbeats import Heartbeat
from app.notify.escalation import EscalationPolicy
from app.notify.muting import InhibitRule
from app.settings import Settings, SettingsError, is_setting, load_settings
from app.sinks.base import Receiver

log = logging.getLogger(__name__)
FILES = ("ALERTFLOW_CONFIG", "ALERTFLOW_ALERTMANAGER_CONFIG")
# global: keys of integrations alertflow has no sink for
UNUSED_GLOBALS = (
    *("opsgenie_api_url", "opsgenie_api_key", "opsgenie_api_key_file", "victorops_api_url"),
    *("victorops_api_key", "victorops_api_key_file", "wechat_api_url", "wechat_api_secret"),
    *("wechat_api_corp_id", "telegram_api_url", "webex_api_url"),
)


@dataclass(frozen=True)
class NotifyOptions:
    """The ``notify:`` section."""

    tick_interval_ms: int = 10_000  # 0: no ticks
    resend_after_ms: int = 120_000
    max_in_flight: int = 4
    reload_interval_ms: int = 5_000


@dataclass(frozen=True)
class Config:
    """Everything the stages decide with, as of one version of the files."""

    version: str = "defaults"
    route: Route = DEFAULT_ROUTE
    receivers: Mapping[str, Receiver] = field(default_factory=dict)  # sink name → sink
    receiver_sinks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # file's names
    inhibit_rules: tuple[InhibitRule, ...] = ()
    escalations: Mapping[str, EscalationPolicy] = field(default_factory=dict)
    time_intervals: Mapping[str, tuple[TimeInterval, ...]] = field(default_factory=dict)
    dedup: Mapping[str, DedupPolicy] = field(default_factory=lambda: dict(POLICIES))
    options: NotifyOptions = NotifyOptions()
    resolve_timeout_ms: int = RESOLVE_TIMEOUT_MS  # global.resolve_timeout
    heartbeats: Mapping[str, Heartbeat] = field(default_factory=dict)  # name → heartbeat
    warnings: tuple[str, ...] = ()
    files: tuple[str, ...] = ()


def route_for(config: Config, labels: Mapping[str, str]) -> list[Route]:
    """The routes an alert with ``labels`` takes: Alertmanager's tree walk (first match,
    ``continue``)."""
    return match(config.route, labels)


def time_muted(config: Config, route: Route, at_ms: int) -> str | None:
    """Why ``route``'s notifications are held back at event time ``at_ms``, or ``None``.

    Alertmanager's ``mute_time_intervals`` (muted while any is active) and
    ``active_time_intervals`` (muted while none is).

    >>> from app.config.time_intervals import TimeInterval, active_any, from_ms
    >>> weekend = (TimeInterval.model_validate({"weekdays": ["saturday", "sunday"]}),)
    >>> config = Config(time_intervals={"weekend": weekend})
    >>> saturday, monday = 1_767_398_400_000, 1_767_571_200_000  # 2026-01-03 and -05, UTC
    >>> time_muted(config, Route(mute_time_intervals=("weekend",)), saturday)
    'muted by time interval weekend'
    >>> time_muted(config, Route(mute_time_intervals=("weekend",)), monday) is None
    True
    >>> time_muted(config, Route(active_time_intervals=("weekend",)), monday)
    'outside its active time intervals: weekend'
    """
    when = from_ms(at_ms)
    for name in route.mute_time_intervals:
        if active_any(config.time_intervals.get(name, ()), when):
            return f"muted by time interval {name}"
    active = route.active_time_intervals
    if active and not any(active_any(config.time_intervals.get(n, ()), when) for n in active):
        return f"outside its active time intervals: {', '.join(active)}"
    return None


def load_config(
    environ: Mapping[str, str] | None = None, settings: Settings | None = None
) -> Config:
    """The snapshot of the files the environment names; :class:`ConfigError` lists all errors.

    >>> load_config({}).version, load_config({}).route.name
    ('defaults', 'root')
    """
    config, problems = _load(environ_of(environ), settings)
    problems.raise_if_any()
    assert config is not None
    return config


def check(environ: Mapping[str, str] | None = None) -> tuple[Config | None, Problems]:
    """The snapshot (``None`` when invalid) and every error and warning, for ``check-config``."""
    return _load(environ_of(environ), None)


def from_document(
    document: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    settings: Settings | None = None,
) -> Config:
    """The snapshot of one parsed file (as ``ALERTFLOW_CONFIG``); raise on errors.

    >>> c = from_document({"receivers": [{"name": "ops", "type": "webhook", "url": "http://h/x"}],
    ...     "routes": {"routes": [{"matchers": ['team="db"'], "group_by": ["cluster"]}]}})
    >>> [r.receivers for r in route_for(c, {"team": "db"})], c.route.routes[0].group_by
    ([('ops',)], ('cluster',))
    """
    problems = Problems()
    env = environ_of(environ)
    found = _documents(
        [("ALERTFLOW_CONFIG", "", dict(document))], env, settings or Settings(), problems
    )
    problems.raise_if_any()
    assert found is not None
    return found


def _load(environ: Mapping[str, str], settings: Settings | None) -> tuple[Config | None, Problems]:
    problems = Problems()
    if settings is None:
        try:
            settings = load_settings(environ)
        except SettingsError as exc:
            if "unknown setting" not in str(exc):  # unknown keys: reported below, all of them
                problems.error("", str(exc))
            settings = Settings()
    files = [(variable, Path(environ[variable])) for variable in FILES if environ.get(variable)]
    digest = hashlib.sha256()
    documents = []
    for variable, path in files:
        document = _read(variable, path, environ, problems, digest)
        if document is not None:
            documents.append((variable, f"{path}: " if len(files) > 1 else "", document))
    if len(documents) < len(files):
        return None, problems
    config = _documents(documents, environ, settings, problems)
    if config is None:
        return None, problems
    version = digest.hexdigest()[:12] if files else "defaults"
    return replace(config, version=version, files=tuple(str(p) for _, p in files)), problems


def _documents(
    documents: list[tuple[str, str, dict[str, Any]]],
    environ: Mapping[str, str],
    settings: Settings,
    problems: Problems,
) -> Config | None:
    """Validate and assemble the parsed files; ``None`` when anything is wrong."""
    specs: list[tuple[str, str, FileSpec]] = []
    for variable, prefix, document in documents:
        _extra_keys(document, variable, prefix, problems)
        if isinstance(document.get("receivers"), list):
            document["receivers"] = expand(document["receivers"], "receivers", environ, problems)
        spec = validated(document, prefix, problems)
        if spec is not None:
            specs.append((variable, prefix, spec))
    if len(specs) < len(documents):
        return None
    config = _assemble(specs, settings, problems)
    return None if problems.errors else config


def _read(
    variable: str, path: Path, environ: Mapping[str, str], problems: Problems, digest: Any
) -> dict[str, Any] | None:
    try:
        text = path.read_bytes()
    except OSError as exc:
        problems.error(variable, f"cannot read {path}: {exc.strerror}")
        return None
    digest.update(text)
    for name in sorted(set(VARIABLE.findall(text.decode("utf-8", "replace")))):
        digest.update(f"{name}={environ.get(name)}".encode())  # a new secret is a new version
    try:
        document = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        problems.error(variable, f"{path} is not valid YAML: {exc}")
        return None
    if not isinstance(document, dict):
        problems.error(variable, f"{path} must hold a mapping")
        return None
    return document


def _extra_keys(document: dict[str, Any], variable: str, prefix: str, problems: Problems) -> None:
    """Settings in alertflow's file are :mod:`app.settings`'; elsewhere unknown keys are errors."""
    for key in list(document):
        if str(key) in FileSpec.model_fields or str(key) == "global":
            continue
        if is_setting(str(key)):
            if variable != "ALERTFLOW_CONFIG":
                problems.warn(f"{prefix}{key}", "settings are read from ALERTFLOW_CONFIG only")
            del document[key]
        else:
            problems.error(f"{prefix}{key}", "unknown key")
            del document[key]


def _assemble(
    specs: list[tuple[str, str, FileSpec]], settings: Settings, problems: Problems
) -> Config:
    def each(section: str) -> list[tuple[str, Any]]:
        return [
            (f"{prefix}{section}[{i}]", item)
            for _, prefix, spec in specs
            for i, item in enumerate(getattr(spec, section))
        ]

    def once(section: str) -> tuple[str, Any] | None:
        given = [(p, getattr(s, section)) for _, p, s in specs if getattr(s, section) is not None]
        if len(given) > 1:
            problems.error(f"{given[1][0]}{section}", "given in both files")
        return given[0] if given else None

    global_ = (once("global_") or ("", GlobalSpec()))[1]
    _global_warnings(global_, problems)
    receivers = build_receivers(each("receivers"), settings, global_, problems)
    intervals: dict[str, tuple[TimeInterval, ...]] = {}
    for path, named in each("time_intervals") + each("mute_time_intervals"):
        if named.name in intervals:
            problems.error(f"{path}.name", f"time interval {named.name!r} is defined twice")
        intervals[named.name] = named.time_intervals
    escalations = escalation_policies(each("escalation_policies"), receivers.names, problems)
    tree = once("route")
    alertmanager = tree is not None
    tree = tree or once("routes")
    builder = TreeBuilder(
        receivers.names, escalations, intervals, problems, alertmanager=alertmanager
    )
    root_path = (tree[0] if tree else "") + ("route" if alertmanager else "routes")
    route = builder.root(tree[1] if tree else None, root_path)
    _template_warning([t for _, p, s in specs for t in s.templates], each("receivers"), problems)
    notify = (once("notify") or ("", NotifySpec()))[1]
    dedup = once("dedup")
    resolve_timeout_ms = global_.resolve_timeout or RESOLVE_TIMEOUT_MS
    return Config(
        route=route,
        receivers=dict(receivers.sinks),
        receiver_sinks=dict(receivers.names),
        inhibit_rules=inhibit_rules(each("inhibit_rules")),
        escalations=escalations,
        time_intervals=intervals,
        dedup=dedup_policies(dedup[1] if dedup else None, resolve_timeout_ms),
        options=_options(notify),
        resolve_timeout_ms=resolve_timeout_ms,
        heartbeats=_heartbeats(each("heartbeats"), problems),
        warnings=tuple(problems.warnings),
    )


def _heartbeats(specs: list[tuple[str, HeartbeatSpec]], problems: Problems) -> dict[str, Heartbeat]:
    """The heartbeats by name, in file order; a name given twice is an error."""
    found: dict[str, Heartbeat] = {}
    for path, spec in specs:
        if spec.name in found:
            problems.error(f"{path}.name", f"heartbeat {spec.name!r} is defined twice")
            continue
        found[spec.name] = Heartbeat(
            name=spec.name,
            interval_ms=spec.interval,
            grace_ms=spec.interval if spec.grace is None else spec.grace,
            matchers=tuple(m for one in spec.matchers for m in one),
            labels=dict(spec.labels),
            annotations=dict(spec.annotations),
            tenant=spec.tenant,
        )
    return found


def _options(spec: NotifySpec) -> NotifyOptions:
    values = {
        f"{key}_ms": getattr(spec, key)
        for key in ("tick_interval", "resend_after", "reload_interval")
        if getattr(spec, key) is not None
    }
    if spec.max_in_flight is not None:
        values["max_in_flight"] = spec.max_in_flight
    return NotifyOptions(**values)


def _global_warnings(spec: GlobalSpec, problems: Problems) -> None:
    for key in sorted(spec.model_extra or {}):
        if key in UNUSED_GLOBALS:
            problems.warn(f"global.{key}", "alertflow has no receiver that uses it")
        else:
            problems.error(f"global.{key}", "unknown key")
    if spec.http_config is not None:
        problems.warn(
            "global.http_config", "not honoured: alertflow's sinks use their own HTTP client"
        )
    if spec.resolve_timeout is not None:
        problems.warn(
            "global.resolve_timeout",
            "the resolve timeout of alerts posted to /api/v1/alerts and /api/v2/alerts (dedup's"
            " api policy, unless dedup.api.resolve_timeout says otherwise); Alertmanager's"
            " webhook alerts carry their own end time",
        )


def _template_warning(
    templates: list[str], receivers: list[tuple[str, Any]], problems: Problems
) -> None:
    if not templates:
        return
    plain = [
        spec.name
        for _, spec in receivers
        if isinstance(spec, AlertmanagerReceiver)
        and spec.title is None
        and spec.body is None
        and any(getattr(spec, key) for key in BUILDERS)
    ]
    problems.warn(
        "templates",
        f"Go templates cannot run in alertflow: {', '.join(templates)} not read; receivers"
        f" {', '.join(plain) or '(none)'} send alertflow's default messages (give a receiver"
        " title/body Jinja2 templates to change its message)",
    )


class Reloader:
    """Holds the current snapshot; :meth:`maybe_reload` swaps in a new one when a file changed.

    A file that does not validate keeps the last good snapshot and logs every error.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = environ_of(environ)
        self._mtimes = self._stat()
        self.current = load_config(self.environ)

    def maybe_reload(self, *, force: bool = False) -> bool:
        """Reload when a file's mtime changed (or ``force``); keep the last good on errors."""
        mtimes = self._stat()
        if not force and mtimes == self._mtimes:
            return False
        self._mtimes = mtimes
        try:
            config = load_config(self.environ)
        except ConfigError as exc:
            log.error("config reload failed, keeping version %s: %s", self.current.version, exc)
            return False
        except Exception as exc:  # whatever is wrong with the files, the worker keeps going
            log.error("config reload failed, keeping version %s: %s", self.current.version, exc)
            return False
        self.current = config
        log.info("configuration version %s loaded from %s", config.version, config.files)
        return True

    def _stat(self) -> tuple[float | None, ...]:
        found: list[float | None] = []
        for variable in FILES:
            try:
                value = self.environ.get(variable)
                found.append(Path(value).stat().st_mtime if value else None)
            except OSError:
                found.append(None)
        return tuple(found)
