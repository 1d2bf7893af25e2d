"""The ``alertflow`` command: run, worker, broker, templates, tail, eval, check-config.

Each command's ``--help`` lists the settings it reads (from :mod:`app.settings`). Exit codes:
0 done, 1 failed (broker unreachable, unknown topic, invalid file), 2 a setting or a port is
wrong and the message says which variable to change.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import os
import secrets
import signal
import sys
import tempfile
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any, NoReturn

import click
import yaml

from app import logs
from app.access import ROLES, digest, load_tokens
from app.settings import Settings, SettingsError, load_settings, read_by

CACHE_DIR = Path(
    os.environ.get("ALERTFLOW_CACHE_DIR", Path(__file__).resolve().parents[1] / ".cache")
)


class _Command(click.Command):
    """A command whose help ends with the settings it reads and their defaults."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        specs = read_by(self.name or "")
        if specs:
            with formatter.section("Settings (environment, or the file named by ALERTFLOW_CONFIG)"):
                rows = [(s.variable, f"{s.meaning} [default: {s.default}]") for s in specs]
                formatter.write_dl(rows)
        super().format_epilog(ctx, formatter)


class _Group(click.Group):
    command_class = _Command


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"alertflow: {message}", err=True)
    raise SystemExit(code)


def _settings() -> Settings:
    """The validated settings, or one line per problem and exit 2."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        for problem in exc.problems:
            click.echo(f"alertflow: configuration error: {problem}", err=True)
        raise SystemExit(2) from None
    logs.configure(settings.log_format, settings.log_level)
    return settings


def _settings_with_data_dir() -> Settings:
    """:func:`_settings`, and ``ALERTFLOW_DATA_DIR`` writable (else exit 2 naming it)."""
    settings = _settings()
    if problem := unwritable(settings.data_dir):
        _fail(f"configuration error: ALERTFLOW_DATA_DIR: {problem}", 2)
    return settings


def unwritable(data_dir: Path) -> str | None:
    """Why ``data_dir`` cannot be created or written to, or ``None`` (it is created).

    >>> unwritable(Path("/proc/no-such-dir"))  # doctest: +ELLIPSIS
    'cannot write to /proc/no-such-dir: ...'
    """
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=data_dir):
            return None
    except OSError as exc:
        return f"cannot write to {data_dir}: {exc.strerror or exc}"


_HELP = {"help_option_names": ["-h", "--help"], "max_content_width": 100, "terminal_width": 100}


@click.group(cls=_Group, context_settings=_HELP)
@click.version_option(version("alertflow"), prog_name="alertflow")
def cli() -> None:
    """alertflow: alerts in over HTTP, through Kafka and Faust, few right notifications out."""


@cli.command()
def run() -> None:
    """The embedded broker (unless KAFKA_BOOTSTRAP is set), one worker and its HTTP API."""
    settings = _settings_with_data_dir()
    if settings.kafka_bootstrap:
        raise SystemExit(_worker(settings))
    from app.broker import PortInUse, embedded_broker
    from app.kafka_admin import BrokerError

    try:
        with embedded_broker(settings.data_dir / "kafka", CACHE_DIR, settings.kafka_port) as kafka:
            kafka.start()
            raise SystemExit(_worker(settings))
    except PortInUse as exc:
        _port_in_use(exc, "ALERTFLOW_KAFKA_PORT", " (or KAFKA_BOOTSTRAP to use a running broker)")
    except BrokerError as exc:
        _fail(str(exc), 1)


@cli.command()
def worker() -> None:
    """One Faust worker with the HTTP API; creates missing topics first."""
    raise SystemExit(_worker(_settings_with_data_dir()))


@cli.command()
def broker() -> None:
    """The embedded Kafka broker, with every topic created; Ctrl-C stops it."""
    settings = _settings_with_data_dir()
    from app.broker import PortInUse, embedded_broker
    from app.kafka_admin import BrokerError

    try:
        with embedded_broker(settings.data_dir / "kafka", CACHE_DIR, settings.kafka_port) as kafka:
            bootstrap = kafka.start()
            _create_topics(bootstrap)
            print(f"Kafka is up at {bootstrap}; Ctrl-C stops it.", flush=True)
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
            with contextlib.suppress(KeyboardInterrupt):
                signal.pause()
    except PortInUse as exc:
        _port_in_use(exc, "ALERTFLOW_KAFKA_PORT")
    except BrokerError as exc:
        _fail(str(exc), 1)


@cli.command()
def templates() -> None:
    """Stdin lines → "<template_id> TAB <template>" lines (the fingerprint miner)."""
    _settings()
    from app.templates.miner import TemplateMiner

    miner = TemplateMiner()
    for line in sys.stdin:
        template = miner.match(line.rstrip("\n"))
        sys.stdout.write(f"{template.id}\t{template.text}\n")
        sys.stdout.flush()


@cli.command()
@click.option("--topic", default="alerts.enriched", show_default=True)
@click.option("--from-beginning", is_flag=True, help="start at the oldest record")
def tail(topic: str, from_beginning: bool) -> None:
    """Follow a topic, one JSON record per line, until Ctrl-C."""
    from app.tail import tail_topic

    raise SystemExit(tail_topic(_settings(), topic, from_beginning=from_beginning))


@cli.command("eval")
@click.option("--seed", type=int, default=1, show_default=True, help="of the simulated stream")
@click.option("--days", type=float, default=7.0, show_default=True, help="of the stream")
@click.option("--tenants", multiple=True, default=["acme", "globex"], show_default=True)
@click.option("--enriched", type=Path, help="recorded alerts.enriched (JSON lines)")
@click.option("--feedback", type=Path, help="recorded alerts.feedback (JSON lines)")
@click.option("--model", default="logistic", show_default=True, help="logistic|hoeffding|forest")
@click.option("--plot", type=Path, default=Path("learning-curve.png"), show_default=True)
@click.option("--json", "as_json", is_flag=True, help="the figures as one JSON object")
def evaluate(as_json: bool, tenants: tuple[str, ...], **options: Any) -> None:
    """Replay a stream and its feedback through scoring and learning: learning curve."""
    settings = _settings()
    from app.learning.evaluation import run_eval

    args = argparse.Namespace(json=as_json, tenants=list(tenants), **options)
    raise SystemExit(run_eval(args, settings))


@cli.command("check-config")
@click.argument("file", type=Path, required=False)
@click.option(
    "--alertmanager",
    type=Path,
    help="an alertmanager.yml (default: $ALERTFLOW_ALERTMANAGER_CONFIG)",
)
def check_config_command(file: Path | None, alertmanager: Path | None) -> None:
    """Validate the configuration (default: $ALERTFLOW_CONFIG); print every error; exit 0 or 2."""
    raise SystemExit(check_config(file, alertmanager))


@cli.group()
def token() -> None:
    """API tokens for the tokens: list of ALERTFLOW_CONFIG (stored as SHA-256 digests)."""


@token.command("new")
@click.option("--id", "token_id", required=True, help="who holds it (shown in the audit log)")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--tenants", default="*", show_default=True, help="comma-separated, or *")
def token_new(token_id: str, role: str, tenants: str) -> None:
    """A new random token (printed once, to stderr) and its tokens: entry (to stdout)."""
    secret = secrets.token_urlsafe(32)
    scope: Any = "*" if tenants.strip() == "*" else [t.strip() for t in tenants.split(",") if t]
    entry = {"id": token_id, "sha256": digest(secret), "role": role, "tenants": scope}
    click.echo(f"token (give it to {token_id}; it is not stored anywhere): {secret}", err=True)
    click.echo(yaml.safe_dump({"tokens": [entry]}, sort_keys=False), nl=False)


@token.command("hash")
def token_hash() -> None:
    """The SHA-256 of each token read from stdin, one per line."""
    for line in sys.stdin:
        if line.strip():
            click.echo(digest(line.strip()))


def insecure_bind(settings: Settings, open_api: bool) -> str | None:
    """Why the worker must not listen where it is told to, or ``None``.

    >>> insecure_bind(Settings(http_bind="0.0.0.0"), open_api=True)[:40]
    'ALERTFLOW_HTTP_BIND: 0.0.0.0 is not loop'
    >>> insecure_bind(Settings(http_bind="0.0.0.0", insecure=True), open_api=True) is None
    True
    """
    if not open_api or settings.insecure or _loopback(settings.http_bind):
        return None
    return (
        f"ALERTFLOW_HTTP_BIND: {settings.http_bind} is not loopback and no token is set: anyone "
        "who reaches it could read and act on every tenant. Set ALERTFLOW_API_TOKEN or tokens: "
        "in ALERTFLOW_CONFIG (alertflow token new), or ALERTFLOW_INSECURE=1 to allow it"
    )


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    return int(cli.main(args=argv, prog_name="alertflow", standalone_mode=False) or 0)


def _worker(settings: Settings) -> int:
    """Create the topics if missing, then run one Faust worker until Ctrl-C."""
    from app import broker, kafka_admin

    try:
        tokens = load_tokens(settings.api_token)
    except SettingsError as exc:
        _fail(f"configuration error: {exc}", 2)
    if problem := insecure_bind(settings, tokens.open):
        _fail(f"configuration error: {problem}", 2)
    try:
        kafka_admin.wait_for_broker(settings.bootstrap, timeout=60)
    except kafka_admin.BrokerError as exc:
        _fail(f"{exc} (set KAFKA_BOOTSTRAP, or ALERTFLOW_KAFKA_PORT for the embedded one)", 1)
    try:
        _create_topics(settings.bootstrap)
    except kafka_admin.BrokerError as exc:
        _fail(str(exc), 1)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    import faust

    from app import collector
    from app.faust_app import app, load_modules

    try:
        load_modules()
    except SettingsError as exc:  # the routes: and dedup: sections, read by their modules
        _fail(f"configuration error: {exc}", 2)
    try:  # the tables' changelogs too: one Faust made as it started could miss its first assignment
        _create_topics(settings.bootstrap, with_changelogs=True)
    except kafka_admin.BrokerError as exc:
        _fail(str(exc), 1)
    if not broker.port_free(settings.http_port, app.conf.web_bind):
        _port_in_use(broker.PortInUse(app.conf.web_bind, settings.http_port), "ALERTFLOW_HTTP_PORT")
    collector.tune()
    try:
        runner = faust.Worker(
            app,
            loglevel=settings.log_level,
            logging_config=logs.logging_config(settings.log_format, settings.log_level),
            quiet=settings.log_format == "json",  # no banner, no "-INT-": every line is JSON
        )
        # From warning up Faust's terminal spinner sets the root logger to DEBUG, so every
        # debug record of Faust and aiokafka (one per message sent) is built, then dropped.
        runner.spinner = None
        runner.execute_from_commandline()
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0


def _port_in_use(exc: Any, variable: str, alternative: str = "") -> NoReturn:
    _fail(f"{exc}: set {variable} to a free port{alternative}", 2)


def check_config(path: Path | None, alertmanager: Path | None = None) -> int:
    """Validate every file the worker would read; print all errors and warnings.

    Exit 0 when valid (warnings say what is accepted but not honoured), 2 on errors, 1 when
    there is nothing to check.
    """
    from app.config import check
    from app.config.routes import count

    env = dict(os.environ)
    if path is not None:
        env["ALERTFLOW_CONFIG"] = str(path)
    if alertmanager is not None:
        env["ALERTFLOW_ALERTMANAGER_CONFIG"] = str(alertmanager)
    if not env.get("ALERTFLOW_CONFIG") and not env.get("ALERTFLOW_ALERTMANAGER_CONFIG"):
        print(
            "alertflow check-config: name a file, or set ALERTFLOW_CONFIG or"
            " ALERTFLOW_ALERTMANAGER_CONFIG",
            file=sys.stderr,
        )
        return 1
    config, problems = check(env)
    for warning in problems.warnings:
        print(f"warning: {warning}")
    for error in problems.errors:
        print(f"error: {error}", file=sys.stderr)
    if config is None:
        print(f"alertflow check-config: {len(problems.errors)} error(s)", file=sys.stderr)
        return 2
    print(
        f"OK: version {config.version}; {count(config.route)} route(s); receivers:"
        f" {', '.join(config.receiver_sinks) or 'none'}; {len(config.inhibit_rules)} inhibit"
        f" rule(s); {len(config.escalations)} escalation policy(ies); {len(config.time_intervals)}"
        f" time interval(s); {len(problems.warnings)} warning(s)"
    )
    return 0


def _create_topics(bootstrap: str, *, with_changelogs: bool = False) -> None:
    """Create the missing topics; BrokerError, naming the partition setting, when one does not
    fit."""
    from app.kafka_admin import BrokerError, ensure_topics
    from app.topics import PARTITIONS, keyed_state, partition_counts, topic_configs

    counts, configs, exact = partition_counts(), topic_configs(), keyed_state()
    if with_changelogs:
        from app.runtime.state import changelogs

        logs = changelogs()
        counts |= logs
        configs |= {name: {"cleanup.policy": "compact"} for name in logs}
        exact += tuple(logs)
    try:
        ensure_topics(bootstrap, counts, config=configs, exact=exact)
    except BrokerError as exc:
        raise BrokerError(f"{exc} (ALERTFLOW_PARTITIONS is {PARTITIONS})") from exc


if __name__ == "__main__":
    raise SystemExit(main())
